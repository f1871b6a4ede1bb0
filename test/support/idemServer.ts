import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IdemProcess } from '../../src/cli/idemProcess.js';
import { scaled } from './timeScale.js';

/**
 * `idem serve` as a real child process (the built `dist/cli/main.js`), for tests where the
 * process boundary matters: several instances on one database, `kill -9`, restarts. Run
 * `npm run build` first; the tests exercise what ships. The process itself is the CLI's own
 * `IdemProcess` (src/cli/idemProcess.ts), the one the demo uses too.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The CLI under test; `IDEM_TEST_BIN` points the tests at another build. */
export const IDEM_BIN = process.env.IDEM_TEST_BIN ?? join(ROOT, 'dist', 'cli', 'main.js');

export interface IdemServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  pid: number;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Settles when the process has exited (and has been reaped). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the pid and waits until the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful), then SIGKILL after `graceMs`; waits until the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface IdemServerOptions {
  /**
   * The whole environment of the child besides PATH and HOME: nothing else is inherited, so a
   * DATABASE_URL or REDIS_URL of the test runner's shell cannot leak into an embedded test.
   */
  env: Record<string, string | undefined>;
  /** Extra arguments after `serve --port 0`, e.g. `['--data-dir', dir]`. */
  args?: string[];
  startTimeoutMs?: number;
}

/**
 * Spawns `node dist/cli/main.js serve --port 0 …` and resolves once it prints its
 * "Idem listening on <url>" line (port 0: the OS picks a free port, so there is no race).
 *
 * @example
 * const idem = await startIdemServer({ env: { DATABASE_URL: db.url } });
 * await fetch(`${idem.url}/healthz`);
 * await idem.kill('SIGKILL');
 */
export async function startIdemServer(options: IdemServerOptions): Promise<IdemServer> {
  const idem = await IdemProcess.start({
    bin: IDEM_BIN,
    // Shedding off unless a test asks for it (test/integration/overload.test.ts does): the
    // other tests send bursts whose every request must run, from clients that do not wait out
    // a 503, on a machine busy enough to make the adaptive limit shed some of them.
    // `/metrics` on the API port, where these tests scrape it (by default it is on no port of
    // the API: README, "Configuration").
    env: { LOG_LEVEL: 'warn', IDEM_CONCURRENCY_LIMIT: 'off', IDEM_METRICS_PORT: 'api', ...options.env },
    args: options.args ?? [],
    cwd: ROOT,
    // 30 s unless told, stretched by IDEM_TEST_TIME_SCALE on a crowded machine (docs/testing.md, "Time").
    startTimeoutMs: options.startTimeoutMs ?? scaled(30_000),
  });
  return {
    url: idem.url,
    pid: idem.pid,
    output: () => idem.output(),
    exited: idem.exited,
    kill: (signal) => idem.kill(signal),
    stop: (graceMs = 5_000) => idem.stop(graceMs),
  };
}

/** Stops every server given (missing ones are ignored), each by its pid. */
export async function stopIdemServers(servers: Array<IdemServer | undefined>): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}
