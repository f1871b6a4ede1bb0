/**
 * `idem reconcile` (docs/reconciliation.md): one pass over the logs of the gateways outside this
 * process (`http`, `stripe`, `adyen`: its stored notifications and settlement reports) with a
 * summary table, exiting non-zero while any case is open or a log could not be read; `report`
 * (CSV or JSON per gateway), `cases` and `resolve` for the operator, who sees every case,
 * including those about records no merchant owns.
 */
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config.js';
import type { Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { reconcilerForCli } from '../idem.js';
import { CASE_STATUSES, type CaseRow, type CaseStatus } from '../reconciliation/cases.js';
import type { PassSummary, RemediationSummary } from '../reconciliation/reconciler.js';
import { gatewayReport, reportCsv } from '../reconciliation/report.js';
import { SqlStore } from '../store/sql/index.js';
import { commandProgress } from './progress.js';
import { table } from './table.js';

interface Deps {
  configOrExit(flags: { dataDir?: string }): Config;
  withDatabase(config: Config, fn: (db: Database) => Promise<void>): Promise<void>;
  fail(err: unknown): never;
}

/** Registers `idem reconcile` and its subcommands. */
export function registerReconcileCommand(program: Command, deps: Deps): void {
  const reconcile = program
    .command('reconcile')
    // `--gateway` after a subcommand is the subcommand's, not this command's.
    .enablePositionalOptions()
    .description("one reconciliation pass over the log of each gateway outside this process (http, stripe, adyen); prints what it found; exits 1 while any case is open")
    .option('--since <time>', 're-read the logs from this ISO 8601 time instead of from their cursors')
    .option('--gateway <name>', 'only this gateway')
    .option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)')
    .action(async (flags: { since?: string; gateway?: string; dataDir?: string }) => {
      const config = deps.configOrExit(flags);
      const since = flags.since === undefined ? undefined : Date.parse(flags.since);
      if (since !== undefined && !Number.isFinite(since)) deps.fail(new ConfigError(`--since must be an ISO 8601 time (got "${flags.since}")`));
      await deps.withDatabase(config, async (db) => {
        await migrate(db);
        const store = new SqlStore(db);
        const reconciler = reconcilerForCli(config, store, db);
        const names = reconciler.reconcilable();
        if (names.length === 0) deps.fail(new ConfigError('no gateway outside this process configured (IDEM_GATEWAYS: kind http, stripe or adyen): nothing to reconcile from this process; idem serve reconciles its in-process gateways itself'));
        if (flags.gateway !== undefined && !names.includes(flags.gateway)) deps.fail(new ConfigError(`--gateway: no gateway outside this process named ${flags.gateway} (have ${names.join(', ')})`));
        const progress = commandProgress();
        const result = await reconciler
          .runPass(flags.gateway === undefined ? names : [flags.gateway], { ...(since === undefined ? {} : { since }), onProgress: progress.report })
          .finally(progress.stop);
        const open = await store.listCases({ status: 'open', ...(flags.gateway !== undefined ? { gateway: flags.gateway } : {}) });
        process.stdout.write(summaryTable(result.gateways, result.remediations, open));
        if (open.length > 0 || result.gateways.some((g) => g.error !== null)) process.exitCode = 1;
      });
    });

  reconcile
    .command('report')
    .description('one gateway\'s reconciliation report: records by verdict, remediations, cases with their evidence')
    .requiredOption('--gateway <name>', 'the gateway')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)')
    .action(async (flags: { gateway: string; format: string; dataDir?: string }) => {
      if (flags.format !== 'csv' && flags.format !== 'json') deps.fail(new ConfigError(`--format must be csv or json (got "${flags.format}")`));
      const config = deps.configOrExit(flags);
      await deps.withDatabase(config, async (db) => {
        await migrate(db);
        const store = new SqlStore(db);
        const report = gatewayReport(flags.gateway, await store.listStagedRecords(flags.gateway), await store.listRemediations(flags.gateway), await store.listCases({ gateway: flags.gateway }));
        process.stdout.write(flags.format === 'json' ? JSON.stringify(report, null, 2) + '\n' : reportCsv(report));
      });
    });

  reconcile
    .command('cases')
    .description('every reconciliation case, of every merchant and of none')
    .option('--status <status>', 'open or resolved')
    .option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)')
    .action(async (flags: { status?: string; dataDir?: string }) => {
      if (flags.status !== undefined && !(CASE_STATUSES as readonly string[]).includes(flags.status)) deps.fail(new ConfigError(`--status must be open or resolved (got "${flags.status}")`));
      const config = deps.configOrExit(flags);
      await deps.withDatabase(config, async (db) => {
        await migrate(db);
        const cases = await new SqlStore(db).listCases(flags.status === undefined ? {} : { status: flags.status as CaseStatus });
        process.stdout.write(casesTable(cases));
      });
    });

  reconcile
    .command('resolve <id>')
    .description('resolve a case (any merchant\'s, or one no merchant owns)')
    .requiredOption('--resolution <text>', 'what was done about it')
    .option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)')
    .action(async (id: string, flags: { resolution: string; dataDir?: string }) => {
      const config = deps.configOrExit(flags);
      await deps.withDatabase(config, async (db) => {
        await migrate(db);
        const resolved = await reconcilerForCli(config, new SqlStore(db), db).resolveCase(id, flags.resolution);
        if (!resolved) deps.fail(new Error(`no open case ${id}`));
        process.stdout.write(`resolved ${id}\n`);
      });
    });
}

function summaryTable(gateways: readonly PassSummary[], remediations: RemediationSummary, open: readonly CaseRow[]): string {
  const head = ['gateway', 'fetched', 'new', 'rejected', 'consistent', 'voids', 'adopted', 'cases', 'waiting', 'error'];
  const rows = gateways.map((g) => [
    g.gateway,
    g.skipped ? '(leased elsewhere)' : String(g.fetched),
    String(g.staged),
    String(g.rejected.length),
    String((g.verdicts.consistent ?? 0) + (g.verdicts.no_effect ?? 0) + (g.verdicts.own_remediation ?? 0) + (g.verdicts.known ?? 0)),
    String(g.remediationsScheduled),
    String(g.adopted),
    String(g.casesOpened),
    String(g.verdicts.wait ?? 0),
    g.error ?? '',
  ]);
  let out = table([head, ...rows]);
  out += `remediations run: ${remediations.done} done, ${remediations.failed} refused, ${remediations.retrying} to retry\n`;
  for (const g of gateways) for (const r of g.rejected) out += `REJECTED ${g.gateway}: ${r}\n`;
  out += open.length === 0 ? 'no open cases\n' : `${open.length} open case(s):\n${casesTable(open)}`;
  return out;
}

function casesTable(cases: readonly CaseRow[]): string {
  if (cases.length === 0) return '(none)\n';
  return table([
    ['case', 'status', 'gateway', 'class', 'team', 'merchant', 'payment', 'action', 'why'],
    ...cases.map((c) => [c.id, c.status, c.gateway, c.class, c.team, c.merchant_id ?? '(none)', c.payment_id ?? '(none)', c.action, typeof c.evidence.why === 'string' ? c.evidence.why : '']),
  ]);
}
