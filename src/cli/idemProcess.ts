/**
 * `idem serve` as a child process, for whatever needs the process boundary: the demo's kill and
 * restart, and the integration tests (several instances on one database, `kill -9`, restarts on
 * the same data folder; docs/testing.md). A child is only ever signalled by its own pid, and
 * none outlives the process that started it.
 *
 *   start ─► spawn node <bin> serve --port 0 … ─► "Idem listening on <url>" ─► ready
 *            (the OS picks a free port: no race)     "API key, shown once: sk_…" (new data folder)
 *   kill(SIGKILL) ─► exited      stop() ─► SIGTERM, SIGKILL after the grace ─► exited
 *   restart() ─► stop if still running ─► start again with the same options (same data folder)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** What {@link IdemProcess.start} needs. */
export interface IdemProcessOptions {
  /** The built CLI (`dist/cli/main.js`). */
  bin: string;
  /**
   * The whole environment of the child besides PATH and HOME: nothing else is inherited, so an
   * ambient DATABASE_URL or REDIS_URL cannot turn an embedded run into one against a real database.
   * Undefined values are left out.
   */
  env: Record<string, string | undefined>;
  /** Extra arguments after `serve --port 0`, e.g. `['--data-dir', dir]`. */
  args?: string[];
  cwd?: string;
  /** Default 30 s. */
  startTimeoutMs?: number;
  /** Keep at most about this much of stdout and stderr (the latest); default: everything. */
  maxOutputChars?: number;
}

export interface IdemExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Map<number, ChildProcess>();
let exitHookInstalled = false;

/** Last resort when the parent exits without stopping its children: SIGKILL each, by pid. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of running.keys()) signalPid(pid, 'SIGKILL');
  });
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * One running `idem serve` child.
 *
 * @example
 * const idem = await IdemProcess.start({ bin, env: { LOG_LEVEL: 'warn' }, args: ['--data-dir', dir] });
 * await fetch(`${idem.url}/healthz`);
 * await idem.kill('SIGKILL');
 * const again = await idem.restart(); // same data folder, new port
 * await again.stop();
 */
export class IdemProcess {
  private constructor(
    private readonly options: IdemProcessOptions,
    /** e.g. `http://127.0.0.1:41234` */
    readonly url: string,
    readonly pid: number,
    /** The key `serve` prints once when it creates the first merchant of a new data folder. */
    readonly apiKey: string | null,
    /** Settles when the process has exited (and has been reaped). */
    readonly exited: Promise<IdemExit>,
    private readonly captured: () => string,
  ) {}

  /** Spawns `node <bin> serve --port 0 …` and resolves once it is listening. */
  static async start(options: IdemProcessOptions): Promise<IdemProcess> {
    if (!existsSync(options.bin)) throw new Error(`${options.bin} is missing: build Idem first (npm run build)`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() };
    for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [options.bin, 'serve', '--port', '0', ...(options.args ?? [])], {
      env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('could not start idem serve');
    const pid = child.pid;
    installExitHook();
    running.set(pid, child);
    const exited = new Promise<IdemExit>((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(pid);
        resolve({ code, signal });
      });
    });

    let out = '';
    const max = options.maxOutputChars;
    const keep = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (max !== undefined && out.length > 2 * max) out = out.slice(-max);
    };
    child.stderr!.on('data', keep);
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`idem serve (pid ${pid}) did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        keep(chunk);
        const m = /Idem listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`idem serve (pid ${pid}) exited (code ${code}, signal ${signal}) before listening:\n${out}`));
      });
    }).catch(async (err: unknown) => {
      if (running.has(pid)) signalPid(pid, 'SIGKILL');
      await exited;
      throw err;
    });
    const key = /API key, shown once: (sk_\S+)/.exec(out);
    return new IdemProcess(options, url, pid, key ? key[1]! : null, exited, () => out);
  }

  /** What the process wrote to stdout and stderr so far (for failure messages and scans). */
  output(): string {
    return this.captured();
  }

  isRunning(): boolean {
    return running.has(this.pid);
  }

  /** Sends `signal` to this child's pid if it still runs, and waits until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.isRunning()) signalPid(this.pid, signal);
    await this.exited;
  }

  /** SIGTERM (Idem closes its database cleanly), then SIGKILL after `graceMs`; waits until it is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.isRunning()) return;
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs);
    await this.kill('SIGTERM');
    clearTimeout(timer);
  }

  /** Synchronous last resort (SIGINT handlers, process exit). */
  killNow(): void {
    if (this.isRunning()) signalPid(this.pid, 'SIGKILL');
  }

  /** Stops this process if it still runs, then starts another with the same options (same data folder, new port). */
  async restart(): Promise<IdemProcess> {
    await this.stop();
    return IdemProcess.start(this.options);
  }
}
