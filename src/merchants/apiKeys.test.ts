import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { openPglite } from '../db/pglite.js';
import { seededRandom } from '../ports/seeded.js';
import { SqlStore } from '../store/sql/index.js';
import { ApiKeyError, createKey, listKeys, revokeKey, rotateKey } from './apiKeys.js';
import { MerchantAuth, createMerchant } from './merchants.js';

describe('API keys: list, create, revoke, rotate; the auth cache', () => {
  let db: Database;
  let store: SqlStore;
  let now = Date.UTC(2100, 0, 1); // after the key its merchant was created with (stamped by the database)
  const clock = { now: () => now };
  const random = seededRandom(7);

  beforeAll(async () => {
    db = await openPglite('memory://');
    await migrate(db);
    store = new SqlStore(db);
  });
  afterAll(async () => {
    await db.close();
  });

  it('lists prefixes only, revokes one key, rotates another, and refuses what names no live key', async () => {
    const m = await createMerchant(store, random, 'keys');
    const second = await createKey(store, random, clock, m.id);
    expect((await listKeys(store, m.id)).map((k) => [k.prefix, k.revokedAt])).toEqual([
      [m.apiKey.slice(0, 7), null],
      [second.prefix, null],
    ]);
    const auth = new MerchantAuth(store, clock, 10_000);
    expect(await auth.authenticate(m.apiKey)).toBe(m.id);

    await revokeKey(store, clock, m.id, m.apiKey.slice(0, 7));
    // Cached: still accepted until the cache time ends, then refused.
    expect(await auth.authenticate(m.apiKey)).toBe(m.id);
    now += 10_001;
    expect(await auth.authenticate(m.apiKey)).toBeNull();

    const third = await rotateKey(store, random, clock, m.id, second.prefix);
    expect(await auth.authenticate(third.apiKey)).toBe(m.id);
    expect(await auth.authenticate(second.apiKey)).toBeNull();
    expect((await listKeys(store, m.id)).filter((k) => k.revokedAt === null).map((k) => k.prefix)).toEqual([third.prefix]);

    await expect(revokeKey(store, clock, m.id, 'sk_none')).rejects.toBeInstanceOf(ApiKeyError);
    await expect(createKey(store, random, clock, 'mer_missing')).rejects.toBeInstanceOf(ApiKeyError);
    await expect(listKeys(store, 'mer_missing')).rejects.toBeInstanceOf(ApiKeyError);
  });

  it('remembers an unknown key briefly, so a wrong key in a loop costs no database read', async () => {
    let reads = 0;
    const store = new SqlStore(db);
    const counting = Object.assign(Object.create(store) as SqlStore, {
      merchantForKeyHash: (hash: string) => {
        reads++;
        return store.merchantForKeyHash(hash);
      },
    });
    const auth = new MerchantAuth(counting, clock, 10_000);
    for (let i = 0; i < 5; i++) expect(await auth.authenticate('sk_wrong')).toBeNull();
    expect(reads).toBe(1);
    now += 2_001;
    expect(await auth.authenticate('sk_wrong')).toBeNull();
    expect(reads).toBe(2);
  });

  it('shares one database read among the requests that find a key expired at once', async () => {
    const m = await createMerchant(store, random, 'herd');
    let reads = 0;
    const counting = Object.assign(Object.create(store) as SqlStore, {
      merchantForKeyHash: (hash: string) => {
        reads++;
        return store.merchantForKeyHash(hash);
      },
    });
    const auth = new MerchantAuth(counting, clock, 10_000);
    expect(new Set(await Promise.all(Array.from({ length: 50 }, () => auth.authenticate(m.apiKey))))).toEqual(new Set([m.id]));
    expect(reads).toBe(1);
    now += 10_001;
    await Promise.all(Array.from({ length: 50 }, () => auth.authenticate(m.apiKey)));
    expect(reads).toBe(2);
  });
});
