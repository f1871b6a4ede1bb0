import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { openPglite } from '../../src/db/pglite.js';
import type { Database } from '../../src/db/database.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { cryptoRandom, systemTimers, type Runtime } from '../../src/ports/clock.js';

const body = { amount: 500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };

describe('per-merchant rate limit (IDEM_RATE_LIMIT_RPS)', () => {
  let db: Database;
  let idem: Idem;
  let skipped = 0;
  // Time stands still but for what the test skips: a slow machine must not refill the bucket
  // between the requests that are meant to drain it.
  const start = Date.now();
  const runtime: Runtime = { clock: { now: () => start + skipped }, timers: systemTimers, random: cryptoRandom };
  let keyA = '';
  let keyB = '';

  beforeAll(async () => {
    db = await openPglite('memory://');
    idem = await createIdem(loadConfig({ IDEM_RATE_LIMIT_RPS: '2', IDEM_RATE_LIMIT_BURST: '2' }), { db, runtime, relay: false, sweeper: false });
    keyA = (await createMerchant(new SqlStore(db), cryptoRandom, 'A')).apiKey;
    keyB = (await createMerchant(new SqlStore(db), cryptoRandom, 'B')).apiKey;
  });
  afterAll(async () => {
    await idem.close();
    await db.close();
  });

  const post = (apiKey: string, key: string) =>
    idem.app.inject({ method: 'POST', url: '/v1/payments', headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': key }, payload: body });

  it('answers 429 RATE_LIMITED with Retry-After past the burst, per merchant, without consuming the key', async () => {
    expect((await post(keyA, 'r1')).statusCode).toBe(201);
    expect((await post(keyA, 'r2')).statusCode).toBe(201);
    const limited = await post(keyA, 'r3');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another merchant has a bucket of its own.
    expect((await post(keyB, 'r3')).statusCode).toBe(201);
    // A second later A may send again, and r3 runs for the first time: the 429 did not claim it.
    skipped += 1000;
    const later = await post(keyA, 'r3');
    expect(later.statusCode).toBe(201);
    expect(later.headers['idempotent-replayed']).toBe('false');
  });
});
