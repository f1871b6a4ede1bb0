import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { EventSink } from '../events/publisher.js';

/** The stream every event is published to (docs/events.md). */
export const NATS_STREAM = 'IDEM_EVENTS';

export interface NatsSinkOptions {
  url: string;
  /** Wait for one ack at most this long. */
  ackTimeoutMs?: number;
  /** How long the broker remembers message ids for deduplication; must outlast a republish. */
  duplicateWindowMs?: number;
  onStatus?: (what: string) => void;
}

/**
 * Publishes to NATS JetStream: stream `IDEM_EVENTS` on subjects `idem.>`, each message with
 * `Nats-Msg-Id` = the event id so the broker drops a republished copy. The connection
 * reconnects for ever; the stream is created if missing (also after a broker lost its store).
 */
export function connectNatsSink(o: NatsSinkOptions): EventSink & { close(): Promise<void> } {
  // Idem starts whether or not NATS is up: publishing waits for the connection, the cursor
  // waits with it, and nothing is lost meanwhile.
  // Once connected the client reconnects on its own, for ever; until then this loop retries.
  let closed = false;
  const connecting: Promise<{ nc: NatsConnection; js: JetStreamClient }> = (async () => {
    for (;;) {
      try {
        const nc = await connect({ servers: o.url, name: 'idem', reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
        // The client reports a lost server here, never as a thrown error or an `error` event;
        // the catch keeps an iterator ending in error from becoming an unhandled rejection.
        void (async () => {
          for await (const s of nc.status()) o.onStatus?.(s.type);
        })().catch(() => {});
        return { nc, js: jetstream(nc) };
      } catch (err) {
        if (closed) throw err;
        o.onStatus?.('connect failed');
        await new Promise((r) => setTimeout(r, 500).unref());
        if (closed) throw new Error('closed before NATS was reached');
      }
    }
  })();
  connecting.catch(() => {});
  let ensured: Promise<void> | null = null;
  const windowNs = (o.duplicateWindowMs ?? 10 * 60_000) * 1_000_000;

  async function ensureStream(): Promise<void> {
    const { nc } = await connecting;
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(NATS_STREAM);
    } catch {
      await jsm.streams.add({ name: NATS_STREAM, subjects: ['idem.>'], duplicate_window: windowNs });
    }
  }

  return {
    async publish(subject, msgId, body) {
      const { js } = await connecting;
      ensured ??= ensureStream().catch((err) => {
        ensured = null;
        throw err;
      });
      await ensured;
      try {
        await js.publish(subject, body, { msgID: msgId, timeout: o.ackTimeoutMs ?? 5_000 });
      } catch (err) {
        ensured = null; // look for the stream again before the next try
        throw err;
      }
    },
    async close() {
      closed = true;
      const c = await connecting.catch(() => null);
      await c?.nc.drain().catch(() => c.nc.close());
    },
  };
}
