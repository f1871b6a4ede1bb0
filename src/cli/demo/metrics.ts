/**
 * Idem's own counters, scraped from `/metrics`. They live in the process: the demo keeps what
 * a killed instance had counted and adds it to what the restarted one counts.
 */

export interface DemoMetrics {
  gate: Record<string, number>;
  recoveries: Record<string, number>;
}

export async function readMetrics(url: string, timeoutMs: number): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(idem_gate_events_total|idem_recoveries_total)\{(?:event|result)="([a-z_]+)"\} (\d+)$/gm)) {
    out[`${m[1]}:${m[2]}`] = Number(m[3]);
  }
  return out;
}

export function sumMetrics(snapshots: Array<Record<string, number>>): DemoMetrics {
  const gate: Record<string, number> = {};
  const recoveries: Record<string, number> = {};
  for (const s of snapshots) {
    for (const [k, v] of Object.entries(s)) {
      const [name, label] = k.split(':') as [string, string];
      const into = name === 'idem_gate_events_total' ? gate : recoveries;
      into[label] = (into[label] ?? 0) + v;
    }
  }
  return { gate, recoveries };
}
