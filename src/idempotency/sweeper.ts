import type { Runtime } from '../ports/clock.js';
import { startPass, type PassObserver } from '../ports/passes.js';
import type { KeyStore } from './store.js';

/** Keys a sweep deletes per statement. */
const DEFAULT_BATCH = 500;

/**
 * Deletes completed keys past their retention, every `intervalMs`; after that a key is new
 * again. Safe on every instance at once (`SKIP LOCKED`). A backlog (a retention shortened, an
 * instance down for a day) is deleted in batches paced to `ratePerSecond`, so the sweep takes a
 * bounded share of the database from live traffic instead of all it can get
 * (docs/performance.md, "The key sweeper"). Returns a stop function.
 */
export function startSweeper(options: {
  store: Pick<KeyStore, 'sweepKeys'>;
  runtime: Runtime;
  intervalMs: number;
  /** Keys deleted per second at most while a backlog lasts. */
  ratePerSecond: number;
  batch?: number;
  log?: { warn(obj: object, msg: string): void };
  observe?: PassObserver;
}): () => void {
  const { store, runtime, intervalMs, ratePerSecond, batch = DEFAULT_BATCH, log } = options;
  // The time one batch is due at the rate; a batch that took longer is followed at once.
  const batchMs = (batch * 1000) / ratePerSecond;
  const pass = startPass({
    name: 'idempotency.sweeper',
    runtime,
    intervalMs,
    startNow: false,
    observe: options.observe,
    async run() {
      const started = runtime.clock.now();
      // A full batch: more may be due, after the pause the rate leaves.
      if ((await store.sweepKeys(started, batch)) < batch) return 'worked';
      return Math.max(0, batchMs - (runtime.clock.now() - started));
    },
    onError: (err) => log?.warn({ err: { message: (err as Error).message } }, 'idempotency key sweep failed; will retry'),
  });
  return () => void pass.stop();
}
