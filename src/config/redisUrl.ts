import { ConfigError, redact } from './configError.js';

/** Where Redis is: one server, or the seed nodes of a Redis Cluster (README, "Redis Cluster"). */
export type RedisTarget =
  | { mode: 'single'; url: string }
  | {
      mode: 'cluster';
      /** Seed nodes: any reachable one tells Idem the whole cluster's layout. */
      nodes: Array<{ host: string; port: number }>;
      username: string | undefined;
      password: string | undefined;
      /** `rediss+cluster://`: TLS to every node. */
      tls: boolean;
    };

/**
 * `REDIS_URL`: `redis://` or `rediss://` for one server (any URL ioredis reads), or
 * `redis+cluster://[user[:password]@]host:port[,host:port…]` (`rediss+cluster://` for TLS) for
 * a Redis Cluster, listing one or more seed nodes. A cluster has one database, so no path
 * other than `/` or `/0`, and no query string.
 *
 * @example
 *   parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7000')
 *   // → { mode: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], tls: false, … }
 */
export function parseRedisUrl(raw: string): RedisTarget {
  const url = raw.trim();
  const cluster = /^(rediss?)\+cluster:\/\/(.*)$/i.exec(url);
  if (!cluster) {
    if (!/^rediss?:\/\//i.test(url)) {
      throw new ConfigError(`REDIS_URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster:// (got "${redact(url)}")`, 'REDIS_URL_INVALID');
    }
    if (/^rediss?:\/\/[^/?#]*,/i.test(url)) {
      throw new ConfigError(`REDIS_URL lists several hosts: for a Redis Cluster write redis+cluster://host1:port1,host2:port2 (got "${redact(url)}")`, 'REDIS_URL_INVALID');
    }
    return { mode: 'single', url };
  }
  const tls = cluster[1]!.toLowerCase() === 'rediss';
  let rest = cluster[2]!;
  if (/[?#]/.test(rest)) throw new ConfigError(`REDIS_URL: a cluster URL takes no query string or fragment (got "${redact(url)}")`, 'REDIS_URL_INVALID');
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const path = rest.slice(slash);
    if (path !== '/' && path !== '/0') throw new ConfigError(`REDIS_URL: a Redis Cluster has only database 0 (got path "${path}")`, 'REDIS_URL_INVALID');
    rest = rest.slice(0, slash);
  }
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    const user = colon >= 0 ? auth.slice(0, colon) : auth;
    username = user === '' ? undefined : decodeURIComponent(user);
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  if (rest === '') throw new ConfigError('REDIS_URL: a cluster URL needs at least one host:port', 'REDIS_URL_INVALID');
  const seen = new Set<string>();
  const nodes = rest.split(',').map((part, i) => {
    const node = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(part.trim());
    const port = node?.[3] === undefined ? 6379 : Number(node[3]);
    if (!node || port < 1 || port > 65_535) {
      throw new ConfigError(`REDIS_URL: cluster node ${i + 1} must be host:port (got "${part}")`, 'REDIS_CLUSTER_NODE_INVALID');
    }
    const host = node[1] ?? node[2]!;
    const id = `${host.toLowerCase()}:${port}`;
    if (seen.has(id)) throw new ConfigError(`REDIS_URL: cluster node ${id} is listed twice`, 'REDIS_CLUSTER_NODE_INVALID');
    seen.add(id);
    return { host, port };
  });
  return { mode: 'cluster', nodes, username, password, tls };
}
