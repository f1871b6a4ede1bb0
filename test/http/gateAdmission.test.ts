import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdemError } from '../../src/errors/registry.js';
import { SHED_RETRY_AFTER_S, ShedError } from '../../src/idempotency/admission.js';
import { LocalKeyEvents } from '../../src/idempotency/events.js';
import { InProcessFastPath } from '../../src/idempotency/fastpath.js';
import type { Operation } from '../../src/idempotency/claim.js';
import { Gate, type GateAnswer } from '../../src/idempotency/gate.js';
import type { Runtime } from '../../src/ports/clock.js';
import { seededRandom } from '../../src/ports/seeded.js';
import { ConcurrencyLimit, fixedLimit } from '../../src/resilience/concurrencyLimit.js';
import { MemoryStore } from '../../src/store/memory/index.js';

/**
 * Where the gate asks the concurrency limit (docs/resilience.md, "Shedding overload"), on
 * virtual time over the in-memory store: only a request whose key is unknown is shed; a replay,
 * a held duplicate and anything that claimed its key never are. Operations block until the
 * test finishes them, so "in flight" is exactly what the test says it is.
 */
type Action = { kind: 'new' } | { kind: 'dup'; of: number } | { kind: 'replay'; of: number } | { kind: 'finish'; of: number } | { kind: 'retry' };

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

async function scenario(limitN: number, actions: Action[]) {
  let now = 1_000_000;
  // Virtual time that never moves on its own: no lease ends, no hold times out.
  const runtime: Runtime = { clock: { now: () => now }, timers: { after: () => () => {}, every: () => () => {} }, random: seededRandom(7) };
  const store = new MemoryStore();
  await store.insertMerchant({ id: 'mer_1', name: 'm', keyHash: 'h', keyPrefix: 'p' });
  const limit = new ConcurrencyLimit(fixedLimit(limitN));
  const gate = new Gate({ store, fast: new InProcessFastPath(runtime.clock), events: new LocalKeyEvents(), runtime, holdTimeoutMs: 60_000, leaseMs: 30_000, keyTtlMs: 3_600_000, admission: limit });
  const running = new Map<string, () => void>();
  const claimed = new Set<string>();
  const completed = new Set<string>();
  const shed: string[] = [];
  const results: Array<{ key: string; kind: Action['kind']; answer: Promise<GateAnswer | IdemError> }> = [];
  const violations: string[] = [];
  let seq = 0;
  let shedTotal = 0;

  const op =
    (key: string): Operation =>
    async (claim) => {
      claimed.add(key);
      await new Promise<void>((resolve) => running.set(key, resolve));
      const response = { status: 201, contentType: 'application/json', body: JSON.stringify({ key }) };
      await store.transaction(async (tx) => {
        await claim.guard(tx);
        await claim.complete(tx, response);
      });
      completed.add(key);
      running.delete(key);
      return { kind: 'final', response };
    };
  const send = (key: string, kind: Action['kind']) => {
    const answer = gate.execute({ merchantId: 'mer_1', key, method: 'POST', path: '/v1/payments', fingerprint: 'f' }, op(key)).catch((err: unknown) => {
      if (err instanceof IdemError) return err;
      throw err;
    });
    results.push({ key, kind, answer });
    return answer;
  };

  const keys: string[] = [];
  for (const a of actions) {
    const inFlightBefore = running.size;
    if (a.kind === 'new' || (a.kind === 'retry' && shed.length === 0)) {
      const key = `k${++seq}`;
      keys.push(key);
      void send(key, 'new');
    } else if (a.kind === 'retry') {
      void send(shed.shift()!, 'retry');
    } else {
      const key = keys[a.of % Math.max(1, keys.length)];
      if (key === undefined) continue;
      if (a.kind === 'finish') {
        running.get(key)?.();
        await settle();
        continue;
      }
      else if (a.kind === 'replay' && completed.has(key)) void send(key, 'replay');
      else if (a.kind === 'dup' && running.has(key)) void send(key, 'dup');
      else continue;
    }
    await settle();
    const last = results.at(-1)!;
    const settled = await Promise.race([last.answer, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
    if (settled instanceof IdemError && settled.code === 'UNAVAILABLE') {
      shed.push(last.key);
      shedTotal++;
      if (last.kind === 'replay' || last.kind === 'dup') violations.push(`${last.kind} of ${last.key} was shed`);
      if (claimed.has(last.key)) violations.push(`${last.key} was shed after its key was claimed`);
      if (inFlightBefore < limitN) violations.push(`${last.key} was shed with ${inFlightBefore} of ${limitN} in flight`);
      if (!(settled instanceof ShedError) || !SHED_RETRY_AFTER_S.map(String).includes(settled.headers['retry-after'] ?? '')) violations.push(`shed without a Retry-After of ${SHED_RETRY_AFTER_S.join(', ')}`);
      if ((await store.readKey('mer_1', last.key)) !== null) violations.push(`shed ${last.key} left a key row`);
    } else if ((last.kind === 'new' || last.kind === 'retry') && inFlightBefore >= limitN) {
      violations.push(`${last.key} was admitted with ${inFlightBefore} of ${limitN} in flight`);
    }
    now += 5;
  }
  // Let everything finish: every held duplicate then gets its owner's answer.
  while (running.size > 0) {
    for (const finish of [...running.values()]) finish();
    await settle();
  }
  for (const r of results) {
    const a = await r.answer;
    if (a instanceof IdemError) {
      if (a.code !== 'UNAVAILABLE') violations.push(`${r.kind} of ${r.key} answered ${a.code}`);
      else if (claimed.has(r.key) && r.kind !== 'new' && r.kind !== 'retry') violations.push(`${r.kind} of claimed ${r.key} answered 503`);
    } else if (a.body !== JSON.stringify({ key: r.key })) violations.push(`${r.kind} of ${r.key} answered another body`);
  }
  return { violations, limit: limit.state, shed: shedTotal, completed: [...completed].sort() };
}

const actions = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant<Action>({ kind: 'new' }) },
    { weight: 2, arbitrary: fc.constant<Action>({ kind: 'retry' }) },
    { weight: 3, arbitrary: fc.nat(20).map<Action>((of) => ({ kind: 'dup', of })) },
    { weight: 3, arbitrary: fc.nat(20).map<Action>((of) => ({ kind: 'replay', of })) },
    { weight: 3, arbitrary: fc.nat(20).map<Action>((of) => ({ kind: 'finish', of })) },
  ),
  { maxLength: 40 },
);

