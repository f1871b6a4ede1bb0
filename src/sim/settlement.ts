/**
 * How the simulated processors list the entries they list without their key
 * (`keylessRecordRate`): as a settlement file or a balance-transaction export does (docs/testing.md,
 * "Deterministic simulation"). Such a line has an id of its own, not the operation's transaction
 * id, keeps the authorization it belongs to (the processor's reference, which a remediation void
 * needs) and carries neither the gateway key nor Idem's reference. Reconciliation then ties it to
 * one of Idem's operations by its authorization when only one operation of that kind has it, else
 * by score (docs/reconciliation.md, "Scored matching"), and raises what it cannot call as a
 * `match_review` case. The processor's own log (the truth the invariants read) is unchanged.
 */
import type { Processor } from '../gateways/simulator/processor.js';

/** The id a settlement line gives the log entry `id` (a keyless one). */
export function settlementLineId(id: string): string {
  return `stl_${id}`;
}

/** The processor with its keyless log entries listed as settlement lines; no draw of its own. */
export function settlementListing(processor: Processor): Processor {
  return {
    ...processor,
    transactions(sinceMs, cursor, limit) {
      const answer = processor.transactions(sinceMs, cursor, limit);
      const page = answer.body as { data?: Array<Record<string, unknown>> };
      if (answer.status !== 200 || !Array.isArray(page.data)) return answer;
      const data = page.data.map((e) => {
        if ('idempotency_key' in e) return e;
        const { reference: _reference, ...line } = e;
        return { ...line, id: settlementLineId(String(e.id)) };
      });
      return { ...answer, body: { ...page, data } };
    },
  };
}

/** `gateway id` of every entry the processor lists without its key, read from its own listing. */
export function keylessEntries(gateway: string, processor: Processor): string[] {
  const page = processor.transactions(0, null).body as { data?: Array<{ id: string; idempotency_key?: string }> };
  return (page.data ?? []).filter((e) => e.idempotency_key === undefined).map((e) => `${gateway} ${e.id}`);
}
