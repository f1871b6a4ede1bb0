import pg from 'pg';
import type { Queryable } from '../../db/database.js';
import { LocalKeyEvents, keyChannelId, type KeyEvents } from '../../idempotency/events.js';
import type { Timers } from '../../ports/clock.js';

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
    // For the client's whole life, set before it connects: an `error` without a listener (the
    // database restarted under a LISTEN) would end the process.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${PG_CHANNEL}`);
    } catch (err) {
      // Connected but not listening (the server went away in between): not left open.
      await client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
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
    const id = keyChannelId(merchantId, key);
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

export const pgNotifyChannel = PG_CHANNEL;

/** `PgKeyEvents`' notify over a pooled connection: `NOTIFY` on the channel every instance listens to. */
export function notifyOver(db: Queryable): (payload: string) => Promise<void> {
  return async (payload) => {
    await db.query('SELECT pg_notify($1, $2)', [PG_CHANNEL, payload]);
  };
}
