import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { systemRuntime } from '../../src/ports/clock.js';
import { HealthBook, type GatewayObservation } from '../../src/resilience/book.js';
import { SharedHealth, type ObservationLog } from '../../src/resilience/shared.js';
import { RedisObservationLog } from '../../src/store/redis/observations.js';
import { SqlObservationLog } from '../../src/store/sql/observations.js';
import { SqlProbeLeases } from '../../src/store/sql/probeLeases.js';
import { RedisProbeLeases } from '../../src/store/redis/probeLeases.js';
import { SharedProbes } from '../../src/resilience/probes.js';
import { waitUntil } from '../support/payments.js';
import { startRedisServer, redisServerInstalled, type RedisServer } from '../support/redisServer.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';

/**
 * Two instances learn one gateway's health from each other's traffic: what instance A sees,
 * instance B acts on, through a private Redis stream, through PostgreSQL, and through
 * PostgreSQL after the Redis under them is killed.
 */
const pgUp = await postgresAvailable();
const redisOk = await redisServerInstalled();

describe.skipIf(!pgUp || !redisOk)('gateway health shared between instances', () => {
  let db: Database;
  let dropDb: () => Promise<void>;
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    const t = await createTestDatabase();
    dropDb = t.drop;
    db = openPostgres(t.url);
    await migrate(db);
    server = await startRedisServer();
    redis = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
    redis.on('error', () => {});
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.kill('SIGKILL');
    await db?.close();
    await dropDb?.();
  });

  const fail = (at: number): GatewayObservation => ({ at, gateway: 'sim-a', operation: 'authorize', outcome: 'not_processed', latencyMs: 3, reason: 'HTTP 503', first: true });

  function instance(name: string, logs: ObservationLog[]) {
    const book = new HealthBook();
    const changes: string[] = [];
    const shared = new SharedHealth({ book, runtime: systemRuntime, instance: name, logs, onChange: (c) => changes.push(`${c.gateway}:${c.to}`) });
    return { book, shared, changes };
  }

  async function learnsFromTheOther(logs: () => ObservationLog[]) {
    const a = instance('a', logs());
    const b = instance('b', logs());
    await b.shared.sync(); // b has read everything there is so far
    const now = Date.now();
    for (let i = 1; i <= 6; i++) a.shared.record(fail(now + i));
    expect(a.book.state('sim-a')).toBe('down');
    expect(b.book.state('sim-a')).toBe('healthy');
    await a.shared.sync();
    await b.shared.sync();
    expect(b.book.state('sim-a')).toBe('down');
    expect(b.changes).toEqual(['sim-a:down']);
    // a does not learn its own answers twice when they come back from the log.
    await a.shared.sync();
    expect(a.book.view(['sim-a'], now + 10)[0]!.evidence.answers).toBe(6);
    return { a, b };
  }

  it('through a Redis stream', async () => {
    const { a } = await learnsFromTheOther(() => [new RedisObservationLog(redis, systemRuntime.clock)]);
    expect(a.shared.active?.name).toBe('redis');
  });

  it('through PostgreSQL when there is no Redis', async () => {
    const { b } = await learnsFromTheOther(() => [new SqlObservationLog(db, systemRuntime.clock)]);
    expect(b.shared.active?.name).toBe('postgres');
  });

  // Probe leases (src/resilience/probes.ts) on both real stores: of two instances asking at
  // once one gets the interval; the interval doubles; a lease taken on Redis and noted in
  // PostgreSQL goes on there with the same schedule.
  const schedule = { minMs: 250, maxMs: 4000 };
  for (const store of ['redis', 'postgres'] as const) {
    it(`probe leases on ${store}: one instance an interval, the interval doubling`, async () => {
      const leases = store === 'redis' ? new RedisProbeLeases(redis, `idem:probe-lease:test-${process.pid}`) : new SqlProbeLeases(db);
      const t = Date.now();
      const both = await Promise.all(['a', 'b'].map((holder) => leases.claim('sim-p', 'authorize', holder, t, schedule)));
      expect(both.filter((c) => c.granted)).toEqual([{ granted: true, until: t + 250, gapMs: 250 }]);
      expect(both.find((c) => !c.granted)).toEqual({ granted: false, until: t + 250 });
      expect(await leases.claim('sim-p', 'authorize', 'b', t + 249, schedule)).toEqual({ granted: false, until: t + 250 });
      expect(await leases.claim('sim-p', 'authorize', 'b', t + 250, schedule)).toEqual({ granted: true, until: t + 750, gapMs: 500 });
      expect(await leases.claim('sim-p', 'authorize', 'a', t + 750, schedule)).toEqual({ granted: true, until: t + 1750, gapMs: 1000 });
      // Nobody took it for 4 s after it ended: the next outage starts at 250 ms again.
      expect(await leases.claim('sim-p', 'authorize', 'a', t + 1750 + 4001, schedule)).toEqual({ granted: true, until: t + 6001, gapMs: 250 });
    });
  }

  it('a probe lease taken on Redis is noted in PostgreSQL, which goes on with its schedule', async () => {
    const sql = new SqlProbeLeases(db);
    const probes = new SharedProbes({ instance: 'a', stores: [new RedisProbeLeases(redis, `idem:probe-lease:note-${process.pid}`), sql], schedule });
    const t = Date.now();
    expect(await probes.claim('sim-q', 'authorize', t)).toBe(true);
    expect(probes.active?.name).toBe('redis');
    await waitUntil('the Redis lease noted in PostgreSQL', async () => (await sql.claim('sim-q', 'authorize', 'b', t + 1, schedule)).until === t + 250);
    expect(await sql.claim('sim-q', 'authorize', 'b', t + 250, schedule)).toEqual({ granted: true, until: t + 750, gapMs: 500 });
  });

  it('falls back to PostgreSQL when Redis is killed, and keeps every answer it had queued', async () => {
    const logs = () => [new RedisObservationLog(redis, systemRuntime.clock), new SqlObservationLog(db, systemRuntime.clock)];
    const a = instance('a2', logs());
    const b = instance('b2', logs());
    await a.shared.sync();
    await b.shared.sync();
    expect(a.shared.active?.name).toBe('redis');
    await server.kill('SIGKILL');
    const now = Date.now();
    for (let i = 1; i <= 6; i++) a.shared.record({ ...fail(now + i), gateway: 'sim-b' });
    await a.shared.sync();
    await b.shared.sync();
    expect(a.shared.active?.name).toBe('postgres');
    expect(b.book.state('sim-b')).toBe('down');
  });
});
