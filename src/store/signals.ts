import type { KeyEvents } from '../idempotency/events.js';
import type { Timers } from '../ports/clock.js';
import type { Signals } from '../ports/passes.js';

/**
 * Pass wake-ups (src/ports/passes.ts) over the instance's key-change channel — Redis pub/sub,
 * PostgreSQL LISTEN/NOTIFY, or in-process (src/idempotency/events.ts) — under keys no merchant
 * can have (a merchant id never is empty). Local listeners are woken at once; the other
 * instances at most once per `throttleMs` a name (the first notice at once, then one for
 * whatever came during the gap), so a busy instance sends a bounded number of notices.
 */
export function signalsOver(events: KeyEvents, timers: Timers, throttleMs = 100): Signals {
  const channel = (name: string) => `pass:${name}`;
  const gaps = new Map<string, { pending: boolean }>();
  const publish = (name: string) => void events.publish('', channel(name)).catch(() => {});
  return {
    notify(name) {
      const gap = gaps.get(name);
      if (gap) {
        gap.pending = true;
        return;
      }
      // `publish` wakes this instance's listeners too (every KeyEvents delivers locally first).
      publish(name);
      const open = { pending: false };
      gaps.set(name, open);
      timers.after(throttleMs, () => {
        gaps.delete(name);
        if (open.pending) publish(name);
      });
    },
    on(name, listener) {
      return events.watch('', channel(name), listener);
    },
  };
}
