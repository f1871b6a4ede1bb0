import { describe, expect, it } from 'vitest';
import type { KeyEvents } from '../../src/idempotency/events.js';
import { InProcessFastPath } from '../../src/idempotency/fastpath.js';
import type { Operation } from '../../src/idempotency/claim.js';
import { Gate } from '../../src/idempotency/gate.js';
import { systemRuntime } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';

/**
 * A held duplicate whose notice never comes (a Redis Cluster shard that died, or one that
 * dropped its subscription without a sign): the gate must not sit out the hold. Over the
 * in-memory store, real time, a notifier that delivers nothing.
 */
function deafEvents(extra: Partial<Pick<KeyEvents, 'listening' | 'recheckMs'>>): KeyEvents {
  return { healthy: true, watch: () => () => {}, publish: async () => {}, close: async () => {}, ...extra };
}

async function duplicateWait(events: KeyEvents): Promise<{ first: number; duplicate: number; bodies: string[] }> {
  const store = new MemoryStore();
  await store.insertMerchant({ id: 'mer_1', name: 'm', keyHash: 'h', keyPrefix: 'p' });
  const gate = new Gate({ store, fast: new InProcessFastPath(systemRuntime.clock), events, runtime: systemRuntime, holdTimeoutMs: 2_000, leaseMs: 30_000, keyTtlMs: 3_600_000 });
  const response = { status: 201, contentType: 'application/json', body: '{"ok":true}' };
  const op: Operation = async (claim) => {
    await new Promise((r) => setTimeout(r, 200));
    await store.transaction(async (tx) => {
      await claim.guard(tx);
      await claim.complete(tx, response);
    });
    return { kind: 'final', response };
  };
  const req = { merchantId: 'mer_1', key: 'k', method: 'POST', path: '/v1/payments', fingerprint: 'f' };
  const started = Date.now();
  const first = gate.execute(req, op).then((a) => ({ a, ms: Date.now() - started }));
  await new Promise((r) => setTimeout(r, 20));
  const duplicate = gate.execute(req, op).then((a) => ({ a, ms: Date.now() - started }));
  const [f, d] = await Promise.all([first, duplicate]);
  return { first: f.ms, duplicate: d.ms, bodies: [f.a.body, d.a.body] };
}

describe('gate: a held request whose notice is lost', () => {
  it('without a sign of the loss, waits until its hold deadline (what the two cases below avoid)', async () => {
    const r = await duplicateWait(deafEvents({}));
    expect(r.duplicate).toBeGreaterThan(1_500);
  });

  it('re-checks on the short timer when its notifier says it is not listening', async () => {
    const r = await duplicateWait(deafEvents({ listening: async () => false }));
    expect(r.bodies[1]).toBe(r.bodies[0]);
    expect(r.duplicate - r.first).toBeLessThan(1_000);
  });

  it('re-checks every recheckMs even while listening, when the notifier can lose notices silently', async () => {
    const r = await duplicateWait(deafEvents({ listening: async () => true, recheckMs: 300 }));
    expect(r.bodies[1]).toBe(r.bodies[0]);
    expect(r.duplicate - r.first).toBeLessThan(1_000);
  });
});
