import { claimTakes, toKeyRow, type ClaimResult, type KeyRequest, type KeyRow, type StoredResponse } from '../../idempotency/store.js';
import type { KeyStore } from '../../idempotency/store.js';
import { check, cmp, foreign, int8, keyId, notNull } from './engine.js';
import type { KeyRecord, MemoryState } from './state.js';

function checkKey(r: KeyRecord): void {
  check((r.state === 'completed') === (r.response_status !== null && r.response_body !== null && r.expires_at !== null), 'idempotency_keys_check');
  int8('fence', r.fence);
}

/**
 * Idempotency keys on the in-memory tables. Methods are `async` only to fit the port: each runs to
 * the end without yielding, so under the store's mutex nothing interleaves with it.
 */
export class MemoryKeys implements KeyStore {
  constructor(private readonly s: MemoryState) {}

  async claimKey(req: KeyRequest, now: number, leaseMs: number): Promise<ClaimResult> {
    foreign(this.s.merchants.has(req.merchantId), 'idempotency_keys_merchant_id_fkey', `merchant ${req.merchantId}`);
    // nextval() is evaluated for the proposed row even when the conflict then takes nothing.
    const fence = this.s.nextFence();
    const id = keyId(req.merchantId, req.key);
    const k = this.s.keys.get(id);
    if (!k) {
      this.s.keys.set(id, newKey(req, fence, now, leaseMs, null));
      return { kind: 'owned', fence, resourceId: null, takenOver: false };
    }
    const existing = toKeyRow(k);
    if (!claimTakes(existing, req.fingerprint, now)) return { kind: 'existing', row: existing };
    const completed = k.state === 'completed';
    const row: KeyRecord = {
      ...k,
      fence,
      lease_until: now + leaseMs,
      resource_id: completed ? null : k.resource_id,
      created_at: completed ? now : k.created_at,
      state: 'in_progress',
      fingerprint: req.fingerprint,
      method: req.method,
      path: req.path,
      operation: req.operation ?? null,
      response_status: null,
      response_type: null,
      response_body: null,
      completed_at: null,
      expires_at: null,
    };
    this.s.keys.set(id, row);
    return { kind: 'owned', fence, resourceId: row.resource_id, takenOver: row.resource_id !== null };
  }

  async insertKey(req: KeyRequest, now: number, leaseMs: number, resourceId: string): Promise<number | null> {
    foreign(this.s.merchants.has(req.merchantId), 'idempotency_keys_merchant_id_fkey', `merchant ${req.merchantId}`);
    const fence = this.s.nextFence();
    const id = keyId(req.merchantId, req.key);
    if (this.s.keys.has(id)) return null;
    this.s.keys.set(id, newKey(req, fence, now, leaseMs, resourceId));
    return fence;
  }

  async readKey(merchantId: string, key: string): Promise<KeyRow | null> {
    const k = this.s.keys.get(keyId(merchantId, key));
    return k ? toKeyRow(k) : null;
  }

  /** The in-progress key held by `fence`, or undefined. */
  private held(merchantId: string, key: string, fence: number): KeyRecord | undefined {
    const k = this.s.keys.get(keyId(merchantId, key));
    return k && k.fence === fence && k.state === 'in_progress' ? k : undefined;
  }

  private updateHeld(merchantId: string, key: string, fence: number, changes: Partial<KeyRecord>): boolean {
    const k = this.held(merchantId, key, fence);
    if (!k) return false;
    const row = { ...k, ...changes };
    checkKey(row);
    this.s.keys.set(keyId(merchantId, key), row);
    return true;
  }

  async renewKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { lease_until: now + leaseMs });
  }

  async guardKey(merchantId: string, key: string, fence: number, now: number, leaseMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { lease_until: now + leaseMs });
  }

  async bindKeyResource(merchantId: string, key: string, fence: number, resourceId: string): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, { resource_id: resourceId });
  }

  async completeKey(merchantId: string, key: string, fence: number, response: StoredResponse, now: number, ttlMs: number): Promise<boolean> {
    return this.updateHeld(merchantId, key, fence, {
      state: 'completed',
      response_status: response.status,
      response_type: response.contentType,
      response_body: response.body,
      completed_at: now,
      expires_at: now + ttlMs,
      lease_until: null,
    });
  }

  async forgetKey(merchantId: string, key: string, fence: number): Promise<boolean> {
    const k = this.held(merchantId, key, fence);
    if (!k || k.resource_id !== null) return false;
    this.s.keys.delete(keyId(merchantId, key));
    return true;
  }

  async endKeyLease(merchantId: string, key: string, fence: number, now: number): Promise<void> {
    this.updateHeld(merchantId, key, fence, { lease_until: now });
  }

  async sweepKeys(now: number, limit: number): Promise<number> {
    const expired = this.s.keys
      .values()
      .filter((k) => k.state === 'completed' && k.expires_at !== null && k.expires_at <= now)
      .sort((a, b) => a.expires_at! - b.expires_at! || cmp(a.merchant_id, b.merchant_id) || cmp(a.key, b.key))
      .slice(0, Math.max(0, limit));
    for (const k of expired) this.s.keys.delete(keyId(k.merchant_id, k.key));
    return expired.length;
  }
}

/** A key's row as a claim inserts it: in progress, held by `fence` until `now + leaseMs`. */
function newKey(req: KeyRequest, fence: number, now: number, leaseMs: number, resourceId: string | null): KeyRecord {
  const row: KeyRecord = {
    merchant_id: req.merchantId,
    key: req.key,
    fingerprint: req.fingerprint,
    method: req.method,
    path: req.path,
    operation: req.operation ?? null,
    state: 'in_progress',
    fence,
    lease_until: now + leaseMs,
    resource_id: resourceId,
    response_status: null,
    response_type: null,
    response_body: null,
    created_at: now,
    completed_at: null,
    expires_at: null,
  };
  for (const c of ['fingerprint', 'method', 'path', 'key'] as const) notNull(c, row[c]);
  return row;
}
