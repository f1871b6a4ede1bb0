/**
 * The continuous loop (docs/reconciliation.md, "The loop"): every `idem serve` runs a pass on a
 * timer, never two at once in one process; a pass that throws is logged and the next tick
 * starts again.
 */
import type { Runtime } from '../ports/clock.js';
import type { ReconciliationLog } from './casework.js';
import type { Reconciler } from './reconciler.js';

/** Runs a pass every `intervalMs` (never two at once in one process) until stopped. */
export function startReconcileLoop(reconciler: Reconciler, runtime: Runtime, intervalMs: number, log?: ReconciliationLog): { stop(): Promise<void>; runOnce(): Promise<void> } {
  let pass: Promise<void> | null = null;
  let stopped = false;
  const once = (): Promise<void> => {
    if (pass) return pass;
    pass = reconciler
      .runPass()
      .then((r) => {
        for (const g of r.gateways) if (g.error !== null) log?.error({ gateway: g.gateway, error: g.error }, 'reconciliation pass: gateway log problem');
      })
      .catch((err: unknown) => {
        // The loop keeps going: the next tick tries again.
        log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'reconciliation pass failed; will retry');
      })
      .finally(() => (pass = null));
    return pass;
  };
  const cancel = runtime.timers.every(intervalMs, () => {
    if (!stopped) void once();
  });
  return {
    runOnce: once,
    async stop() {
      stopped = true;
      cancel();
      await pass;
    },
  };
}
