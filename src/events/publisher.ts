import type { Runtime } from '../ports/clock.js';
import { startPass, type PassObserver, type PassOutcome } from '../ports/passes.js';
import { eventView, type StoredEvent } from './model.js';
import type { EventStore } from './store.js';

/**
 * Where a stream publisher sends events (NATS JetStream: src/outbound/nats.ts). `publish`
 * resolves only when the broker has stored the message (its ack), and rejects otherwise; the
 * broker deduplicates on `msgId`.
 */
export interface EventSink {
  publish(subject: string, msgId: string, body: string): Promise<void>;
}

export interface StreamPublisherOptions {
  store: Pick<EventStore, 'claimPublisher' | 'listFeed' | 'advancePublisher'>;
  runtime: Runtime;
  sink: EventSink;
  /** The cursor's name in `event_publishers`: one per sink. */
  name: string;
  intervalMs: number;
  /** How long an idle publisher backs off to between looks (default: `intervalMs`); positioned events wake it. */
  idleMaxMs?: number;
  observePass?: PassObserver;
  /** Lease on the cursor: one instance publishes at a time. */
  leaseMs: number;
  /** Events published per round, all awaited before the cursor moves. */
  batch?: number;
  log?: { warn(obj: object, msg: string): void };
  /** After every round that moved the cursor, with what it published. */
  onPublished?: (events: StoredEvent[]) => void;
}

export interface StreamPublisher {
  /** Publishes now (after events were positioned, say). */
  kick(): void;
  stop(): Promise<void>;
}

/** `idem.<merchant>.<event type>`; events with no merchant go under `idem._system.`. */
export function subjectOf(e: Pick<StoredEvent, 'merchantId' | 'type'>): string {
  return `idem.${e.merchantId ?? '_system'}.${e.type}`;
}

/**
 * Publishes every positioned event, in feed order, to a stream (docs/events.md, "NATS
 * JetStream"). It holds a leased, fenced cursor in `event_publishers`, so one instance
 * publishes at a time, and moves it only after the broker acknowledged every event up to the
 * new position: a crash (of Idem or of the broker) before that republishes from the old
 * position, and the broker's deduplication on the event id (`Nats-Msg-Id`) keeps one copy.
 *
 *   publish 101..356 ── acks ── advance cursor to 356        (normal round)
 *   publish 357..612 ── ╳ broker restarts, some acks lost ── cursor stays at 356
 *   publish 357..612 again ── duplicates dropped by msg id ── advance to 612
 */
export function startStreamPublisher(o: StreamPublisherOptions): StreamPublisher {
  const { store, runtime } = o;
  const batch = o.batch ?? 256;
  let held: { position: number; fence: number; renewedAt: number } | null = null;
  /** One round: 'more' when it filled its batch (more may be waiting). */
  async function publishRound(): Promise<PassOutcome> {
    const now = runtime.clock.now();
    if (!held) {
      const got = await store.claimPublisher(o.name, now, o.leaseMs);
      if (!got) return 'idle'; // another instance publishes
      held = { ...got, renewedAt: now };
    }
    const events = await store.listFeed(null, held.position, batch);
    if (events.length === 0) {
      if (now - held.renewedAt > o.leaseMs / 3) await advance(held.position);
      return 'idle';
    }
    await Promise.all(events.map((e) => o.sink.publish(subjectOf(e), e.id, JSON.stringify(eventView(e)))));
    if (!(await advance(events.at(-1)!.position!))) return 'idle';
    o.onPublished?.(events);
    return events.length === batch ? 'more' : 'worked';
  }

  async function advance(position: number): Promise<boolean> {
    const now = runtime.clock.now();
    if (!held) return false;
    if (!(await store.advancePublisher(o.name, held.fence, position, now + o.leaseMs))) {
      held = null; // the lease was lost: another instance took over
      return false;
    }
    held = { ...held, position, renewedAt: now };
    return true;
  }

  const passes = startPass({
    name: `events.publisher.${o.name}`,
    runtime,
    run: publishRound,
    intervalMs: o.intervalMs,
    // Holding the cursor, it must renew the lease before a third of it is gone.
    idleMaxMs: Math.min(o.idleMaxMs ?? o.intervalMs, o.leaseMs / 4),
    observe: o.observePass,
    onError: (err) => o.log?.warn({ publisher: o.name, err: { message: (err as Error).message } }, 'event publishing failed; will publish again'),
  });
  return {
    kick: passes.kick,
    async stop() {
      await passes.stop();
      // Let another instance take over at once.
      if (held) await store.advancePublisher(o.name, held.fence, held.position, runtime.clock.now()).catch(() => {});
    },
  };
}
