import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './redisServer.js';

/**
 * A private PostgreSQL for tests that stop and restart the database: `initdb` into a temporary
 * folder, `pg_ctl` on a free port of 127.0.0.1 (trust, user `postgres`, no fsync), its socket in
 * that folder. Never the shared server. `pg_ctl` daemonizes the postmaster, so it is tracked by
 * the pid in `postmaster.pid` and killed by that pid if the worker exits without `stop()`.
 * Run as root (initdb refuses), every command runs as the `postgres` user.
 */
export interface PgServer {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** The postmaster's pid right now (a restart changes it). */
  pid(): number | null;
  /** `pg_ctl restart -m <mode>`; resolves once the new server accepts queries. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  stop(): Promise<void>;
}

export const PG_BIN = process.env.IDEM_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

const started = new Set<string>();
// Last resort for a worker that dies without running afterAll: no orphaned postmaster. By pid only.
process.once('exit', () => {
  for (const dir of started) {
    const pid = postmasterPid(dir);
    if (pid === null) continue;
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // already gone
    }
  }
});

/** True when `initdb` and `pg_ctl` are where `PG_BIN` says. */
export function pgServerInstalled(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
}

function postmasterPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export async function startPgServer(): Promise<PgServer> {
  const dir = await mkdtemp(join(tmpdir(), 'idem-pg-'));
  const data = join(dir, 'data');
  const asUser = await postgresUser();
  if (asUser) await chown(dir, asUser.uid, asUser.gid);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const run = (bin: string, args: string[], timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      execFile(join(PG_BIN, bin), args, { timeout: timeoutMs, ...(asUser ?? {}), cwd: dir }, (err, stdout, stderr) =>
        err ? reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout),
      );
    });
  // fsync off survives `-m immediate` (a crash of the server, not of the machine: the kernel
  // keeps what was written); synchronous_commit off would not — a commit already answered
  // could be lost in recovery, and the test would see a final answer that was never stored.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200`;
  const ready = async (timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return;
      } catch (err) {
        if (Date.now() > end) throw new Error(`private PostgreSQL on ${port} is not ready after ${timeoutMs} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await c.end().catch(() => {});
      }
    }
  };
  const stop = async () => {
    await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    const pid = postmasterPid(dir);
    if (pid !== null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    started.delete(dir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions']);
    started.add(dir);
    await run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    url,
    pid: () => postmasterPid(dir),
    async restart(mode) {
      await run('pg_ctl', ['-D', data, '-m', mode, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'restart']);
      await ready();
    },
    stop,
  };
}

/** The `postgres` user's ids when this runs as root (initdb will not); null otherwise. */
async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) =>
      execFile('id', [flag, 'postgres'], (err, out) => (err ? reject(new Error(`running as root and there is no postgres user to run initdb as: ${err.message}`)) : resolve(Number(out.trim())))),
    );
  return { uid: await id('-u'), gid: await id('-g') };
}
