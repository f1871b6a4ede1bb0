import type { GatewayOperation } from '../../gateways/port.js';
import type { ProbeClaim, ProbeLeaseStore, ProbeSchedule } from '../../resilience/probes.js';
import type { RedisClient } from './connect.js';

/**
 * The probe lease of one gateway × operation (src/resilience/probes.ts): a hash with the end of
 * the current lease, its length and its holder, read and taken in one script so two instances
 * cannot both take it. The schedule's arithmetic is `nextProbeLease`'s; times are Idem's clock.
 */
const CLAIM = `
local now = tonumber(ARGV[1])
local minMs = tonumber(ARGV[2])
local maxMs = tonumber(ARGV[3])
local last = redis.call('HMGET', KEYS[1], 'until', 'gap')
local u = tonumber(last[1])
local g = tonumber(last[2])
if u and now < u then return {0, string.format('%.0f', u), '0'} end
local gap = minMs
if u and g and now <= u + maxMs then gap = math.min(maxMs, g * 2) end
local nu = now + gap
redis.call('HSET', KEYS[1], 'until', string.format('%.0f', nu), 'gap', string.format('%.0f', gap), 'holder', ARGV[4])
redis.call('PEXPIRE', KEYS[1], gap + maxMs + 60000)
return {1, string.format('%.0f', nu), string.format('%.0f', gap)}
`;

type WithClaim = RedisClient & { idemProbeClaim(key: string, now: number, minMs: number, maxMs: number, holder: string): Promise<[number, string, string]> };

/** Probe leases on Redis (one server or a cluster: one key a lease). */
export class RedisProbeLeases implements ProbeLeaseStore {
  readonly name = 'redis';

  constructor(
    private readonly redis: RedisClient,
    /** Per database, as the observation stream: instances that share a database share leases. */
    private readonly prefix = 'idem:probe-lease',
  ) {
    if (!('idemProbeClaim' in redis)) redis.defineCommand('idemProbeClaim', { numberOfKeys: 1, lua: CLAIM });
  }

  async claim(gateway: string, operation: GatewayOperation, holder: string, now: number, schedule: ProbeSchedule): Promise<ProbeClaim> {
    // Away: the next store (PostgreSQL) holds the leases.
    if (this.redis.status !== 'ready') throw new Error(`redis is ${this.redis.status}`);
    try {
      const [granted, until, gapMs] = await (this.redis as WithClaim).idemProbeClaim(`${this.prefix}:${gateway}:${operation}`, now, schedule.minMs, schedule.maxMs, holder);
      return granted === 1 ? { granted: true, until: Number(until), gapMs: Number(gapMs) } : { granted: false, until: Number(until) };
    } catch (err) {
      // Connected but no answer in time: the script may have granted the lease, so no other
      // store may grant this interval as well. No probe now; ask again a short interval on.
      if (this.redis.status === 'ready') return { granted: false, until: now + schedule.minMs };
      throw err;
    }
  }
}
