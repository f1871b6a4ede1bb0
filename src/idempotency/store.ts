import type { OutboxStore } from '../outbox/store.js';

/** A response as stored for replay: status, content type and the exact bytes of the body. */
export interface StoredResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface KeyRequest {
  merchantId: string;
  key: string;
  method: string;
  path: string;
  fingerprint: string;
  /**
   * The kind of request the key belongs to, as its route names it (payments: `create`,
   * `capture`, `void`, `refund`). Stored with the key so recovery can finish the request
   * without reading the path; the gate itself does not interpret it.
   */
  operation?: string | undefined;
}

export interface KeyRow {
  merchantId: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  /** As claimed (`KeyRequest.operation`); absent for a key claimed without one. */
  operation?: string | undefined;
  state: 'in_progress' | 'completed';
  fence: number;
  leaseUntil: number | null;
  resourceId: string | null;
  response: StoredResponse | null;
  expiresAt: number | null;
}

/**
 * Whether a claim takes a key's existing row (docs/idempotency.md, "Claim"): an in-progress
 * key whose lease has ended, for the same request (its owner died: take it over), or a completed
 * key past its retention (the key is new again). Anything else the claim hands back as it is.
 * The SQL claim states the same rule in its `WHERE` (src/store/sql/keys.ts); the memory store
 * and the gate's hold read it here.
 */
export function claimTakes(row: Pick<KeyRow, 'state' | 'leaseUntil' | 'expiresAt' | 'fingerprint'>, fingerprint: string, now: number): boolean {
  if (row.state === 'in_progress') return row.leaseUntil !== null && row.leaseUntil <= now && row.fingerprint === fingerprint;
  return row.expiresAt !== null && row.expiresAt <= now;
}

export type ClaimResult =
  | { kind: 'owned'; fence: number; resourceId: string | null; takenOver: boolean }
  | { kind: 'existing'; row: KeyRow };

/**
 * Idempotency keys' storage port (docs/architecture.md, "Ports"): claims, fenced writes, expiry.
 * Composed into `Store` (src/store/port.ts); adapters in src/store/sql/keys.ts and
 * src/store/memory/keys.ts.
 */
export interface KeyStore {
  /** Atomic claim: insert, take over an in-progress key whose lease ended (same fingerprint), or reset an expired completed key. */
  claimKey(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult>;
  /**
   * A new key claimed by the first write of its resource (docs/idempotency.md, claim step 5, `ClaimingKey` in
   * ./claim.ts): in progress with a new fence, its lease until `now + leaseMs`, bound to
   * `resourceId`. Null when the key has a row, whatever its state (nothing written).
   */
  insertKey(req: KeyRequest, now: number, leaseMs: number, resourceId: string): Promise<number | null>;
  readKey(merchantId: string, key: string): Promise<KeyRow | null>;
  /** Extends the lease if `fence` still holds the key in progress; false otherwise. */
  renewKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean>;
  /** As `renewKey`, inside a transaction, locking the key until it ends. */
  guardKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean>;
  bindKeyResource(merchantId: string, key: string, fence: number, resourceId: string): Promise<boolean>;
  completeKey(merchantId: string, key: string, fence: number, response: StoredResponse, now: number, ttlMs: number): Promise<boolean>;
  /** Deletes the in-progress key held by `fence` if it has no resource yet; false if it did not. */
  forgetKey(merchantId: string, key: string, fence: number): Promise<boolean>;
  /** Sets the lease of the in-progress key held by `fence` to end at `now`. */
  endKeyLease(merchantId: string, key: string, fence: number, now: number): Promise<void>;
  /** Deletes up to `limit` completed keys expired at `now`; returns how many. */
  sweepKeys(now: number, limit: number): Promise<number>;
}

/**
 * What a claim's fence checks need of the caller's transaction (`Claim` in ./claim.ts): the
 * key's row for the gate's claims, the outbox row for the relay's detached claims
 * (src/outbox/relay.ts). A transaction that runs under a claim offers both.
 */
export type ClaimTx = Pick<KeyStore, 'guardKey' | 'bindKeyResource' | 'completeKey'> & Pick<OutboxStore, 'guardWork'>;

/**
 * A claim's fence check or its completion as a write of a round's plan (src/payments/round.ts),
 * done as the operation of the same name does it: `guardKey` renews the lease while `fence`
 * holds the key in progress, `completeKey` stores the response and ends the lease.
 */
export type FenceWrite =
  | { op: 'guardKey'; merchantId: string; key: string; fence: number; now: number; leaseMs: number }
  | { op: 'completeKey'; merchantId: string; key: string; fence: number; response: StoredResponse; now: number; ttlMs: number };

/**
 * A write carried a fence that is no longer the key's: another execution took the key over
 * after this one's lease ran out. The transaction that carried it must roll back.
 */
export class FenceLostError extends Error {
  override readonly name = 'FenceLostError';
  constructor(
    readonly merchantId: string,
    readonly key: string,
    readonly fence: number,
  ) {
    super(`idempotency key "${key}" of merchant ${merchantId} is no longer held with fence ${fence}`);
  }
}

export interface RawRow {
  merchant_id: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  operation: string | null;
  state: 'in_progress' | 'completed';
  fence: number;
  lease_until: Date | number | null;
  resource_id: string | null;
  response_status: number | null;
  response_type: string | null;
  response_body: string | null;
  expires_at: Date | number | null;
}

/** A stored key as the gate sees it; times come as `Date` (SQL) or epoch ms (the memory store). */
export function toKeyRow(r: RawRow): KeyRow {
  return {
    merchantId: r.merchant_id,
    key: r.key,
    fingerprint: r.fingerprint,
    method: r.method,
    path: r.path,
    operation: r.operation ?? undefined,
    state: r.state,
    fence: r.fence,
    leaseUntil: epochMs(r.lease_until),
    resourceId: r.resource_id,
    response:
      r.state === 'completed' && r.response_status !== null && r.response_body !== null
        ? { status: r.response_status, contentType: r.response_type ?? 'application/json', body: r.response_body }
        : null,
    expiresAt: epochMs(r.expires_at),
  };
}

function epochMs(t: Date | number | null): number | null {
  return t === null ? null : typeof t === 'number' ? t : t.getTime();
}
