import type { Runtime } from '../ports/clock.js';
import type { Store } from '../store/port.js';

export interface EventRelayOptions {
  store: Store;
  runtime: Runtime;
  /** How often to look for committed events without a feed position. */
  intervalMs: number;
  /** Events positioned per transaction. */
  batch?: number;
  log?: { warn(obj: object, msg: string): void };
}

export interface EventRelay {
  /** Called after every pass that positioned events (wakes the stream readers, the delivery worker). */
  onPositioned(listener: () => void): () => void;
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
  let pass: Promise<number> | null = null;
  let stopped = false;

  async function runOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const { positioned } = await store.transaction((tx) => tx.positionEvents(new Date(runtime.clock.now()), batch));
      total += positioned;
      if (positioned > 0) for (const l of listeners) l();
      if (positioned < batch || stopped) return total;
    }
  }

  const cancel = runtime.timers.every(o.intervalMs, () => {
    if (pass || stopped) return;
    pass = runOnce()
      .catch((err) => {
        o.log?.warn({ err: { message: (err as Error).message } }, 'event positioning failed; will retry');
        return 0;
      })
      .finally(() => (pass = null));
  });

  return {
    onPositioned(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    runOnce,
    async stop() {
      stopped = true;
      cancel();
      await pass;
    },
  };
}
