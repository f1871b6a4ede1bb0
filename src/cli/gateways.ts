import type { Command } from 'commander';

interface GatewayRow {
  name: string;
  state: string;
  breaker: string;
  since: string;
  success_rate: number;
  latency_ms: { p50: number | null; p99: number | null };
  retry_delay_ms: number;
  retry_budget: { retries: number; allowed: number };
  evidence: { answers: number };
}

/** The table `idem gateways` prints: one line a gateway, as `GET /v1/gateways` shows it. */
export function gatewayTable(policy: string, rows: GatewayRow[]): string {
  const head = ['gateway', 'state', 'breaker', 'success', 'p50 ms', 'p99 ms', 'retry ms', 'budget', 'answers', 'since'];
  const lines = rows.map((g) => [
    g.name,
    g.state,
    g.breaker,
    `${(g.success_rate * 100).toFixed(1)} %`,
    String(g.latency_ms.p50 ?? '—'),
    String(g.latency_ms.p99 ?? '—'),
    String(g.retry_delay_ms),
    `${g.retry_budget.retries}/${g.retry_budget.allowed}`,
    String(g.evidence.answers),
    g.since,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`policy: ${policy}`, fmt(head), ...lines.map(fmt)].join('\n') + '\n';
}

/**
 * `idem gateways`: asks a running instance for every gateway's learned health
 * (docs/resilience.md) and prints it as a table. Any instance answers for all of them: they
 * share what they learn.
 */
export function registerGatewaysCommand(program: Command, fail: (err: Error) => never): void {
  program
    .command('gateways')
    .description("print every gateway's learned health, as a running instance sees it (GET /v1/gateways)")
    .option('--url <url>', 'the instance (env IDEM_URL)', process.env.IDEM_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'an API key (env IDEM_API_KEY)', process.env.IDEM_API_KEY)
    .action(async (flags: { url: string; apiKey?: string }) => {
      if (!flags.apiKey) fail(new Error('--api-key (or IDEM_API_KEY) is required'));
      const url = `${flags.url.replace(/\/+$/, '')}/v1/gateways`;
      let res: Response;
      try {
        res = await fetch(url, { headers: { authorization: `Bearer ${flags.apiKey}` }, signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        return fail(new Error(`cannot reach ${url} (${(err as Error).message})`));
      }
      if (!res.ok) fail(new Error(`${url} answered ${res.status}`));
      const body = (await res.json()) as { policy: string; data: GatewayRow[] };
      process.stdout.write(gatewayTable(body.policy, body.data));
    });
}
