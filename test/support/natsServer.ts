import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';
import { freePort } from './redisServer.js';

export const NATS_SERVER_BIN = process.env.IDEM_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

/**
 * A private `nats-server -js` for tests that restart NATS: its own free port on 127.0.0.1 and
 * its own temporary store folder (kept across restarts, removed by `remove()`), killed by pid.
 */
export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  pid: number;
  output(): string;
  /** Sends `signal` and waits until the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and store folder. */
  restart(): Promise<NatsServer>;
  /** Stops it and deletes its store folder. */
  remove(): Promise<void>;
}

export function natsServerInstalled(): boolean {
  return existsSync(NATS_SERVER_BIN);
}

export async function startNatsServer(at?: { port: number; storeDir: string }): Promise<NatsServer> {
  const port = at?.port ?? (await freePort());
  const storeDir = at?.storeDir ?? mkdtempSync(join(tmpdir(), 'idem-nats-'));
  const child = spawn(NATS_SERVER_BIN, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tracked = track(child, 'nats-server');
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server on port ${port} did not start:\n${out}`)), 15_000);
      const onData = (c: Buffer) => {
        out += c.toString('utf8');
        if (/Server is ready/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void tracked.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nats-server on port ${port} exited before it was ready:\n${out}`));
      });
    });
  } catch (err) {
    await tracked.kill('SIGKILL');
    throw err;
  }
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: tracked.pid,
    output: () => out,
    kill: async (signal) => {
      await tracked.kill(signal);
    },
    restart: async () => {
      await tracked.kill('SIGTERM');
      return startNatsServer({ port, storeDir });
    },
    remove: async () => {
      await tracked.kill('SIGKILL');
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return server;
}
