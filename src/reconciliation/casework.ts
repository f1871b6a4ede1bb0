/**
 * Opening and resolving reconciliation cases (docs/reconciliation.md, "Cases"), each with its
 * event in the same transaction. A case is opened once per finding (its dedupe key).
 */
import type { Random } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { EventStore } from '../events/store.js';
import { teamFor, type CaseClass, type CaseRow } from './cases.js';
import { recordReconciliationEvent } from './events.js';
import type { GatewayRecord } from './records.js';
import type { ReconciliationStore } from './store.js';

/** Where a case's event goes, in the transaction that opens or resolves the case. */
type CaseEvents = Pick<EventStore, 'insertEvent' | 'insertSystemEvent'>;

/** Where reconciliation logs (pino's shape). */
export interface ReconciliationLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What opening a case needs beside the transaction: ids from the seeded source, a log. */
export interface CaseworkContext {
  random: Random;
  log?: ReconciliationLog | undefined;
}

/** Opens a case (unless its dedupe key already has one) with its event; true if opened. */
export async function openCase(
  ctx: CaseworkContext,
  tx: Pick<ReconciliationStore, 'openCase'> & CaseEvents,
  r: GatewayRecord | null,
  cls: CaseClass,
  paymentId: string | null,
  merchantId: string | null,
  attemptId: string | null,
  action: string,
  why: string,
  at: Date,
  extra: { gateway?: string; dedupe?: string; evidence?: Record<string, unknown>; actionResult?: string } = {},
): Promise<boolean> {
  const gateway = r?.gateway ?? extra.gateway!;
  const opened = await tx.openCase({
    id: newId(ctx.random, 'case'),
    dedupe_key: extra.dedupe ?? `${gateway}:${r?.id}:${cls}`,
    merchant_id: merchantId,
    payment_id: paymentId,
    gateway,
    class: cls,
    team: teamFor(cls),
    evidence: { why, gateway_record: r, idem_attempt_id: attemptId, ...extra.evidence },
    action,
    action_result: extra.actionResult ?? null,
    opened_at: at.getTime(),
  });
  if (opened === null) return false;
  await recordReconciliationEvent(
    tx,
    { type: 'reconciliation.case_opened', paymentId, merchantId, gateway, data: { case_id: opened.id, class: cls, team: opened.team, action, why } },
    at,
  );
  ctx.log?.warn({ gateway, case_id: opened.id, class: cls, payment_id: paymentId }, 'reconciliation: case opened');
  return true;
}

/**
 * Resolves an open case inside `tx`, with its event; as merchant `merchantId` when given (a
 * case of another merchant, or of none, is then `not_found`).
 */
export async function resolveCaseIn(tx: Pick<ReconciliationStore, 'findCase' | 'resolveCase'> & CaseEvents, id: string, resolution: string, now: number, merchantId?: string): Promise<CaseRow | 'not_found' | 'not_open'> {
  const c = await tx.findCase(id);
  if (!c || (merchantId !== undefined && c.merchant_id !== merchantId)) return 'not_found';
  const resolved = await tx.resolveCase(id, resolution, now);
  if (!resolved) return 'not_open';
  await recordReconciliationEvent(
    tx,
    { type: 'reconciliation.case_resolved', paymentId: c.payment_id, merchantId: c.merchant_id, gateway: c.gateway, data: { case_id: id, class: c.class, resolution } },
    new Date(now),
  );
  return resolved;
}
