import type { Runtime } from '../ports/clock.js';
import type { Store } from '../store/port.js';

/**
 * Deletes completed keys past their retention, in batches, every `intervalMs`; after that a
 * key is new again. Safe on every instance at once (`SKIP LOCKED`). Returns a stop function.
 */
export function startSweeper(options: {
  store: Store;
  runtime: Runtime;
  intervalMs: number;
  batch?: number;
  log?: { warn(obj: object, msg: string): void };
}): () => void {
  const { store, runtime, intervalMs, batch = 1000, log } = options;
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      while ((await store.sweepKeys(runtime.clock.now(), batch)) === batch) {
        // a full batch: more may be due
      }
    } catch (err) {
      log?.warn({ err: { message: (err as Error).message } }, 'idempotency key sweep failed; will retry');
    } finally {
      running = false;
    }
  };
  return runtime.timers.every(intervalMs, () => void sweep());
}
