import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveLimit, ConcurrencyLimit, fixedLimit, type Slot } from './concurrencyLimit.js';

/**
 * A server on virtual time: `knee` requests at once take `floorMs` each; past the knee they
 * share it, so latency grows with requests in flight (a saturated CPU). `clients` clients send
 * one request after another; a shed client comes back after `backoffMs`.
 */
function run(limit: ConcurrencyLimit, s: { clients: number; knee: number; floorMs: number; seconds: number; backoffMs?: number; latency?: (inFlight: number, t: number) => number }) {
  const latencyOf = s.latency ?? ((inFlight: number) => s.floorMs * Math.max(1, inFlight / s.knee));
  const busyUntil = new Array<number>(s.clients).fill(0);
  const running: Array<{ client: number; slot: Slot; endsAt: number }> = [];
  const limits: number[] = [];
  let admitted = 0;
  let latencySum = 0;
  let shed = 0;
  for (let t = 0; t < s.seconds * 1000; t++) {
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i]!;
      if (r.endsAt > t) continue;
      running.splice(i, 1);
      limit.release(r.slot, t, true);
      latencySum += t - r.slot.startedAt;
      busyUntil[r.client] = t;
    }
    for (let c = 0; c < s.clients; c++) {
      if (busyUntil[c]! > t || running.some((r) => r.client === c)) continue;
      const slot = limit.tryAcquire(t);
      if (slot === null) {
        shed++;
        busyUntil[c] = t + (s.backoffMs ?? 50);
        continue;
      }
      admitted++;
      running.push({ client: c, slot, endsAt: t + Math.max(1, Math.round(latencyOf(running.length + 1, t))) });
      busyUntil[c] = Number.POSITIVE_INFINITY;
    }
    if (t % 100 === 0) limits.push(limit.state.limit);
  }
  return { limits, admitted, shed, meanLatency: latencySum / Math.max(1, admitted - running.length), final: limit.state };
}

describe('ConcurrencyLimit', () => {
  it('keeps its limit through slow windows at low concurrency, so light traffic is never shed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 2, max: 40 }), fc.integer({ min: 50, max: 2_000 }), (clients, floorMs, spikeMs) => {
        const limit = new ConcurrencyLimit(adaptiveLimit());
        // A few clients; every other second the work is `spikeMs` slow (a pause, a pass).
        const { shed, final } = run(limit, { clients, knee: 100, floorMs, seconds: 20, latency: (_n, t) => (Math.floor(t / 1000) % 2 === 1 ? spikeMs : floorMs) });
        expect(shed).toBe(0);
        expect(final.limit).toBe(adaptiveLimit().initial);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps the limit within [min, max] whatever the latencies and their order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 200 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5_000 }), fc.boolean()), { maxLength: 600 }),
        (min, span, events) => {
          const o = { ...adaptiveLimit(min + span), min };
          const limit = new ConcurrencyLimit(o);
          const open: Slot[] = [];
          let t = 0;
          for (const [acquire, gap, measured] of events) {
            t += gap;
            if (acquire || open.length === 0) {
              const slot = limit.tryAcquire(t);
              if (slot) open.push(slot);
            } else limit.release(open.shift()!, t, measured);
            const { limit: now, inFlight } = limit.state;
            if (now < o.min || now > o.max || inFlight !== open.length) return false;
          }
          return true;
        },
      ),
    );
  });

  it('grows while latency stays at the floor (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), (floorMs) => {
        const r = run(new ConcurrencyLimit(adaptiveLimit()), { clients: 400, knee: 1_000, floorMs, seconds: 10, latency: () => floorMs });
        return r.final.limit > adaptiveLimit().initial * 2;
      }),
      { numRuns: 15 },
    );
  });

  it('shrinks when latency rises past the floor, then admits only what does not queue (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 20 }), fc.integer({ min: 2, max: 40 }), (knee, floorMs) => {
        const limit = new ConcurrencyLimit({ ...adaptiveLimit(), initial: 200 });
        const r = run(limit, { clients: 300, knee, floorMs, seconds: 20 });
        const late = r.limits.slice(-50);
        // Shrunk from 200 to near the knee: a few times the knee at most, with the queue it allows.
        return Math.max(...late) < 200 && Math.max(...late) <= 3 * knee + 8 && r.final.floorMs !== null && r.final.floorMs <= 2 * floorMs;
      }),
      { numRuns: 15 },
    );
  });

  it('shrinks under latency rising over time at the same load, and sheds the excess', () => {
    const limit = new ConcurrencyLimit(adaptiveLimit());
    const r = run(limit, { clients: 200, knee: 1_000, floorMs: 10, seconds: 30, latency: (_n, t) => (t < 10_000 ? 10 : 10 + (t - 10_000) / 100) });
    const at10s = r.limits[100]!;
    expect(at10s).toBeGreaterThan(adaptiveLimit().initial);
    expect(r.final.limit).toBeLessThan(at10s / 2);
    expect(r.shed).toBeGreaterThan(0);
  });

  it('with a floor (the PostgreSQL pool of idem serve), a saturated server keeps the floor and sheds the rest', () => {
    // Latency rises from the first request on (a CPU shared with other work): without the floor
    // the limit falls toward the knee; with it, it falls to 16 and no further, and the rest are shed.
    const floored = run(new ConcurrencyLimit({ ...adaptiveLimit(1_000, 16), initial: 200 }), { clients: 300, knee: 2, floorMs: 10, seconds: 20 });
    const bare = run(new ConcurrencyLimit({ ...adaptiveLimit(), initial: 200 }), { clients: 300, knee: 2, floorMs: 10, seconds: 20 });
    expect(Math.min(...floored.limits)).toBe(16);
    expect(floored.final.limit).toBe(16);
    expect(floored.shed).toBeGreaterThan(0);
    expect(bare.final.limit).toBeLessThan(16);
    expect(adaptiveLimit(1_000, 16)).toMatchObject({ initial: 20, min: 16 });
    expect(adaptiveLimit(1_000, 40)).toMatchObject({ initial: 40, min: 40 });
    expect(adaptiveLimit(10, 16)).toMatchObject({ initial: 10, min: 10 });
  });

  it('a fixed limit never moves and sheds past it', () => {
    const limit = new ConcurrencyLimit(fixedLimit(3));
    const slots = [0, 1, 2].map(() => limit.tryAcquire(0));
    expect(slots.every((s) => s !== null)).toBe(true);
    expect(limit.tryAcquire(0)).toBeNull();
    for (const s of slots) limit.release(s!, 10_000, true);
    expect(limit.state).toMatchObject({ limit: 3, inFlight: 0, shed: 1 });
  });
});
