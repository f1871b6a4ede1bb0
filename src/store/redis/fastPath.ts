import type { CachedResponse, FastPath, LockResult } from '../../idempotency/fastpath.js';
import type { RedisClient } from './connect.js';
import { lockKey, replayKey } from './keys.js';

const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** The replay entry (KEYS[1]) as {1, entry}; else the lock (KEYS[2]) taken, {2}, or held by another, {3}. */
const REPLAY_OR_LOCK = `local v = redis.call('get', KEYS[1])
if v then return {1, v} end
if redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return {2} end
return {3}`;

/** A replay entry as stored: the key it answers travels with it (`k`), so a reply can prove it. */
interface ReplayEntry {
  k?: string;
  f: string;
  s: number;
  t: string;
  b: string;
}

/**
 * Redis (one server or a cluster): `SET NX PX` lock, replay entries with the key's remaining
 * retention as TTL. A key's lock and replay entry share a hash tag (./keys.ts), so the pipeline
 * in `finish` and the unlock script touch one slot.
 *
 * Every answer is checked for its shape before it is believed: a replay entry must name the
 * key it was read for, a lock answer must be `OK` or nil, an existence count a number. An
 * answer of another shape means the connection's replies no longer line up with its commands
 * (a client library that lost one in a fault would hand every later caller its neighbour's
 * reply): the call is a miss (`null`, `'unavailable'`), Idem goes on to PostgreSQL, and the
 * connection is dropped and dialled again, once until it is ready again. A replay of another
 * key's answer, or a 422 for a key never used, is never served (docs/architecture.md).
 */
export class RedisFastPath implements FastPath {
  private redialling = false;

  constructor(
    private readonly redis: RedisClient,
    /** Told when answers stopped lining up with commands and the connection is dialled again. */
    private readonly onMisaligned: (what: string) => void = () => {},
  ) {
    if (!('idemUnlock' in redis)) redis.defineCommand('idemUnlock', { numberOfKeys: 1, lua: UNLOCK });
    if (!('idemReplayOrLock' in redis)) redis.defineCommand('idemReplayOrLock', { numberOfKeys: 2, lua: REPLAY_OR_LOCK });
    redis.on('ready', () => {
      this.redialling = false;
    });
  }

  get healthy(): boolean {
    return this.redis.status === 'ready' && !this.redialling;
  }

  async getReplay(merchantId: string, key: string): Promise<CachedResponse | null> {
    if (!this.healthy) return null;
    let raw: unknown;
    try {
      raw = await this.redis.get(replayKey(merchantId, key));
    } catch {
      return null;
    }
    return raw === null ? null : this.entry(raw, merchantId, key);
  }

  /** A replay entry read for the key, believed only if it names that key. */
  private entry(raw: unknown, merchantId: string, key: string): CachedResponse | null {
    let v: ReplayEntry;
    try {
      v = JSON.parse(raw as string) as ReplayEntry;
    } catch {
      this.misaligned(`GET ${replayKey(merchantId, key)} answered something that is not a replay entry`);
      return null;
    }
    // An entry written before entries named their key: a miss, answered from PostgreSQL.
    if (v?.k === undefined) return null;
    if (v.k !== entryName(merchantId, key)) {
      this.misaligned(`GET ${replayKey(merchantId, key)} answered the entry of another key`);
      return null;
    }
    return { fingerprint: v.f, status: v.s, contentType: v.t, body: v.b };
  }

  async replayOrLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<CachedResponse | LockResult> {
    if (!this.healthy) return 'unavailable';
    let answer: unknown;
    try {
      const run = (this.redis as unknown as { idemReplayOrLock(r: string, l: string, t: string, ms: number): Promise<unknown> }).idemReplayOrLock;
      answer = await run.call(this.redis, replayKey(merchantId, key), lockKey(merchantId, key), token, ttlMs);
    } catch {
      return 'unavailable';
    }
    const [kind, raw] = Array.isArray(answer) ? (answer as [unknown, unknown]) : [];
    if (kind === 2) return 'acquired';
    if (kind === 3) return 'busy';
    if (kind === 1) {
      const cached = this.entry(raw, merchantId, key);
      // An entry from before entries named their key, or a misaligned reply: the lock was not
      // tried; PostgreSQL answers (as with Redis away).
      return cached ?? 'unavailable';
    }
    this.misaligned(`the replay-or-lock script for ${lockKey(merchantId, key)} answered ${JSON.stringify(answer)?.slice(0, 40)}`);
    return 'unavailable';
  }

  async tryLock(merchantId: string, key: string, token: string, ttlMs: number): Promise<LockResult> {
    if (!this.healthy) return 'unavailable';
    let ok: unknown;
    try {
      ok = await this.redis.set(lockKey(merchantId, key), token, 'PX', ttlMs, 'NX');
    } catch {
      return 'unavailable';
    }
    if (ok === 'OK') return 'acquired';
    if (ok === null) return 'busy';
    this.misaligned(`SET NX ${lockKey(merchantId, key)} answered ${typeof ok}`);
    return 'unavailable';
  }

  async known(merchantId: string, key: string): Promise<'known' | 'unknown' | 'unavailable'> {
    if (!this.healthy) return 'unavailable';
    let n: unknown;
    try {
      // One round trip: both names share the key's hash tag, so one slot on a cluster.
      n = await this.redis.exists(replayKey(merchantId, key), lockKey(merchantId, key));
    } catch {
      return 'unavailable';
    }
    if (typeof n !== 'number') {
      this.misaligned(`EXISTS ${replayKey(merchantId, key)} answered ${typeof n}`);
      return 'unavailable';
    }
    return n > 0 ? 'known' : 'unknown';
  }

  async finish(merchantId: string, key: string, token: string | null, response: CachedResponse | null, ttlMs: number): Promise<void> {
    if (!this.healthy) return;
    const p = this.redis.pipeline();
    if (response) {
      const entry: ReplayEntry = { k: entryName(merchantId, key), f: response.fingerprint, s: response.status, t: response.contentType, b: response.body };
      p.set(replayKey(merchantId, key), JSON.stringify(entry), 'PX', Math.max(1, ttlMs));
    }
    if (token !== null) (p as unknown as { idemUnlock(k: string, t: string): void }).idemUnlock(lockKey(merchantId, key), token);
    await p.exec().catch(() => {});
  }

  /** Drops the connection (every call a miss meanwhile) and dials again, once until it is ready. */
  private misaligned(what: string): void {
    if (this.redialling) return;
    this.redialling = true;
    this.onMisaligned(what);
    this.redis.disconnect(true);
  }
}

/** What a replay entry names: the merchant and the key, as the entry's Redis name holds them. */
function entryName(merchantId: string, key: string): string {
  return `${merchantId}:${key}`;
}
