/**
 * The demo's proof, read after Idem has stopped: from the data folder and the gateways' own
 * logs, not from Idem's opinion of itself. The checks are the project's own: `verifyLedger`
 * (docs/payments.md, "Ledger") and the gateway-log check (src/ledger/gatewayLog.ts).
 */
import { lockDataDir } from '../../db/dataDirLock.js';
import { openPglite } from '../../db/pglite.js';
import { gatewayLogDifferences, type GatewayLogEntry } from '../../ledger/gatewayLog.js';
import { verifyLedger, type VerifyReport } from '../../ledger/verify.js';
import { SqlStore } from '../../store/sql/index.js';

export interface DemoProof {
  report: VerifyReport;
  /** Payments per final state, most frequent first. */
  byState: Record<string, number>;
  paymentsInIdem: number;
  /** Operations executed more than once (or more than was possible), from the logs alone. */
  doubles: string[];
}

/** Opens the stopped Idem's data folder (locked against a concurrent `serve`) and checks it against `logs`. */
export async function readProof(dataDir: string, logs: GatewayLogEntry[]): Promise<DemoProof> {
  const unlock = lockDataDir(dataDir);
  try {
    const db = await openPglite(dataDir);
    try {
      const store = new SqlStore(db);
      const report = await verifyLedger(store, logs);
      const { payments } = await store.summarizeBooks();
      const counts = new Map<string, number>();
      for (const p of payments) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
      const byState = Object.fromEntries([...counts].sort(([a, n], [b, m]) => m - n || (a < b ? -1 : 1)));
      const paymentsInIdem = payments.length;
      // verifyLedger held the logs to Idem's record; this is what the logs say on their own.
      const doubles = gatewayLogDifferences(logs, null).map((d) => d.detail);
      return { report, byState, paymentsInIdem, doubles };
    } finally {
      await db.close();
    }
  } finally {
    unlock();
  }
}
