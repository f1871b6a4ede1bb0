import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';

/**
 * Real PostgreSQL and Redis for integration tests. Each test file gets a database of its own,
 * dropped afterwards. When a service is unreachable the suite is skipped with a loud message,
 * unless CI=true, where that is a failure.
 */
export const PG_ADMIN_URL = process.env.IDEM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.IDEM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const inCi = process.env.CI === 'true';

async function reachable(check: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    const msg = `${what} is unreachable (${(err as Error).message})`;
    if (inCi) throw new Error(`${msg}; CI=true, so this is a failure`);
    console.warn(`\n!!! SKIPPING: ${msg}. Start it to run these tests.\n`);
    return false;
  }
}

export async function postgresAvailable(): Promise<boolean> {
  return reachable(async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    await c.connect();
    await c.end();
  }, `PostgreSQL at ${PG_ADMIN_URL}`);
}

export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  return reachable(async () => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
    try {
      await r.connect();
      await r.ping();
    } finally {
      r.disconnect();
    }
  }, `Redis at ${url}`);
}

/** A fresh, empty database; `drop()` removes it (terminating leftover connections). */
export async function createTestDatabase(prefix = 'idem_test'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = '/' + name;
  return {
    url: url.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
