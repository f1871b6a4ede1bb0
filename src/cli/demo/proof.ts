/**
 * The demo's proof, read after Idem has stopped: from the data folder and the gateways' own
 * logs, not from Idem's opinion of itself. The checks are the project's own: `verifyLedger`
 * (docs/payments.md, "Ledger") and the gateway-log check (src/ledger/gatewayLog.ts).
 */
import { lockDataDir } from '../../db/dataDirLock.js';
import { openPglite } from '../../db/pglite.js';
import { gatewayLogDifferences, type GatewayLogEntry } from '../../ledger/gatewayLog.js';
import { verifyLedger, type VerifyReport } from '../../ledger/verify.js';

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
      const report = await verifyLedger(db, logs);
      const { rows } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM payments GROUP BY status ORDER BY n DESC, status');
      const byState = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      const paymentsInIdem = rows.reduce((n, r) => n + r.n, 0);
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