describe('gate: where the concurrency limit sheds', () => {
  it('sheds only unknown keys past the limit, with Retry-After and no key row; never a replay, a held duplicate or a claimed key (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), actions, async (n, acts) => {
        const { violations, limit } = await scenario(n, acts);
        expect(violations).toEqual([]);
        expect(limit.inFlight).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('a shed key retried once there is room runs once', async () => {
    const { violations, shed, completed } = await scenario(1, [{ kind: 'new' }, { kind: 'new' }, { kind: 'finish', of: 0 }, { kind: 'retry' }, { kind: 'finish', of: 1 }, { kind: 'replay', of: 1 }]);
    expect(shed).toBe(1);
    expect(completed).toEqual(['k1', 'k2']);
    expect(violations).toEqual([]);
  });
});

describe('gate.screen: the shed decided before the body is read', () => {
  /**
   * A gate at a limit of one with its one request in flight, a fast path that knows the keys
   * in `knownKeys`, and key-row reads of `candidate-…` keys that wait until `releaseReads` (so
   * those shed candidates hold the read slots busy).
   */
  async function atLimit(knownKeys: string[]) {
    const now = 1_000_000;
    const runtime: Runtime = { clock: { now: () => now }, timers: { after: () => () => {}, every: () => () => {} }, random: seededRandom(3) };
    const store = new MemoryStore();
    await store.insertMerchant({ id: 'mer_1', name: 'm', keyHash: 'h', keyPrefix: 'p' });
    let releaseReads = () => {};
    const reads = new Promise<void>((r) => (releaseReads = r));
    const readKey = store.readKey.bind(store);
    store.readKey = async (m, k) => {
      if (k.startsWith('candidate-')) await reads;
      return readKey(m, k);
    };
    const fast = new InProcessFastPath(runtime.clock);
    const known = async (_m: string, key: string) => (knownKeys.includes(key) ? ('known' as const) : ('unknown' as const));
    const limit = new ConcurrencyLimit(fixedLimit(1));
    const gate = new Gate({ store, fast: Object.assign(fast, { known }), events: new LocalKeyEvents(), runtime, holdTimeoutMs: 60_000, leaseMs: 30_000, keyTtlMs: 3_600_000, admission: limit });
    let finishFirst = () => {};
    const request = (key: string, op: Operation) =>
      gate.execute({ merchantId: 'mer_1', key, method: 'POST', path: '/v1/payments', fingerprint: 'f' }, op).catch((err: unknown) => err);
    const answer = { status: 201, contentType: 'application/json', body: '{}' };
    const first = request('first', async (claim) => {
      await new Promise<void>((r) => (finishFirst = r));
      await store.transaction(async (tx) => {
        await claim.guard(tx);
        await claim.complete(tx, answer);
      });
      return { kind: 'final', response: answer };
    });
    await settle();
    return { gate, limit, store, request, releaseReads, first, finish: () => finishFirst() };
  }

  /** What `screen` decided: shed (with a Retry-After from the set) or go on (null). */
  const screened = async (p: Promise<number | null> | null) => {
    const retryAfterS = await p;
    if (retryAfterS === null) return null;
    return SHED_RETRY_AFTER_S.includes(retryAfterS) ? 'shed' : `shed with Retry-After ${retryAfterS}`;
  };

  it('sheds an unknown key only once the limit is reached and every key-row read slot is busy; lets a known key through', async () => {
    const t = await atLimit(['known']);
    // Read slots free: the gate reads the key row instead (admit), so screen lets it pass.
    expect(await screened(t.gate.screen('mer_1', 'unknown-1'))).toBeNull();
    // Two shed candidates hold both read slots.
    const waiting = [t.request('candidate-1', async () => ({ kind: 'final', response: { status: 201, contentType: 'application/json', body: '{}' } })), t.request('candidate-2', async () => ({ kind: 'final', response: { status: 201, contentType: 'application/json', body: '{}' } }))];
    await settle();
    expect(await screened(t.gate.screen('mer_1', 'unknown-2'))).toBe('shed');
    expect(await screened(t.gate.screen('mer_1', 'known'))).toBeNull();
    // The limit counts each refusal: the two candidates' (before their reads) and the screen's.
    expect(t.limit.state.shed).toBe(3);
    // Below the limit nothing is screened out.
    t.releaseReads();
    t.finish();
    await t.first;
    await Promise.all(waiting);
    expect(t.limit.state.inFlight).toBe(0);
    expect(await screened(t.gate.screen('mer_1', 'unknown-3'))).toBeNull();
    expect(await t.store.readKey('mer_1', 'unknown-2')).toBeNull();
  });
});
