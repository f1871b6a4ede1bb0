/**
 * The continuous loop (docs/reconciliation.md, "The loop"): every `idem serve` runs a pass
 * through the pass runner (src/ports/passes.ts), never two at once in one process; a pass that
 * throws is logged and the next one starts again. A pass that fetched nothing and had no
 * remediation due backs off, up to `idleMaxMs`: an idle deployment reads its gateways' logs
 * seldom, and a busy one every `intervalMs`.
 */
import type { Runtime } from '../ports/clock.js';
import { startPass, type PassObserver } from '../ports/passes.js';
import type { ReconciliationLog } from './casework.js';
import type { Reconciler } from './reconciler.js';

export interface ReconcileLoopOptions {
  idleMaxMs?: number;
  observe?: PassObserver;
}

/** Runs a pass every `intervalMs` (never two at once in one process) until stopped. */
export function startReconcileLoop(
  reconciler: Reconciler,
  runtime: Runtime,
  intervalMs: number,
  log?: ReconciliationLog,
  options: ReconcileLoopOptions = {},
): { stop(): Promise<void>; runOnce(): Promise<void> } {
  // The loop keeps going: the next pass tries again.
  const failed = (err: unknown) => log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'reconciliation pass failed; will retry');
  const pass = startPass({
    name: 'reconciliation',
    runtime,
    intervalMs,
    idleMaxMs: options.idleMaxMs,
    startNow: false,
    observe: options.observe,
    async run() {
      const r = await reconciler.runPass();
      for (const g of r.gateways) if (g.error !== null) log?.error({ gateway: g.gateway, error: g.error }, 'reconciliation pass: gateway log problem');
      const busy = r.gateways.some((g) => g.fetched > 0 || g.error !== null) || r.remediations.done + r.remediations.failed + r.remediations.retrying > 0;
      return busy ? 'worked' : 'idle';
    },
    onError: failed,
  });
  return {
    async runOnce() {
      await pass.runOnce().catch(failed);
    },
    stop: () => pass.stop(),
  };
}
