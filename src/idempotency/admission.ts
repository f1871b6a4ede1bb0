import { IdemError } from '../errors/registry.js';
import type { Runtime } from '../ports/clock.js';
import type { ConcurrencyLimit, Slot } from '../resilience/concurrencyLimit.js';
import type { FastPath, LockResult } from './fastpath.js';
import type { KeyRequest, KeyStore } from './store.js';

/**
 * Retry-After on a shed request, in seconds: one of these, drawn at random for each shed. One
 * second is the least HTTP can say, so a client is back before any queue would have answered
 * it; the spread keeps the clients shed in one burst from coming back in one burst (with a
 * fixed `Retry-After: 1`, 1,500 clients returned on the second, ~0.85 s of a core spent
 * shedding them again ahead of the admitted requests).
 */
export const SHED_RETRY_AFTER_S: readonly number[] = [1, 2, 3];

/**
 * The answer to a shed request: 503 `UNAVAILABLE` with `Retry-After`; nothing was done with its
 * key. An {@link IdemError} like any other, marked so the HTTP layer can send its precomputed
 * form and leave it out of the request log (docs/resilience.md, "What a shed costs").
 */
export class ShedError extends IdemError {
  constructor(readonly retryAfterS: number) {
    super('UNAVAILABLE', SHED_DETAIL, { headers: { 'retry-after': String(retryAfterS) } });
  }
}

/** The detail of every shed answer: the same text each time, so the HTTP layer can build it once. */
export const SHED_DETAIL = 'this instance is at its limit of requests in progress; nothing was done with this Idempotency-Key: send the same request again after Retry-After';

/** Key rows read at once to tell a shed candidate from a replay or a duplicate (see `admit`). */
const SHED_CHECKS = 2;

/** A first request's place under the limit: `held` while it has one. */
export interface AdmissionSlot {
  held: Slot | null;
}

/** What {@link Admission} needs from the gate it serves. */
export interface AdmissionOptions {
  limit: Pick<ConcurrencyLimit, 'tryAcquire' | 'release' | 'full' | 'refuse'>;
  store: Pick<KeyStore, 'readKey'>;
  fast: FastPath;
  runtime: Runtime;
  leaseMs: number;
  /** Releases the Redis lock `token` (null: none of ours) of a request shed after taking it, and tells waiters. */
  letGo: (req: KeyRequest, token: string | null) => Promise<void>;
  observe: (event: 'shed') => void;
}

/**
 * Where first requests meet the concurrency limit (docs/resilience.md, "Shedding overload"):
 * which requests are shed, and the slots of those admitted. The gate asks it; nothing else does.
 */
export class Admission {
  /** Key rows being read for shed candidates now (at most SHED_CHECKS). */
  private shedChecks = 0;

  constructor(private readonly o: AdmissionOptions) {}

  /**
   * The same decision as {@link admit}'s, taken before the request's body is read, for the
   * requests it would shed anyway: at the limit, with every key-row read slot busy, and a key
   * the fast path knows nothing of (no replay cached, no lock held). Under overload most
   * requests come this way, and a shed that costs a fraction of a request's work is what keeps
   * the admitted ones from queueing behind the shed ones. Anything else — below the limit, a
   * read slot free, a known key, Redis away — goes on to the gate as usual (null). Returns the
   * shed answer's `Retry-After` in seconds, without building an error: the caller sends the
   * answer (503 `UNAVAILABLE`) in the cheapest way it has.
   */
  async screen(merchantId: string, key: string): Promise<number | null> {
    const { limit, fast } = this.o;
    if (!fast.known || !limit.full() || this.shedChecks < SHED_CHECKS) return null;
    if ((await fast.known(merchantId, key)) !== 'unknown') return null;
    limit.refuse();
    this.o.observe('shed');
    return this.retryAfterS();
  }

  /**
   * Where a first request meets the concurrency limit: after the replay cache (a replay is
   * cheap and its client is waiting) and before the claim (the first database write). Asked
   * once, on the first pass only: a request held, or one that claimed the key and lost its
   * lease, is never asked again, so nothing that claimed its key is ever shed. Past the limit,
   * what tells a first request from a duplicate is as cheap as can be, since under overload
   * most requests come this way: the lock (busy: a duplicate to hold), then the key's row —
   * read by at most SHED_CHECKS requests at once, because those reads wait in the same
   * PostgreSQL pool as the admitted requests, and queueing them there is the overload itself.
   *
   *   replay cache + lock (one round trip) ── hit ──────────────────► replay
   *        └ miss ── limit: slot? ── yes ── claim ── run   (slot freed at the answer)
   *                            └ no ── lock busy ──────────────────► hold
   *                                     └ ours/none ── row (≤ SHED_CHECKS at once; all
   *                                          │          while Redis is away)?
   *                                          ├ exists ── claim ──► replay · hold · 422
   *                                          └ none, or no read ──► unlock, 503 + Retry-After
   *
   * `lock`: how the gate's try at the key's lock went (`token`, when ours). Returns with a slot
   * taken, or without one for a request to go on as usual (a duplicate to hold, a known key);
   * `onShed` runs just before the shed answer is thrown.
   */
  async admit(req: KeyRequest, slot: AdmissionSlot, lock: LockResult, token: string, onShed: () => void): Promise<void> {
    const { limit, store, runtime } = this.o;
    slot.held = limit.tryAcquire(runtime.clock.now());
    if (slot.held !== null || lock === 'busy') return;
    // A key already stored is a replay, a duplicate to hold or a reuse to refuse: answered as
    // usual. Only an unknown key is a first request. Past SHED_CHECKS reads at once, a key
    // known only to PostgreSQL (its cached answer lost with Redis) is shed too: its retry
    // after Retry-After is replayed. With Redis away ('unavailable') the lock tells nothing
    // and every request goes to PostgreSQL anyway: then every candidate's row is read.
    if (lock === 'unavailable' || this.shedChecks < SHED_CHECKS) {
      this.shedChecks++;
      try {
        if ((await store.readKey(req.merchantId, req.key)) !== null) return;
      } catch (err) {
        await this.o.letGo(req, lock === 'acquired' ? token : null);
        throw err;
      } finally {
        this.shedChecks--;
      }
    }
    await this.o.letGo(req, lock === 'acquired' ? token : null);
    this.o.observe('shed');
    onShed();
    throw new ShedError(this.retryAfterS());
  }

  /** One of SHED_RETRY_AFTER_S, from the runtime's randomness. */
  private retryAfterS(): number {
    const i = Math.floor(this.o.runtime.random.float() * SHED_RETRY_AFTER_S.length);
    return SHED_RETRY_AFTER_S[Math.min(i, SHED_RETRY_AFTER_S.length - 1)]!;
  }

  /** The request did its work: its slot goes back with its latency, the limit's one sample. */
  answered(slot: AdmissionSlot): void {
    if (slot.held) this.o.limit.release(slot.held, this.o.runtime.clock.now(), true);
    slot.held = null;
  }

  /** Frees the slot of a request that turned out to be no first request (held, replayed, refused) or failed. */
  unslot(slot: AdmissionSlot): void {
    if (slot.held) this.o.limit.release(slot.held, this.o.runtime.clock.now(), false);
    slot.held = null;
  }
}
