import type { Runtime } from '../ports/clock.js';
import { startPass, type PassObserver, type PassOutcome } from '../ports/passes.js';
import type { Tracer } from '../ports/tracing.js';
import type { Transactional } from '../ports/transaction.js';
import type { EventStore } from './store.js';

export interface EventRelayOptions {
  store: Transactional<Pick<EventStore, 'positionEvents'>>;
  runtime: Runtime;
  /** The shortest gap between passes while events keep coming. */
  intervalMs: number;
  /** The longest an idle relay sleeps between looks when nothing wakes it (events written here wake it). */
  idleMaxMs?: number;
  /** Events positioned per transaction. */
  batch?: number;
  log?: { warn(obj: object, msg: string): void };
  tracer?: Tracer;
  observe?: PassObserver;
}

export interface EventRelay {
  /** Called after every pass that positioned events (wakes the stream readers, the delivery worker). */
  onPositioned(listener: () => void): () => void;
  /** Events were written: position them now (at most one pass per `intervalMs` under load). */
  kick(): void;
  /** One pass until nothing is left; returns how many events it positioned. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}
/**
 * Gives committed events their feed position, one pass at a time across every instance (the
 * store holds the feed head's lock until commit), fanning each out to its merchant's webhook
 * endpoints in the same transaction (docs/events.md, "Delivery"). A reader paging by position
 * can never skip an event: positions are given only to committed events, in order, and never
 * below one already given.
 *
 *   payment tx A  ── insert event (id 7) ─────────────── commit
 *   payment tx B  ── insert event (id 8) ── commit
 *   relay pass 1                                  position 8 → 101   (7 is not visible yet)
 *   relay pass 2                                                          position 7 → 102
 *
 * Per payment the order holds anyway: its transactions are serialized by its row lock, so an
 * event becomes visible only after every earlier event of the same payment did.
 */
export function startEventRelay(o: EventRelayOptions): EventRelay {
  const { store, runtime } = o;
  const batch = o.batch ?? 500;
  const listeners = new Set<() => void>();
  let stopping = false;
  let positioned = 0;

  async function position(): Promise<PassOutcome> {
    const r = await store.transaction((tx) => tx.positionEvents(new Date(runtime.clock.now()), batch));
    positioned += r.positioned;
    if (r.positioned > 0) for (const l of listeners) l();
    return r.positioned >= batch && !stopping ? 'more' : r.positioned > 0 ? 'worked' : 'idle';
  }

  const pass = startPass({
    name: 'events.relay',
    runtime,
    run: position,
    intervalMs: o.intervalMs,
    idleMaxMs: o.idleMaxMs,
    minGapMs: o.intervalMs,
    tracer: o.tracer,
    observe: o.observe,
    onError: (err) => o.log?.warn({ err: { message: (err as Error).message } }, 'event positioning failed; will retry'),
  });

  return {
    onPositioned(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    kick: pass.kick,
    async runOnce() {
      const before = positioned;
      while ((await pass.runOnce()) === 'more');
      return positioned - before;
    },
    async stop() {
      stopping = true;
      await pass.stop();
    },
  };
}
