import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { track, type TrackedChild } from './children.js';
import { freePort } from './redisServer.js';

/**
 * A private Redis Cluster for tests: three `redis-server --cluster-enabled yes` children on
 * free ports of 127.0.0.1, their node files and nothing else in a temporary folder (no RDB, no
 * AOF), joined by `redis-cli --cluster create … --cluster-replicas 0`. Never the shared Redis;
 * every node is killed by its pid and the folder removed by `stop()`.
 */
export interface RedisClusterNode {
  port: number;
  pid: number;
  output(): string;
  /** Sends `signal` to the pid and waits until the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C`, as REDIS_URL takes it. */
  url: string;
  nodes: RedisClusterNode[];
  /** Starts node `i` again on its port and node file: it rejoins with the slots it had (and no data). */
  restart(i: number): Promise<void>;
  /** Resolves once every running node says `cluster_state:ok`. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  /** The node (index) serving `slot`, as the cluster says now. */
  slotOwners(): Promise<Array<{ from: number; to: number; node: number }>>;
  stop(): Promise<void>;
}

/** How soon the other nodes call a silent one failed (and, with no replica, the cluster down). */
export const NODE_TIMEOUT_MS = 2_000;

/** True when `redis-server` and `redis-cli` can both be run. */
export async function redisClusterToolsInstalled(): Promise<boolean> {
  const runs = (bin: string) =>
    new Promise<boolean>((resolve) => {
      const p = spawn(bin, ['--version'], { stdio: 'ignore' });
      p.once('error', () => resolve(false));
      p.once('exit', (code) => resolve(code === 0));
    });
  return (await runs('redis-server')) && (await runs('redis-cli'));
}

export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'idem-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < size; i++) {
    let p = await freePort();
    // The cluster bus listens on port + 10000: keep both free and distinct.
    while (p > 55_000 || ports.includes(p)) p = await freePort();
    ports.push(p);
  }
  const nodes: Array<RedisClusterNode & { child: TrackedChild }> = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) nodes.push(await startNode(dir, port));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const cluster: RedisCluster = {
      url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      nodes,
      async restart(i) {
        nodes[i] = await startNode(dir, ports[i]!);
        cluster.nodes[i] = nodes[i]!;
      },
      async waitUntilOk(timeoutMs = 30_000) {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const states = await Promise.all(nodes.filter((n) => n.child.isRunning()).map((n) => clusterState(n.port)));
          if (states.every((s) => s === 'ok')) return;
          if (Date.now() > end) throw new Error(`the cluster is not ok after ${timeoutMs} ms: ${states.join(', ')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async slotOwners() {
        const running = nodes.find((n) => n.child.isRunning())!;
        const r = new Redis({ host: '127.0.0.1', port: running.port, lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await r.connect();
          const slots = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
          return slots.map(([from, to, [, port]]) => ({ from, to, node: ports.indexOf(Number(port)) }));
        } finally {
          r.disconnect();
        }
      },
      stop: stopAll,
    };
    await cluster.waitUntilOk();
    return cluster;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function startNode(dir: string, port: number): Promise<RedisClusterNode & { child: TrackedChild }> {
  const child = spawn(
    'redis-server',
    [
      '--cluster-enabled', 'yes',
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tracked = track(child, 'redis-server (cluster node)');
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cluster node on port ${port} did not start:\n${out}`)), 10_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
      void tracked.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`cluster node on port ${port} exited before it was ready:\n${out}`));
      });
    });
  } catch (err) {
    await tracked.kill('SIGKILL');
    throw err;
  }
  return { port, pid: tracked.pid, child: tracked, output: () => out, kill: (signal) => tracked.kill(signal) };
}

async function clusterState(port: number): Promise<string> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  try {
    await r.connect();
    const info = String(await r.call('CLUSTER', 'INFO'));
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  } finally {
    r.disconnect();
  }
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout)));
  });
}
