import { describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';

describe('migration 000003: the request kind of each idempotency key', () => {
  it('gives keys claimed before it the kind of their route, and none to other keys', async () => {
    const db = await openPglite('memory://');
    try {
      const all = readMigrations();
      await migrate(db, all.filter((m) => m.version < 3));
      await db.query(`INSERT INTO merchants (id, name) VALUES ('mer_1', 'm')`);
      const paths = ['/v1/payments', '/v1/payments/pay_1/capture', '/v1/payments/pay_1/void', '/v1/payments/pay_1/refunds', '/v1/other'];
      for (const [i, path] of paths.entries()) {
        await db.query(
          `INSERT INTO idempotency_keys (merchant_id, key, fingerprint, method, path, state, fence, created_at)
           VALUES ('mer_1', $1, 'fp', 'POST', $2, 'in_progress', $3, now())`,
          [`k${i}`, path, i + 1],
        );
      }
      expect(await migrate(db, all.filter((m) => m.version <= 3))).toEqual([3]);
      const { rows } = await db.query<{ key: string; operation: string | null }>(`SELECT key, operation FROM idempotency_keys ORDER BY key`);
      expect(rows.map((r) => r.operation)).toEqual(['create', 'capture', 'void', 'refund', null]);
    } finally {
      await db.close();
    }
  });
});

describe('migration progress', () => {
  it('reports each migration before it runs, then the end', async () => {
    const db = await openPglite('memory://');
    try {
      const all = readMigrations();
      const steps: Array<{ phase: string; done: number; total: number | null }> = [];
      expect(await migrate(db, all, (s) => steps.push(s))).toEqual(all.map((m) => m.version));
      expect(steps).toEqual([...all.map((m, i) => ({ phase: `migration ${m.name}`, done: i, total: all.length })), { phase: 'migrations', done: all.length, total: all.length }]);
    } finally {
      await db.close();
    }
  });
});
