import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/payments.js';
import { seededRandom } from '../ports/seeded.js';
import { MemoryStore } from '../store/memory/index.js';
import type { Runtime } from '../ports/clock.js';
import { startStreamPublisher, subjectOf, type EventSink } from './publisher.js';

/** A runtime whose timers never fire: the test drives the publisher by `kick`. */
const manual = (now: { t: number }): Runtime => ({
  clock: { now: () => now.t },
  timers: { after: () => () => {}, every: () => () => {} },
  random: seededRandom(1),
});

describe('the stream publisher', () => {
  it('moves its cursor only past acknowledged events: a failing broker gets the same ids again, none skipped', async () => {
    const store = new MemoryStore();
    await store.insertMerchant({ id: 'mer_1', name: 'm', keyHash: 'h', keyPrefix: 'sk' });
    const now = { t: Date.UTC(2030, 0, 1) };
    for (let i = 0; i < 10; i++) {
      await store.insertSystemEvent({ id: `evt_${i}`, type: 'webhook_endpoint.disabled', merchantId: i % 2 ? 'mer_1' : null, data: {}, metadata: {}, createdAt: new Date(now.t) });
    }
    await store.transaction((tx) => tx.positionEvents(new Date(now.t), 100));
    const stored = new Map<string, string>();
    const sent: string[] = [];
    let failEvery = 3;
    const sink: EventSink = {
      async publish(subject, msgId) {
        sent.push(msgId);
        if (failEvery > 0 && sent.length % failEvery === 0) throw new Error('broker restarting');
        stored.set(msgId, subject); // the broker keeps one copy per id
      },
    };
    const published = new Set<string>();
    const publisher = startStreamPublisher({ store, runtime: manual(now), sink, name: 'test', intervalMs: 10, leaseMs: 1000, batch: 4, onPublished: (events) => events.forEach((e) => published.add(e.id)) });
    // Rounds with failures (every third publish refused) until several were refused, then a
    // healthy broker until the cursor moved past every event.
    const kicking = (what: string, done: () => boolean) =>
      waitUntil(what, () => {
        publisher.kick();
        return done();
      }, 5_000, 5);
    await kicking('the broker refused a few publishes', () => sent.length >= 12);
    failEvery = 0;
    await kicking('the cursor moved past every event', () => published.size === 10);
    await publisher.stop();
    expect([...stored.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `evt_${i}`).sort());
    expect(sent.length).toBeGreaterThan(10); // republished after failures
    expect(stored.get('evt_1')).toBe('idem.mer_1.webhook_endpoint.disabled');
    expect(stored.get('evt_0')).toBe('idem._system.webhook_endpoint.disabled');
    // The cursor is at the last event: a new publisher sends nothing again.
    const again: string[] = [];
    const next = startStreamPublisher({ store, runtime: manual(now), sink: { publish: async (_s, id) => void again.push(id) }, name: 'test', intervalMs: 10, leaseMs: 1000 });
    // Its first round runs at start; stop waits for it.
    await next.stop();
    expect(again).toEqual([]);
    expect(subjectOf({ merchantId: 'mer_x', type: 'payment.captured' })).toBe('idem.mer_x.payment.captured');
  });
});
