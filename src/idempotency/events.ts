import type { Redis } from 'ioredis';
import pg from 'pg';
import type { Timers } from '../ports/clock.js';

/**
 * Wakes requests held on a key when that key changes (completed or released), on this
 * instance and on every other. Watching is a local registration, cheap enough to do for every
 * held request; one remote subscription per instance carries every key's changes.
 */
export interface KeyEvents {
  watch(merchantId: string, key: string, onChange: () => void): () => void;
  /** Best effort: a lost notice only delays waiters until their own timer. */
  publish(merchantId: string, key: string): Promise<void>;
  /** False while the remote channel is down; waiters then re-check on a short timer instead. */
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** In-process delivery: the embedded mode's whole notifier, and the local half of the others. */
export class LocalKeyEvents implements KeyEvents {
  private readonly watchers = new Map<string, Set<() => void>>();
  readonly healthy: boolean = true;

  watch(merchantId: string, key: string, onChange: () => void): () => void {
    const id = channelId(merchantId, key);
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    };
  }

  /** Wakes local watchers of the key named by `id`. */
  deliver(id: string): void {
    const set = this.watchers.get(id);
    if (set) for (const fn of [...set]) fn();
  }

  /**
   * Wakes every local watcher. For a remote channel that was just lost: notices sent while it
   * is down never arrive, so waiters re-check now and then wait on the short degraded timer.
   */
  deliverAll(): void {
    for (const set of [...this.watchers.values()]) for (const fn of [...set]) fn();
  }

  async publish(merchantId: string, key: string): Promise<void> {
    this.deliver(channelId(merchantId, key));
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}

const REDIS_CHANNEL = 'idem:keys';

/** Redis pub/sub: one subscriber connection per instance on one channel. */
export class RedisKeyEvents implements KeyEvents {
  private readonly local = new LocalKeyEvents();
  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
  ) {}

  static async connect(publisher: Redis): Promise<RedisKeyEvents> {
    const subscriber = publisher.duplicate({ enableOfflineQueue: true });
    subscriber.on('error', () => {});
    const events = new RedisKeyEvents(publisher, subscriber);
    subscriber.on('message', (_channel: string, id: string) => events.local.deliver(id));
    // A waiter that started while the channel was up set a long timer; without this it would
    // sleep through a completion whose notice died with the connection (status is already
    // not 'ready' when 'close' is emitted, so it re-waits on the degraded timer).
    subscriber.on('close', () => events.local.deliverAll());
    // autoResubscribe (ioredis default) re-subscribes after a reconnect.
    await subscriber.subscribe(REDIS_CHANNEL).catch(() => {});
    return events;
  }

  get healthy(): boolean {
    return this.subscriber.status === 'ready' && this.publisher.status === 'ready';
  }

  watch(merchantId: string, key: string, onChange: () => void): () => void {
    return this.local.watch(merchantId, key, onChange);
  }

  async publish(merchantId: string, key: string): Promise<void> {
    const id = channelId(merchantId, key);
    this.local.deliver(id);
    await this.publisher.publish(REDIS_CHANNEL, id).catch(() => {});
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.local.close();
  }
}

const PG_CHANNEL = 'idem_keys';

/** PostgreSQL LISTEN/NOTIFY, for production without Redis. */
export class PgKeyEvents implements KeyEvents {
  private readonly local = new LocalKeyEvents();
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnecting = false;

  private constructor(
    private readonly connectionString: string,
    private readonly notify: (payload: string) => Promise<void>,
    private readonly timers: Timers,
    private readonly retryMs: number,
  ) {}

  static async connect(
    connectionString: string,
    notify: (payload: string) => Promise<void>,
    timers: Timers,
    retryMs = 1000,
  ): Promise<PgKeyEvents> {
    const events = new PgKeyEvents(connectionString, notify, timers, retryMs);
    await events.listen();
    return events;
  }

  get healthy(): boolean {
    return this.listener !== null;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'idem-listen' });
    client.on('notification', (msg) => {
      if (msg.payload) this.local.deliver(msg.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    await client.query(`LISTEN ${PG_CHANNEL}`);
    this.listener = client;
  }

  private lost(client: pg.Client): void {
    if (this.listener === client) {
      this.listener = null;
      // Same as Redis: waiters holding a long timer must re-check while notices can't arrive.
      this.local.deliverAll();
    }
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    const retry = () => {
      if (this.closed) return;
      this.listen().then(
        () => (this.reconnecting = false),
        () => void this.timers.after(this.retryMs, retry),
      );
    };
    this.timers.after(this.retryMs, retry);
  }

  watch(merchantId: string, key: string, onChange: () => void): () => void {
    return this.local.watch(merchantId, key, onChange);
  }

  async publish(merchantId: string, key: string): Promise<void> {
    const id = channelId(merchantId, key);
    this.local.deliver(id);
    await this.notify(id).catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.local.close();
  }
}

/** Merchant ids never contain a space, so the first space separates them from the key. */
function channelId(merchantId: string, key: string): string {
  return merchantId + ' ' + key;
}

export const pgNotifyChannel = PG_CHANNEL;
