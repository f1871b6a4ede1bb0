/**
 * The Redis fast path believes no answer it cannot tie to its command (src/store/redis/fastPath.ts).
 * A client library that loses one reply in a fault hands every later caller its neighbour's:
 * a GET of key A then returns key B's replay entry. Served, that is a 422 for a key never used
 * or, worse, another payment's answer under A's key. Here the real Redis holds, under A's name,
 * the entry B's finish wrote — what a GET answered out of line returns — and the fast path must
 * call it a miss, drop the connection and be healthy again once it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connectRedis, type RedisClient } from '../../src/store/redis/connect.js';
import { RedisFastPath } from '../../src/store/redis/fastPath.js';
import { parseRedisUrl } from '../../src/config/redisUrl.js';
import { lockKey, replayKey } from '../../src/store/redis/keys.js';
import { REDIS_URL, redisAvailable } from '../support/services.js';
import { waitUntil } from '../support/payments.js';

const ready = await redisAvailable();

describe.skipIf(!ready)('the Redis fast path and answers out of line', () => {
  let client: RedisClient;
  const merchant = `mer_fp_${randomBytes(6).toString('hex')}`;
  const answer = (fingerprint: string) => ({ fingerprint, status: 201, contentType: 'application/json', body: `{"for":"${fingerprint}"}` });

  beforeAll(async () => {
    client = await connectRedis(parseRedisUrl(REDIS_URL));
    await waitUntil('Redis ready', () => client.status === 'ready', 10_000, 20);
  });
  afterAll(async () => {
    await client.del(replayKey(merchant, 'a'), replayKey(merchant, 'b'), replayKey(merchant, 'old')).catch(() => {});
    client.disconnect();
  });

  it('replays an entry that names its own key', async () => {
    const fast = new RedisFastPath(client);
    await fast.finish(merchant, 'a', null, answer('fa'), 60_000);
    expect(await fast.getReplay(merchant, 'a')).toEqual(answer('fa'));
  });

  it("takes another key's entry for a miss, drops the connection once and is healthy when it is back", async () => {
    const told: string[] = [];
    const fast = new RedisFastPath(client, (what) => told.push(what));
    await fast.finish(merchant, 'b', null, answer('fb'), 60_000);
    // A's name now holds B's entry, byte for byte: what a GET of A answered out of line returns.
    await client.set(replayKey(merchant, 'a'), (await client.get(replayKey(merchant, 'b')))!, 'PX', 60_000);

    expect(await fast.getReplay(merchant, 'a')).toBeNull();
    expect(told).toHaveLength(1);
    expect(told[0]).toContain('another key');
    // While it dials again every call is a miss, and no second redial is started.
    expect(fast.healthy).toBe(false);
    expect(await fast.getReplay(merchant, 'b')).toBeNull();
    expect(await fast.tryLock(merchant, 'c', 'tok', 1_000)).toBe('unavailable');
    expect(told).toHaveLength(1);

    await waitUntil('the fast path healthy again', () => fast.healthy, 10_000, 20);
    expect(await fast.getReplay(merchant, 'b')).toEqual(answer('fb'));
    expect(await fast.getReplay(merchant, 'a')).toBeNull();
    // Still out of line on the fresh connection: told again, and dialled again.
    expect(told).toHaveLength(2);
    await waitUntil('the fast path healthy again', () => fast.healthy, 10_000, 20);
  });

  it('takes an entry written before entries named their key for a plain miss', async () => {
    const told: string[] = [];
    const fast = new RedisFastPath(client, (what) => told.push(what));
    await client.set(replayKey(merchant, 'old'), JSON.stringify({ f: 'fo', s: 200, t: 'application/json', b: '{}' }), 'PX', 60_000);
    expect(await fast.getReplay(merchant, 'old')).toBeNull();
    expect(told).toEqual([]);
    expect(fast.healthy).toBe(true);
  });

  it('answers the replay, or else takes the lock, in one script; believes the replay only if it names its key', async () => {
    const told: string[] = [];
    const fast = new RedisFastPath(client, (what) => told.push(what));
    await client.del(lockKey(merchant, 'rl'), replayKey(merchant, 'rl'));
    expect(await fast.replayOrLock(merchant, 'rl', 'tok-1', 60_000)).toBe('acquired');
    expect(await client.get(lockKey(merchant, 'rl'))).toBe('tok-1');
    expect(await fast.replayOrLock(merchant, 'rl', 'tok-2', 60_000)).toBe('busy');
    // Finished: the lock released, the answer cached; the next request gets the answer and takes no lock.
    await fast.finish(merchant, 'rl', 'tok-1', answer('frl'), 60_000);
    expect(await fast.replayOrLock(merchant, 'rl', 'tok-3', 60_000)).toEqual(answer('frl'));
    expect(await client.get(lockKey(merchant, 'rl'))).toBeNull();
    // An entry written before entries named their key: no replay, and the lock was not tried.
    await client.set(replayKey(merchant, 'rl'), JSON.stringify({ f: 'fo', s: 200, t: 'application/json', b: '{}' }), 'PX', 60_000);
    expect(await fast.replayOrLock(merchant, 'rl', 'tok-4', 60_000)).toBe('unavailable');
    expect(told).toEqual([]);
    // Another key's entry under this key's name: a miss, and the connection dialled again.
    await fast.finish(merchant, 'b', null, answer('fb'), 60_000);
    await client.set(replayKey(merchant, 'rl'), (await client.get(replayKey(merchant, 'b')))!, 'PX', 60_000);
    expect(await fast.replayOrLock(merchant, 'rl', 'tok-5', 60_000)).toBe('unavailable');
    expect(told).toHaveLength(1);
    expect(told[0]).toContain('another key');
    await waitUntil('the fast path healthy again', () => fast.healthy, 10_000, 20);
    await client.del(lockKey(merchant, 'rl'), replayKey(merchant, 'rl'));
  });
});
