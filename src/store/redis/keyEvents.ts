import type { Redis } from 'ioredis';
import { LocalKeyEvents, keyChannelId, type KeyEvents } from '../../idempotency/events.js';

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
    const id = keyChannelId(merchantId, key);
    this.local.deliver(id);
    await this.publisher.publish(REDIS_CHANNEL, id).catch(() => {});
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.local.close();
  }
}
