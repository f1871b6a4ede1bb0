import { track } from './children.js';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A private `redis-server` child for tests that stop and restart Redis. It never touches the
 * shared one: its own port on 127.0.0.1, no persistence, killed by pid.
 */
export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  output(): string;
  exited: Promise<void>;
  /** Sends `signal` to the pid and waits until the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A port nobody listens on right now (the OS's pick). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when a `redis-server` binary can be run. */
export async function redisServerInstalled(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('exit', (code) => resolve(code === 0));
  });
}

/** Starts `redis-server` on `port` (default: a free one) and resolves once it accepts connections. */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tracked = track(child, 'redis-server');
  const { pid, kill } = tracked;
  const exited = tracked.exited.then(() => {});
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on port ${p} did not start:\n${out}`)), 10_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${p} exited before it was ready:\n${out}`));
      });
    });
  } catch (err) {
    await kill('SIGKILL');
    throw err;
  }
  return { port: p, url: `redis://127.0.0.1:${p}`, pid, output: () => out, exited, kill };
}
