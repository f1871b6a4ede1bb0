import type { Command } from 'commander';
import { remoteApi, remoteOptions, type RemoteFlags } from './remote.js';
import { table } from './table.js';

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
  return `policy: ${policy}\n${table([head, ...lines])}`;
}

/**
 * `idem gateways`: asks a running instance for every gateway's learned health
 * (docs/resilience.md) and prints it as a table. Any instance answers for all of them: they
 * share what they learn.
 */
export function registerGatewaysCommand(program: Command, fail: (err: unknown) => never): void {
  remoteOptions(program.command('gateways'))
    .description("print every gateway's learned health, as a running instance sees it (GET /v1/gateways)")
    .action(async (flags: RemoteFlags) => {
      const body = await remoteApi(flags, fail).gateways.list().catch(fail);
      process.stdout.write(gatewayTable(body.policy, body.data as GatewayRow[]));
    });
}
