import { Cluster, Redis } from 'ioredis';
import type { RedisTarget } from '../../config/config.js';

/** A connection to one Redis server or to a Redis Cluster: Idem's Redis adapters take either. */
export type RedisClient = Redis | Cluster;

/** Per-command limits: Redis is an accelerator, so a call that cannot answer soon is a miss. */
const COMMAND_TIMEOUT_MS = 1000;

/**
 * Opens the connection `REDIS_URL` names, failing fast: no offline queue, one retry, a 1 s
 * command timeout. Connects in the background; while Redis (or a shard) is away, commands
 * fail at once and Idem serves from PostgreSQL alone.
 *
 * On a cluster, MOVED and ASK are followed (a resharding is routine), but a command for a
 * shard that is down, or for a cluster that says CLUSTERDOWN, is not retried (ioredis would
 * otherwise retry it every 100 ms up to 16 times): the gate goes on to PostgreSQL instead.
 * Node connections are not re-dialled on their own; the next command for their slots finds
 * the node again through the slot map once it is back.
 */
export async function connectRedis(target: RedisTarget): Promise<RedisClient> {
  // Auto-pipelining: commands issued in the same tick (concurrent requests' replay lookups)
  // leave in one write instead of one each.
  const node = { maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS, enableAutoPipelining: true };
  const client: RedisClient =
    target.mode === 'single'
      ? new Redis(target.url, { ...node, lazyConnect: true, enableOfflineQueue: false, retryStrategy: (times) => Math.min(times * 100, 1000) })
      : new Cluster(target.nodes, {
          lazyConnect: true,
          enableOfflineQueue: false,
          retryDelayOnFailover: 0,
          retryDelayOnClusterDown: 0,
          retryDelayOnTryAgain: 0,
          slotsRefreshTimeout: COMMAND_TIMEOUT_MS,
          clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
          enableAutoPipelining: true,
          redisOptions: {
            ...node,
            connectTimeout: COMMAND_TIMEOUT_MS,
            ...(target.username !== undefined ? { username: target.username } : {}),
            ...(target.password !== undefined ? { password: target.password } : {}),
            ...(target.tls ? { tls: {} } : {}),
          },
        });
  // Redis is an accelerator: while it is away Idem serves from PostgreSQL alone.
  client.on('error', () => {});
  if (client instanceof Cluster) client.on('node error', () => {});
  await client.connect().catch(() => {});
  return client;
}
