import { Redis, type Cluster } from 'ioredis';
import { LocalKeyEvents, keyChannelId, type KeyEvents } from '../../idempotency/events.js';
import { doneChannel, hashSlot } from './keys.js';

/** One key's shard channel, subscribed on its shard while at least one request here waits on it. */
interface Subscription {
  channel: string;
  /** `keyChannelId` of the key: what its notices carry. */
  id: string;
  node: string;
  watchers: number;
  state: 'pending' | 'live' | 'lost';
  /** True once notices for the key reach this instance; false when they cannot now. */
  live: Promise<boolean>;
}

interface NodeSubscriber {
  redis: Redis;
  /** The first connection attempt's outcome: later subscribes never wait for a node that is down. */
  firstReady: Promise<boolean>;
}

/**
 * Key-change notices on a Redis Cluster, over sharded pub/sub (Redis 7): a completion is
 * `SPUBLISH`ed on `idem:{<merchant>:<key>}:done`, the key's own shard, and an instance with a
 * request held on that key has `SSUBSCRIBE`d that channel on that shard. Notices never cross
 * the cluster bus, and a shard that dies takes with it only the notices of its own keys, as it
 * takes their locks and replay entries.
 *
 * Subscriptions are made per held key (shared by the requests of this instance that wait on
 * it) on one plain connection per shard, which this class owns: it knows when a subscription
 * is confirmed and when a shard's connection drops, which ioredis's own sharded-subscriber
 * group does not tell. A held request therefore starts waiting only once its key's notices
 * can reach it (`listening`); when they cannot (the shard is down, the subscribe failed or
 * timed out) the gate re-checks on its short timer instead, and when a shard's connection
 * drops, every request waiting on one of its keys is woken at once to do the same. Notices
 * lost without a sign are covered by a 1 s re-read of the key (`recheckMs`).
 *
 *   held ── watch: SSUBSCRIBE on the key's shard ── listening? ── read row ── wait(notice | timer)
 *   owner ── complete in PostgreSQL ── SPUBLISH on the key's shard ──▶ this instance's watchers
 */
export class ClusterKeyEvents implements KeyEvents {
  private readonly local = new LocalKeyEvents();
  private readonly nodes = new Map<string, NodeSubscriber>();
  private readonly subscriptions = new Map<string, Subscription>();
  private closed = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly timeoutMs = 1000,
    /**
     * A subscription can go deaf without its connection dropping: a shard that gives its slots
     * to another node unsubscribes their channels silently, and a publish refused with
     * CLUSTERDOWN is lost while the subscriptions stay up. Held requests re-read their key
     * this often (1 s) as well as on notices, so such a loss costs a second, not the hold.
     */
    readonly recheckMs = 1000,
  ) {}

  get healthy(): boolean {
    return this.cluster.status === 'ready';
  }

  watch(merchantId: string, key: string, onChange: () => void): () => void {
    const unwatchLocal = this.local.watch(merchantId, key, onChange);
    const channel = doneChannel(merchantId, key);
    let sub = this.subscriptions.get(channel);
    if (!sub || sub.state === 'lost') {
      sub = this.subscribe(channel, keyChannelId(merchantId, key));
      if (sub.state !== 'lost') this.subscriptions.set(channel, sub);
    }
    sub.watchers++;
    const held = sub;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      unwatchLocal();
      held.watchers--;
      // A pending subscribe is let go when it answers (`subscribe`), so an SSUBSCRIBE and its
      // SUNSUBSCRIBE always go out in that order on the shard's connection.
      if (held.watchers === 0 && held.state === 'live') this.unsubscribe(held);
    };
  }

  listening(merchantId: string, key: string): Promise<boolean> {
    return this.subscriptions.get(doneChannel(merchantId, key))?.live ?? Promise.resolve(false);
  }

  async publish(merchantId: string, key: string): Promise<void> {
    const id = keyChannelId(merchantId, key);
    this.local.deliver(id);
    await this.cluster.spublish(doneChannel(merchantId, key), id).catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { redis } of this.nodes.values()) redis.disconnect();
    this.nodes.clear();
    this.subscriptions.clear();
    await this.local.close();
  }

  private subscribe(channel: string, id: string): Subscription {
    const node = this.cluster.slots[hashSlot(channel)]?.[0];
    const sub: Subscription = { channel, id, node: node ?? '', watchers: 0, state: 'pending', live: Promise.resolve(false) };
    if (node === undefined || this.closed) {
      sub.state = 'lost';
      return sub;
    }
    const shard = this.node(node);
    sub.live = (async () => {
      let ok = false;
      try {
        if (shard.redis.status !== 'ready') await shard.firstReady;
        // enableOfflineQueue is off: on a connection that is not up this fails at once.
        if (shard.redis.status === 'ready') ok = await within(shard.redis.ssubscribe(channel).then(() => true), this.timeoutMs, false);
      } catch (err) {
        // MOVED: the slot has another owner now; the next subscribe asks the fresh slot map.
        if (/^MOVED /.test((err as Error).message)) this.cluster.refreshSlotsCache();
      }
      if (sub.state === 'lost') return false;
      sub.state = ok ? 'live' : 'lost';
      if (!ok && this.subscriptions.get(channel) === sub) this.subscriptions.delete(channel);
      if (ok && sub.watchers === 0) this.unsubscribe(sub);
      return ok;
    })();
    return sub;
  }

  private unsubscribe(sub: Subscription): void {
    if (this.subscriptions.get(sub.channel) === sub) this.subscriptions.delete(sub.channel);
    sub.state = 'lost';
    const redis = this.nodes.get(sub.node)?.redis;
    if (redis?.status === 'ready') redis.sunsubscribe(sub.channel).catch(() => {});
  }

  /** The subscriber connection to `node` ("host:port"), opened on first use. */
  private node(node: string): NodeSubscriber {
    let shard = this.nodes.get(node);
    if (shard) return shard;
    const colon = node.lastIndexOf(':');
    const redis = new Redis({
      ...this.cluster.options.redisOptions,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.timeoutMs,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    redis.on('error', () => {});
    redis.on('smessage', (_channel: string, id: string) => this.local.deliver(id));
    // The shard's notices stop with its connection: its waiters re-check now and then wait on
    // the gate's short timer (their next subscribe fails at once until the shard is back).
    redis.on('close', () => this.lost(node));
    const firstReady = new Promise<boolean>((resolve) => {
      redis.once('ready', () => resolve(true));
      redis.once('close', () => resolve(false));
      setTimeout(() => resolve(false), this.timeoutMs).unref();
    });
    shard = { redis, firstReady };
    this.nodes.set(node, shard);
    return shard;
  }

  private lost(node: string): void {
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.node !== node) continue;
      sub.state = 'lost';
      this.subscriptions.delete(sub.channel);
      this.local.deliver(sub.id);
    }
  }
}

function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}
