import { IdemError } from '../errors/registry.js';
import type { Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import { noopTracer, type Tracer } from '../ports/tracing.js';
import type { ConcurrencyLimit } from '../resilience/concurrencyLimit.js';
import { Admission, type AdmissionSlot } from './admission.js';
import type { KeyEvents } from './events.js';
import type { CachedResponse, FastPath, LockResult } from './fastpath.js';
import type { Claim, Operation, OperationResult, RequestContext } from './claim.js';
import { claimTakes, FenceLostError, type KeyRequest, type KeyStore, type StoredResponse } from './store.js';

export interface GateAnswer extends StoredResponse {
  replayed: boolean;
  /** `final` for a stored answer (replays included); `pending` while the outcome is unknown. */
  result: OperationResult['kind'];
}

export type GateEvent = 'executed' | 'replayed' | 'held' | 'reused' | 'hold_timeout' | 'taken_over' | 'fence_lost' | 'shed';

export interface GateOptions {
  store: Pick<KeyStore, 'claimKey' | 'readKey' | 'renewKey' | 'endKeyLease' | 'forgetKey'>;
  fast: FastPath;
  events: KeyEvents;
  runtime: Runtime;
  holdTimeoutMs: number;
  leaseMs: number;
  keyTtlMs: number;
  /** How often a held request re-checks while the notifier is down. */
  degradedRecheckMs?: number;
  /** How long a held request trusts a Redis lock whose holder has not claimed in PostgreSQL. */
  unclaimedLockGraceMs?: number;
  observe?: (event: GateEvent) => void;
  /**
   * The concurrency limit first requests pass through `execute` (docs/resilience.md, "Shedding
   * overload"); absent: none. Replays, held duplicates and `tryExecute` (recovery) never ask it.
   */
  admission?: Pick<ConcurrencyLimit, 'tryAcquire' | 'release' | 'full' | 'refuse'>;
  /** Opens a span per gate decision (docs/metadata.md, "Traces"); `noopTracer` unless told. */
  tracer?: Tracer;
}

/** How a route's operation meets its key. */
export interface ExecuteOptions {
  /**
   * The operation's first write claims the key itself (docs/idempotency.md, claim step 5, `Claim.open`): the gate does
   * not claim a key it has not met in PostgreSQL, and a duplicate in flight is held all the same
   * (the Redis lock, then the row the write commits). One round trip fewer for a first request.
   * When the key already has a row, the write takes nothing and the gate claims it as usual.
   */
  claimInFirstWrite?: boolean;
}

/**
 * The key a deferred claim's first write meant to claim has a row already: nothing was written.
 * Seen only by the gate, which then claims the key the usual way.
 */
class KeyTakenError extends Error {
  override readonly name = 'KeyTakenError';
}

/** How the gate decided, as its span records it (`idem.gate.decision`). */
type GateDecision = 'claimed' | 'taken_over' | 'replayed' | 'busy' | 'reused' | 'in_progress' | 'shed' | 'failed';

/** How a request enters: waiting on a live owner or answering null (`tryExecute`), claiming first or leaving the claim to the first write. */
interface Mode {
  wait: boolean;
  deferClaim: boolean;
}

/** What `enter` notes for the decision span. */
interface GateNote {
  held: boolean;
  decision: GateDecision;
}

/**
 * The idempotency gate (docs/idempotency.md): exactly one execution per (merchant, key); duplicates
 * are held until it finishes and then get its stored response byte for byte.
 */
export class Gate {
  private readonly o: Required<Omit<GateOptions, 'observe' | 'admission'>> & Pick<GateOptions, 'observe' | 'admission'>;
  private readonly admission: Admission | null;

  constructor(options: GateOptions) {
    this.o = { degradedRecheckMs: 200, unclaimedLockGraceMs: 1000, tracer: noopTracer, ...options };
    const { admission: limit, store, fast, runtime, leaseMs } = this.o;
    this.admission = limit
      ? new Admission({ limit, store, fast, runtime, leaseMs, letGo: (req, token) => this.letGo(req, token, null), observe: (event) => this.observe(event) })
      : null;
  }

  /** `context`: the request being served; the operation's claim carries it, under the gate's span. */
  async execute(req: KeyRequest, op: Operation, context?: RequestContext, how: ExecuteOptions = {}): Promise<GateAnswer> {
    return (await this.traced(req, op, { wait: true, deferClaim: how.claimInFirstWrite === true }, context))!;
  }

  /**
   * As `execute`, but never waits on a live owner: answers null instead. Recovery uses it to
   * finish requests whose owner is gone without blocking on those still running.
   */
  tryExecute(req: KeyRequest, op: Operation, context?: RequestContext): Promise<GateAnswer | null> {
    return this.traced(req, op, { wait: false, deferClaim: false }, context);
  }

  /** One span per gate decision, when tracing: claimed (or taken over), held, replayed. */
  private traced(req: KeyRequest, op: Operation, mode: Mode, context: RequestContext | undefined): Promise<GateAnswer | null> {
    return this.o.tracer.enabled ? this.enterTraced(req, op, mode, context) : this.enter(req, op, mode, context, null);
  }

  private async enterTraced(req: KeyRequest, op: Operation, mode: Mode, context: RequestContext | undefined): Promise<GateAnswer | null> {
    const { tracer } = this.o;
    const span = tracer.start('idem.gate', { ...context?.metadata, idempotency_key: req.key, merchant_id: req.merchantId }, { parent: context?.span });
    const note: GateNote = { held: false, decision: 'claimed' };
    try {
      const answer = await this.enter(req, op, mode, { metadata: context?.metadata ?? {}, span }, note);
      if (answer === null) note.decision = 'busy';
      else if (answer.replayed) note.decision = 'replayed';
      return answer;
    } catch (err) {
      if (note.decision !== 'shed') note.decision = err instanceof IdemError && err.code === 'IDEM_KEY_REUSED' ? 'reused' : err instanceof IdemError && err.code === 'IDEM_IN_PROGRESS' ? 'in_progress' : 'failed';
      span.fail(err);
      throw err;
    } finally {
      span.set({ 'idem.gate.decision': note.decision, 'idem.gate.held': note.held });
      span.end();
    }
  }

  private async enter(req: KeyRequest, op: Operation, mode: Mode, context: RequestContext | undefined, note: GateNote | null): Promise<GateAnswer | null> {
    const { admission } = this;
    // Recovery (tryExecute) finishes work already accepted: it is never shed.
    if (!mode.wait || !admission) return this.pass(req, op, mode, context, note, null);
    const slot: AdmissionSlot = { held: null };
    try {
      return await this.pass(req, op, mode, context, note, slot);
    } finally {
      admission.unslot(slot);
    }
  }

  /**
   * Whether to shed a first request before its body is read, when it would be shed anyway (see
   * {@link Admission.screen}): the shed answer's `Retry-After` in seconds, or null to go on.
   */
  screen(merchantId: string, key: string): Promise<number | null> | null {
    return this.admission ? this.admission.screen(merchantId, key) : null;
  }

  private async pass(
    req: KeyRequest,
    op: Operation,
    { wait, deferClaim }: Mode,
    context: RequestContext | undefined,
    note: GateNote | null,
    slot: AdmissionSlot | null,
  ): Promise<GateAnswer | null> {
    const { clock } = this.o.runtime;
    let asked = slot === null;
    let deadline = clock.now() + this.o.holdTimeoutMs;
    let held = false;
    // The Redis lock only keeps duplicates from racing into PostgreSQL. When it is held but
    // PostgreSQL shows no live owner (the holder died before claiming, or its lease ended),
    // go straight to the claim: PostgreSQL decides.
    let skipLock = false;
    // Held as a duplicate: until the key changes, and then round the loop again.
    const holdOn = async () => {
      if (!held) this.observe('held');
      held = true;
      if (note) note.held = true;
      skipLock = (await this.hold(req, deadline)) === 'claim';
    };
    for (;;) {
      // The replay cache, and on a miss the lock, in one round trip (only the cache when a
      // hold found no live owner: then PostgreSQL decides).
      const token = skipLock ? null : newId(this.o.runtime.random, 'lock', 16);
      const met = token === null ? await this.o.fast.getReplay(req.merchantId, req.key) : await this.o.fast.replayOrLock(req.merchantId, req.key, token, this.o.leaseMs);
      if (met !== null && typeof met === 'object') return this.replay(req, met);
      const lock: LockResult | null = met;
      if (!asked) {
        // Asked once, on the first pass, where the lock was tried (skipLock is never set before).
        asked = true;
        await this.admission!.admit(req, slot!, lock ?? 'unavailable', token ?? '', () => {
          if (note) note.decision = 'shed';
        });
      }
      if (lock === 'busy') {
        if (slot) this.admission!.unslot(slot);
        if (!wait) return null;
        await holdOn();
        continue;
      }
      const ours = lock === 'acquired' ? token : null;
      skipLock = false;

      // A first write that claims the key itself (docs/idempotency.md, claim step 5) goes first, unless this request has
      // met the key already (held, or its lease lost): then the key has a row to claim.
      let answer: GateAnswer | 'lost' | 'taken' = deferClaim && !held ? await this.run(req, null, ours, op, context) : 'taken';
      if (answer === 'taken') {
        let claim;
        try {
          claim = await this.o.store.claimKey(req, clock.now(), this.o.leaseMs);
        } catch (err) {
          await this.letGo(req, ours, null);
          throw err;
        }
        if (claim.kind === 'existing') {
          if (slot) this.admission!.unslot(slot);
          const { row } = claim;
          if (row.fingerprint !== req.fingerprint) {
            await this.letGo(req, ours, null);
            throw this.reused(req, row.method, row.path);
          }
          if (row.response) {
            const cachedRow = { ...row.response, fingerprint: row.fingerprint };
            await this.letGo(req, ours, cachedRow, row.expiresAt, false);
            return this.replay(req, cachedRow);
          }
          await this.letGo(req, ours, null);
          if (!wait) return null;
          await holdOn();
          continue;
        }
        if (claim.resourceId !== null) {
          this.observe('taken_over');
          if (note) note.decision = 'taken_over';
        }
        answer = await this.run(req, { fence: claim.fence, resourceId: claim.resourceId }, ours, op, context);
        if (answer === 'taken') throw new Error(`key ${req.key} claimed with fence ${claim.fence} yet taken`);
      }
      if (answer !== 'lost') {
        // The one measured latency: a first request's, from admission to its answer.
        if (slot) this.admission!.answered(slot);
        return answer;
      }
      if (slot) this.admission!.unslot(slot);
      if (!wait) return null;
      // Our lease ran out and another execution owns the key now: wait for its answer, as a
      // held duplicate would, for a whole hold period from now.
      this.observe('fence_lost');
      held = true;
      if (note) note.held = true;
      deadline = clock.now() + this.o.holdTimeoutMs;
    }
  }

  /**
   * Runs the operation as the key's owner, renewing the lease until it ends. `owner` null: the
   * key is not claimed yet, and the operation's first write (`Claim.open`) claims it; 'taken'
   * when that write found the key's row (nothing written, our Redis lock still held).
   *
   *   t0 claim(fence f) ─ op ─ tx(guard f … complete f) ─ commit ─ cache + notify + unlock
   *                  └ every lease/3: renew(f); refused → abort op (someone took over)
   */
  private async run(
    req: KeyRequest,
    owner: { fence: number; resourceId: string | null } | null,
    lockToken: string | null,
    op: Operation,
    context: RequestContext | undefined,
  ): Promise<GateAnswer | 'lost' | 'taken'> {
    const { clock, timers } = this.o.runtime;
    const { store, leaseMs } = this.o;
    const { merchantId, key } = req;
    let fence = owner?.fence ?? null;
    const abort = new AbortController();
    const stopRenewing = timers.every(Math.max(1, Math.floor(leaseMs / 3)), () => {
      const f = fence;
      if (f === null) return; // the first write has not claimed the key yet: no lease to renew
      store.renewKey(merchantId, key, f, clock.now(), leaseMs).then(
        (ok) => ok || abort.abort(new FenceLostError(merchantId, key, f)),
        () => {}, // the store is unreachable: the next tick tries again, the fence keeps us safe
      );
    });
    let stored: StoredResponse | null = null;
    const owned = (): number => {
      if (fence === null) throw new Error(`key ${key}: a write before the first write that claims it (Claim.open)`);
      return fence;
    };
    const lost = () => new FenceLostError(merchantId, key, owned());
    const claim: Claim = {
      merchantId,
      key,
      get fence() {
        return owned();
      },
      resourceId: owner?.resourceId ?? null,
      signal: abort.signal,
      ...(context ? { context } : {}),
      guard: async (tx) => {
        if (!(await tx.guardKey(merchantId, key, owned(), clock.now(), leaseMs))) throw lost();
      },
      bindResource: async (tx, id) => {
        if (!(await tx.bindKeyResource(merchantId, key, owned(), id))) throw lost();
      },
      open: async (write) => {
        const now = clock.now();
        const claiming = fence === null;
        const written = await write(fence === null ? { merchantId, key, claim: req, now, leaseMs } : { merchantId, key, fence, now, leaseMs });
        if (written === null) throw claiming ? new KeyTakenError(`key ${key} has a row already`) : lost();
        fence = written.fence;
        return written;
      },
      complete: async (tx, response) => {
        if (!(await tx.completeKey(merchantId, key, owned(), response, clock.now(), this.o.keyTtlMs))) throw lost();
        stored = response;
      },
      guardWrite: () => ({ op: 'guardKey', merchantId, key, fence: owned(), now: clock.now(), leaseMs }),
      completeWrite: (response) => {
        // The operation answers final only once a plan carrying this write has committed.
        stored = response;
        return { op: 'completeKey', merchantId, key, fence: owned(), response, now: clock.now(), ttlMs: this.o.keyTtlMs };
      },
    };
    try {
      const result = await op(claim);
      stopRenewing();
      if (result.kind === 'final') {
        if (stored === null) throw new Error('operation answered final without storing its response');
        this.observe('executed');
        await this.letGo(req, lockToken, { ...result.response, fingerprint: req.fingerprint }, clock.now() + this.o.keyTtlMs, true);
        return { ...result.response, replayed: false, result: 'final' };
      }
      this.observe('executed');
      await store.endKeyLease(merchantId, key, owned(), clock.now()).catch(() => {});
      await this.letGo(req, lockToken, null, null, true);
      return { ...result.response, replayed: false, result: 'pending' };
    } catch (err) {
      stopRenewing();
      // Nothing written, and our Redis lock kept: the caller claims the key's row.
      if (err instanceof KeyTakenError) return 'taken';
      if (err instanceof FenceLostError || abort.signal.aborted) {
        await this.letGo(req, lockToken, null);
        return 'lost';
      }
      // A claim left to the first write that failed before it committed holds nothing to release.
      if (fence !== null) await this.release(req, fence).catch(() => {});
      await this.letGo(req, lockToken, null, null, true);
      throw err;
    }
  }

  /**
   * Waits for the key to change: woken by its notification, by the owner's lease running out
   * (to take it over), or by the hold deadline (409). Answers 'claim' when PostgreSQL shows no
   * live owner, so the caller claims without waiting for the Redis lock.
   *
   *   held ── watch ── read row ── still running? ── wait(notice | lease end | deadline)
   *   (watching before reading: a completion between the two still wakes us; a notifier that
   *   subscribes per key must be listening before the read, or the wait is on the short timer)
   */
  private async hold(req: KeyRequest, deadline: number): Promise<'recheck' | 'claim'> {
    const { clock, timers } = this.o.runtime;
    let wake!: (by: 'notice' | 'timer') => void;
    const woken = new Promise<'notice' | 'timer'>((resolve) => (wake = resolve));
    const unwatch = this.o.events.watch(req.merchantId, req.key, () => wake('notice'));
    let cancel = () => {};
    try {
      const listening = this.o.events.listening?.(req.merchantId, req.key);
      let live = true;
      let cached: CachedResponse | null;
      if (listening) [live, cached] = await Promise.all([listening, this.o.fast.getReplay(req.merchantId, req.key)]);
      else cached = await this.o.fast.getReplay(req.merchantId, req.key);
      if (cached) return 'recheck';
      const row = await this.o.store.readKey(req.merchantId, req.key);
      const now = clock.now();
      // Finished, or not this request's key: nothing to wait for, and the claim answers it (replay
      // or 422). Going back through the lock instead would make a crowd of duplicates take it
      // one at a time, the rest re-reading this row in a loop meanwhile.
      if (row?.state === 'completed' || (row && row.fingerprint !== req.fingerprint)) return 'claim';
      // The owner's lease has ended: the claim takes the key over.
      if (row && claimTakes(row, req.fingerprint, now)) return 'claim';
      if (now >= deadline) {
        this.observe('hold_timeout');
        const leaseLeft = row?.leaseUntil ? row.leaseUntil - now : this.o.leaseMs;
        throw new IdemError('IDEM_IN_PROGRESS', `a request with Idempotency-Key "${req.key}" is still in progress`, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(Math.min(leaseLeft, this.o.leaseMs) / 1000))) },
        });
      }
      // No row: the lock holder is about to claim, and its claim's end notifies us. If it does
      // not come soon, the holder may have died before claiming: claim ourselves.
      let wakeAt = Math.min(deadline, row?.leaseUntil ?? now + this.o.unclaimedLockGraceMs);
      if (!this.o.events.healthy || !live) wakeAt = Math.min(wakeAt, now + this.o.degradedRecheckMs);
      else if (this.o.events.recheckMs !== undefined) wakeAt = Math.min(wakeAt, now + this.o.events.recheckMs);
      cancel = timers.after(Math.max(0, wakeAt - now), () => wake('timer'));
      const by = await woken;
      return by === 'timer' && row === null ? 'claim' : 'recheck';
    } finally {
      unwatch();
      cancel();
    }
  }

  /**
   * Gives the key up after a failure. If nothing was created yet the key is forgotten, so the
   * retry is a fresh request; otherwise its lease ends now, so the retry takes it over at once
   * and resumes the resource.
   */
  private async release(req: KeyRequest, fence: number): Promise<void> {
    const { store, runtime } = this.o;
    if (!(await store.forgetKey(req.merchantId, req.key, fence))) await store.endKeyLease(req.merchantId, req.key, fence, runtime.clock.now());
  }

  private replay(req: KeyRequest, cached: CachedResponse): GateAnswer {
    if (cached.fingerprint !== req.fingerprint) throw this.reused(req);
    this.observe('replayed');
    return { status: cached.status, contentType: cached.contentType, body: cached.body, replayed: true, result: 'final' };
  }

  private reused(req: KeyRequest, method?: string, path?: string): IdemError {
    this.observe('reused');
    const first = method && path ? ` for ${method} ${path}` : '';
    return new IdemError('IDEM_KEY_REUSED', `Idempotency-Key "${req.key}" was first used${first} with another request; nothing ran`);
  }

  /**
   * Caches a final response, releases our lock and wakes every held duplicate (when the key
   * changed, or when our lock may have made others wait).
   */
  private async letGo(
    req: KeyRequest,
    lockToken: string | null,
    response: CachedResponse | null,
    expiresAt: number | null = null,
    changed = lockToken !== null,
  ): Promise<void> {
    const ttl = response && expiresAt ? expiresAt - this.o.runtime.clock.now() : 0;
    const cache = response && ttl > 0 ? response : null;
    if (lockToken !== null || cache) await this.o.fast.finish(req.merchantId, req.key, lockToken, cache, ttl);
    if (changed || lockToken !== null) await this.o.events.publish(req.merchantId, req.key);
  }

  private observe(event: GateEvent): void {
    this.o.observe?.(event);
  }
}
