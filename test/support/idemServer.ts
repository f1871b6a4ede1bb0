import { track } from './children.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `idem serve` as a real child process (the built `dist/cli/main.js`), for tests where the
 * process boundary matters: several instances on one database, `kill -9`, restarts. Run
 * `npm run build` first; the tests exercise what ships.
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
  if (!existsSync(IDEM_BIN)) throw new Error(`${IDEM_BIN} is missing: run \`npm run build\` before the integration tests`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn' };
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;

  const child = spawn(process.execPath, [IDEM_BIN, 'serve', '--port', '0', ...(options.args ?? [])], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { pid, exited, kill, isRunning } = track(child, 'idem serve');

  let out = '';
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`idem serve (pid ${pid}) did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${out}`)),
      options.startTimeoutMs ?? 30_000,
    );
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /Idem listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`idem serve (pid ${pid}) exited (code ${code}, signal ${signal}) before listening:\n${out}`));
    });
  });

  let url: string;
  try {
    url = await listening;
  } catch (err) {
    await kill('SIGKILL');
    throw err;
  }

  return {
    url,
    pid,
    output: () => out,
    exited,
    kill,
    async stop(graceMs = 5_000) {
      if (!isRunning()) return;
      const timer = setTimeout(() => void kill('SIGKILL'), graceMs);
      await kill('SIGTERM');
      clearTimeout(timer);
    },
  };
}

/** Stops every server given (missing ones are ignored), each by its pid. */
export async function stopIdemServers(servers: Array<IdemServer | undefined>): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}
