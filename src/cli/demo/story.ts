/**
 * One payment worth reading after the demo, told from its own events with the crash marked on
 * its clock.
 */
import type { CheckoutOutcome, Client } from './traffic.js';

export interface Story {
  id: string;
  why: string;
  timeline: string[];
}

/** A payment worth reading: cut by the crash, with an answer lost at the gateway if possible. */
export async function interestingPayment(
  client: Client,
  outcomes: CheckoutOutcome[],
  crash: { cut: Set<string>; killedAt: number; backAt: number },
): Promise<Story | null> {
  const { cut } = crash;
  const wasCut = (o: CheckoutOutcome) => o.keys.some((k) => cut.has(k));
  const candidates = outcomes
    .filter((o) => o.paymentId !== null && (wasCut(o) || o.sawPending))
    .sort((a, b) => 2 * Number(wasCut(b)) + Number(b.sawPending) - (2 * Number(wasCut(a)) + Number(a.sawPending)))
    .slice(0, 8);
  let best: { o: CheckoutOutcome; events: Array<{ type: string; data: Record<string, unknown>; created_at: string }>; score: number } | null = null;
  for (const o of candidates) {
    const { data: events } = await client.idem.payments.timeline(o.paymentId!, { retry: { maxAttempts: 3 } }).catch(() => ({ data: [] }));
    const types = new Set(events.map((e) => e.type));
    const score = (wasCut(o) ? 3 : 0) + (types.has('attempt.unknown') ? 2 : 0) + (types.has('payment.failover') || types.has('attempt.not_processed') ? 1 : 0);
    if (best === null || score > best.score) best = { o, events, score };
  }
  if (best === null || best.events.length === 0) return null;
  const { o, events } = best;
  const types = new Set(events.map((e) => e.type));
  const why = [
    wasCut(o) ? 'a request of its was in flight when Idem was killed' : null,
    types.has('attempt.unknown') ? 'a gateway answer was lost after processing' : null,
    types.has('payment.failover') ? 'it failed over to another gateway' : null,
  ]
    .filter(Boolean)
    .join('; ');
  const t0 = Date.parse(events[0]!.created_at);
  const at = (ms: number) => `+${((ms - t0) / 1000).toFixed(3)} s`;
  // The crash, on the payment's own clock (Idem and the demo share this machine's clock).
  const marks = [
    { ms: crash.killedAt, text: '── Idem killed (SIGKILL) ──' },
    { ms: crash.backAt, text: '── Idem restarted on the same data folder ──' },
  ].filter((m) => m.ms > t0 && m.ms < Date.parse(events.at(-1)!.created_at));
  const timeline: string[] = [];
  for (const e of events) {
    while (marks.length > 0 && marks[0]!.ms <= Date.parse(e.created_at)) {
      const m = marks.shift()!;
      timeline.push(`${at(m.ms)}  ${m.text}`);
    }
    // Attempt events carry the attempt under `data.attempt` (docs/events.md).
    const d = { ...((e.data.attempt as Record<string, unknown> | undefined) ?? {}), ...e.data };
    const detail =
      e.type === 'attempt.started'
        ? `${String(d.operation)} #${String(d.attempt_no)} at ${String(d.gateway)}`
        : e.type.startsWith('attempt.')
          ? [d.operation, d.gateway, d.reason ?? d.decline_code].filter((x) => x !== undefined).map(String).join(' ')
          : e.type === 'payment.failover'
            ? `${String(d.from)} → ${String(d.to)}`
            : '';
    timeline.push(`${at(Date.parse(e.created_at))}  ${e.type}${detail ? `  ${detail}` : ''}`);
  }
  return { id: o.paymentId!, why: why || 'one of the payments with a retried request', timeline };
}
