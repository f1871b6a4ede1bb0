#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, redact, type Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { lockDataDir } from '../db/dataDirLock.js';
import { migrate } from '../db/migrate.js';
import { openPglite } from '../db/pglite.js';
import { openPostgres } from '../db/postgres.js';
import { startSimulatorServer } from '../gateways/simulator/server.js';
import { createIdem } from '../idem.js';
import { createMerchant } from '../merchants/merchants.js';
import { fetchGatewayLog, verifyLedger } from '../ledger/verify.js';
import { SqlStore } from '../store/sql/index.js';
import { cryptoRandom } from '../ports/clock.js';
import { serveLoggerOptions } from './serveLogger.js';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiError } from './api.js';
import { describeEnvironment } from './envHelp.js';
import { registerEventsCommand } from './eventsTail.js';
import { registerGatewaysCommand } from './gateways.js';
import { registerKeyCommands } from './keys.js';
import { registerPaymentsCommand } from './payments.js';
import { commandProgress } from './progress.js';
import { registerReconcileCommand } from './reconcile.js';

/** How long `serve` lets in-flight requests finish after SIGTERM before it cuts their connections. */
const STOP_GRACE_MS = 10_000;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The `idem` command tree (exported for the test that runs every command's `--help`). */
export const program = new Command();
program.name('idem').description('Payment orchestration that moves money exactly once').version(version).showHelpAfterError().enablePositionalOptions();

const portOption = () => new Option('--port <port>', 'port to listen on (env PORT, default 8080)');
const dataDirOption = () => new Option('--data-dir <dir>', 'embedded database folder when DATABASE_URL is absent (default ./.idem)');

program
  .command('serve')
  .description('run the API, relay and recovery in one process')
  .addOption(portOption())
  .addOption(dataDirOption())
  .option('--host <host>', 'address to listen on (env HOST, default 127.0.0.1)')
  .option('--sandbox', 'allow simulated gateways with DATABASE_URL set (no IDEM_GATEWAYS)')
  .action(async (flags: { port?: string; dataDir?: string; host?: string; sandbox?: boolean }) => {
    const config = configOrExit(flags);
    if (config.databaseUrl && config.gatewaysDefaulted && !flags.sandbox) {
      fail(new ConfigError('DATABASE_URL is set but IDEM_GATEWAYS is not: refusing to run production on simulated gateways (set IDEM_GATEWAYS, or pass --sandbox)'));
    }
    let unlock = () => {};
    try {
      if (!config.databaseUrl) unlock = lockDataDir(config.dataDir);
    } catch (err) {
      fail(err);
    }
    const idem = await createIdem(config, { logger: serveLoggerOptions(config, process.stdout.isTTY === true) }).catch((err) => {
      unlock();
      fail(err);
    });
    if (!config.databaseUrl) {
      if ((await idem.store.countMerchants()) === 0) {
        const m = await createMerchant(idem.store, cryptoRandom, 'default');
        process.stdout.write(`Created merchant "default" (${m.id}). API key, shown once: ${m.apiKey}\n`);
      }
    }
    const address = await idem.listen().catch((err) => {
      unlock();
      fail(err);
    });
    const store = config.databaseUrl ? `PostgreSQL ${redact(config.databaseUrl)}` : `embedded PGlite in ${config.dataDir}`;
    const gateways = config.gateways.map((g) => `${g.name}${g.kind === 'simulator' ? ' [SIMULATED]' : ''}`).join(', ');
    const metrics = idem.metricsUrl ? `, metrics on ${idem.metricsUrl}/metrics` : '';
    process.stdout.write(`Idem listening on ${address} (${store}${config.redisUrl ? `, Redis ${redact(config.redisUrl)}` : ''}; gateways: ${gateways}${metrics})\n`);
    process.stdout.write(`Dashboard: ${address}/dashboard (docs/dashboard.md)\n`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      // Node counts a connection that has not finished a request (even one that never sent a
      // byte) as busy, so one idle or slow client would hold the graceful close open for ever.
      // In-flight requests get a grace period; then what is left is cut.
      setTimeout(() => idem.app.server.closeAllConnections(), STOP_GRACE_MS).unref();
      await idem.close().catch(() => {});
      unlock();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

program
  .command('migrate')
  .description('apply schema migrations (serve also applies them)')
  .addOption(dataDirOption())
  .action(async (flags: { dataDir?: string }) => {
    const config = configOrExit(flags);
    await withDatabase(config, async (db) => {
      const progress = commandProgress();
      const applied = await migrate(db, undefined, progress.report).finally(progress.stop);
      process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}\n` : 'schema is up to date\n');
    });
  });

const merchant = program.command('merchant').description('manage merchants');
merchant
  .command('create <name>')
  .description('create a merchant; prints its id and API key once')
  .addOption(dataDirOption())
  .action(async (name: string, flags: { dataDir?: string }) => {
    const config = configOrExit(flags);
    await withDatabase(config, async (db) => {
      await migrate(db);
      const m = await createMerchant(new SqlStore(db), cryptoRandom, name);
      process.stdout.write(`merchant ${m.id}\napi key ${m.apiKey}\n(the key is shown once; Idem stores only its hash)\n`);
    });
  });

registerKeyCommands(merchant, { configOrExit, withDatabase });

const ledger = program.command('ledger').description('the double-entry ledger');
ledger
  .command('verify')
  .description("check the ledger balances, matches every payment's state, and matches each HTTP gateway's transaction log")
  .addOption(dataDirOption())
  .action(async (flags: { dataDir?: string }) => {
    const config = configOrExit(flags);
    await withDatabase(config, async (db) => {
      await migrate(db);
      const http = config.gateways.filter((g) => g.kind === 'http');
      const progress = commandProgress();
      const report = await (async () => {
        const logs = http.length === 0 ? null : (await Promise.all(http.map((g) => fetchGatewayLog(g.baseUrl!, progress.report)))).flat();
        return verifyLedger(new SqlStore(db), logs, progress.report);
      })().finally(progress.stop);
      const compared = report.checked.gatewayOperations;
      const out = process.stdout;
      out.write(`checked ${report.checked.payments} payments, ${report.checked.entries} journal entries`);
      out.write(compared === null ? ' (no HTTP gateway configured: gateway logs not compared)\n' : `, ${compared} gateway operations from ${http.map((g) => g.name).join(', ')}\n`);
      if (report.inFlight.length > 0) out.write(`${report.inFlight.length} payments still in flight (not compared with the gateways): ${report.inFlight.slice(0, 10).join(', ')}${report.inFlight.length > 10 ? ', …' : ''}\n`);
      for (const d of report.differences) out.write(`DIFFERENCE ${d}\n`);
      out.write(report.differences.length === 0 ? 'ledger verified: balanced and matching\n' : `${report.differences.length} differences\n`);
      if (report.differences.length > 0) process.exitCode = 1;
    });
  });

registerGatewaysCommand(program, fail);
registerPaymentsCommand(program, fail);
registerEventsCommand(program, fail);
registerReconcileCommand(program, { configOrExit, withDatabase, fail });

program
  .command('gateway-sim')
  .description('run the gateway simulator as its own HTTP server')
  .option('--port <port>', 'port to listen on', '4010')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--faults <file>', 'JSON file of faults (latency, declineRate, timeoutAfterProcessingRate, …)')
  .option('--seed <n>', 'seed for faults and ids')
  .action(async (flags: { port: string; host: string; faults?: string; seed?: string }) => {
    const { readFileSync } = await import('node:fs');
    let faults: Record<string, unknown> | undefined;
    try {
      faults = flags.faults ? (JSON.parse(readFileSync(flags.faults, 'utf8')) as Record<string, unknown>) : undefined;
    } catch (err) {
      fail(new ConfigError(`--faults: cannot read JSON from ${flags.faults} (${(err as Error).message})`));
    }
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(new ConfigError(`--port must be an integer from 0 to 65535 (got "${flags.port}")`));
    const seed = flags.seed === undefined ? undefined : Number(flags.seed);
    if (seed !== undefined && !Number.isInteger(seed)) fail(new ConfigError(`--seed must be an integer (got "${flags.seed}")`));
    const sim = await startSimulatorServer({ host: flags.host, port, ...(faults ? { faults } : {}), ...(seed !== undefined ? { seed } : {}) }).catch(fail);
    process.stdout.write(`gateway simulator listening on ${sim.url}\n`);
    const stop = () => void sim.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

program
  .command('demo')
  .description('embedded Idem, two simulated gateways with faults, synthetic traffic with duplicates, retries and a kill -9; prints a summary, the proof and where to look')
  .option('--payments <n>', 'checkouts to simulate', '300')
  .option('--seed <n>', 'seed for the traffic plan and the gateways\' faults (default: random, printed)')
  .option('--data-dir <dir>', 'a new or empty folder for the embedded database (default: a fresh temporary folder)')
  .action(async (flags: { payments: string; seed?: string; dataDir?: string }) => {
    const payments = Number(flags.payments);
    if (!/^\d+$/.test(flags.payments) || payments < 1 || payments > 100_000) fail(new ConfigError(`--payments must be an integer from 1 to 100000 (got "${flags.payments}")`));
    const seed = flags.seed === undefined ? undefined : Number(flags.seed);
    if (seed !== undefined && !(/^\d+$/.test(flags.seed!) && Number.isSafeInteger(seed))) fail(new ConfigError(`--seed must be a non-negative integer (got "${flags.seed}")`));
    const { runDemo } = await import('./demo/index.js');
    const result = await runDemo({ payments, ...(seed !== undefined ? { seed } : {}), ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}) }).catch(fail);
    process.exitCode = result.ok ? 0 : 1;
  });

function configOrExit(flags: { port?: string; dataDir?: string; host?: string }): Config {
  try {
    return loadConfig(process.env, flags);
  } catch (err) {
    fail(err);
  }
}

async function withDatabase(config: Config, fn: (db: Database) => Promise<void>): Promise<void> {
  let unlock = () => {};
  let db: Database | undefined;
  try {
    if (!config.databaseUrl) unlock = lockDataDir(config.dataDir);
    db = config.databaseUrl ? openPostgres(config.databaseUrl, { max: 2 }) : await openPglite(config.dataDir);
    await fn(db);
  } catch (err) {
    fail(err);
  } finally {
    await db?.close().catch(() => {});
    unlock();
  }
}

function fail(err: unknown): never {
  const prefix = err instanceof ConfigError ? 'idem: config: ' : 'idem: ';
  const code = (err instanceof ConfigError || err instanceof ApiError) && err.code !== undefined ? ` [${err.code}]` : '';
  process.stderr.write(prefix + ((err as Error).message ?? String(err)) + code + '\n');
  process.exit(err instanceof ConfigError ? 2 : 1);
}

describeEnvironment(program);

// Parsed only when run as `idem` (through npm's bin link or `node dist/cli/main.js`), not when
// a test imports the command tree.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await program.parseAsync(process.argv);
