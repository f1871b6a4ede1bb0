/**
 * The events benchmark's measuring parts (bench/events.ts): first arrivals at the webhook
 * receiver and the JetStream subscriber, and one paced step — payments at a steady rate, the
 * API's answers and both delivery backlogs sampled while it runs, then each event's latency
 * from its write to its first arrival.
 */
import http from 'node:http';
import { deliveryHeaders } from '../src/events/webhooks.js';
import type { Arrival } from './webhookReceiver.js';

export const EVENTS_PER_PAYMENT = 6;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** First arrival per payment event id, and when (events about no payment are not counted). */
export class Arrivals {
  readonly first = new Map<string, { at: number; createdAt: number }>();
  note(body: string): void {
    const e = JSON.parse(body) as { id: string; created_at: string; payment_id?: string | null };
    this.noteArrival({ id: e.id, at: Date.now(), createdAt: Date.parse(e.created_at), payment: Boolean(e.payment_id) });
  }
  /** An arrival stamped elsewhere (the receiver's thread, bench/webhookReceiver.ts). */
  noteArrival(a: Arrival): void {
    if (!a.payment || this.first.has(a.id)) return;
    this.first.set(a.id, { at: a.at, createdAt: a.createdAt });
    if (a.createdAt >= this.markAt) this.sinceMark++;
  }
  /** First arrivals of events written at or after `since` (see `mark`). */
  sinceMark = 0;
  private markAt = Infinity;
  get count(): number {
    return this.first.size;
  }
  /** Counts from now on the first arrivals of events written at or after `at`. */
  mark(at: number): void {
    this.markAt = at;
    this.sinceMark = 0;
  }
  /** Latencies (write → first arrival) of the events written in [from, to). */
  latencies(from: number, to: number): number[] {
    const out: number[] = [];
    for (const a of this.first.values()) if (a.createdAt >= from && a.createdAt < to) out.push(a.at - a.createdAt);
    return out;
  }
}

/** POST /v1/payments with a key; answers the status (503: shed by the API). */
export type Post = (key: string) => Promise<number>;

export function poster(base: string, apiKey: string, agent: http.Agent, body: unknown): Post {
  const data = JSON.stringify(body);
  return (key) =>
    new Promise<number>((resolve) => {
      const req = http.request(`${base}/v1/payments`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': key, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
      req.end(data);
    });
}

/** Sends with the same key again while the API sheds (503), as Idem's clients do. */
export async function postPolitely(post: Post, key: string): Promise<number> {
  for (let i = 0; ; i++) {
    const s = await post(key);
    if (s !== 503 || i >= 50) return s;
    await sleep(100 + 50 * i);
  }
}

/** Both deliveries' first arrivals. */
export interface Counters {
  webhook: Arrivals;
  nats: Arrivals;
}

/** Waits until `done()` (at most `maxMs`); true if it came. */
export async function until(done: () => boolean | Promise<boolean>, maxMs: number): Promise<boolean> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    if (await done()) return true;
    await sleep(50);
  }
  return false;
}

export interface Step {
  /** Payments per second asked. */
  rate: number;
  /** Payments per second sent (the schedule kept by this process). */
  sentRate: number;
  payments: number;
  created: number;
  shed: number;
  other: number;
  /** From the last send to the last answer. */
  answerLagMs: number;
  /** The delivery backlog (events written, not yet arrived) early in the run and at its end. */
  backlog: { webhook: [number, number]; nats: [number, number] };
  /** The API answered every payment at the rate: all 201, none shed, the last answer within 1 s. */
  answered: boolean;
  /** Neither backlog grew over the run (by more than a quarter second of events). */
  keptUp: boolean;
  drainedMs: number;
  webhook: { delivered: number; p50Ms: number; p99Ms: number };
  nats: { delivered: number; p50Ms: number; p99Ms: number };
}

/**
 * One paced step: `rate` payments/s for `seconds` (open loop: each sent at its time, whatever
 * the answers before), the backlogs sampled every 250 ms, then (after both delivered every
 * event, at most `drainMs`) the latency of the events written during the step.
 *
 * "Keeps up": the backlog at the end of the run (mean of its last second) is at most the
 * backlog at a quarter of the run (mean of the second after it) plus a quarter second of
 * events. A delivery that keeps up holds a steady backlog (rate × its latency); one that does
 * not adds (offered − delivered rate) every second.
 */
export async function pacedStep(post: Post, c: Counters, rate: number, seconds: number, keyPrefix: string, drainMs: number): Promise<Step> {
  const n = Math.max(1, Math.round(rate * seconds));
  const samples: Array<{ t: number; webhook: number; nats: number }> = [];
  const start = Date.now();
  c.webhook.mark(start);
  c.nats.mark(start);
  let created = 0;
  const written = () => created * EVENTS_PER_PAYMENT;
  const sampler = setInterval(() => {
    samples.push({ t: Date.now() - start, webhook: Math.max(0, written() - c.webhook.sinceMark), nats: Math.max(0, written() - c.nats.sinceMark) });
  }, 250);
  const sends: Array<Promise<number>> = [];
  let lastSend = start;
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    lastSend = Date.now();
    sends.push(post(`${keyPrefix}${i}`).then((s) => (s === 201 && created++, s)));
  }
  const sentRate = n / ((lastSend - start) / 1000 + 1 / rate);
  const statuses = await Promise.all(sends);
  const answerLagMs = Date.now() - lastSend;
  clearInterval(sampler);
  const end = Date.now();
  const window = (from: number, to: number, k: 'webhook' | 'nats') => {
    const xs = samples.filter((s) => s.t >= from && s.t < to).map((s) => s[k]);
    return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const runMs = lastSend - start;
  const early = (k: 'webhook' | 'nats') => window(runMs / 4, runMs / 4 + 1000, k);
  const late = (k: 'webhook' | 'nats') => window(runMs - 1000, runMs + 1, k);
  const allowance = 0.25 * rate * EVENTS_PER_PAYMENT;
  const drainStart = Date.now();
  const ok = await until(() => c.webhook.sinceMark >= written() && c.nats.sinceMark >= written(), drainMs);
  const drainedMs = Date.now() - drainStart;
  const lat = (a: { latencies(from: number, to: number): number[] }) => {
    const xs = a.latencies(start, end);
    return { delivered: xs.length, p50Ms: pct(xs, 50), p99Ms: pct(xs, 99) };
  };
  const shed = statuses.filter((s) => s === 503).length;
  return {
    rate,
    sentRate,
    payments: n,
    created,
    shed,
    other: n - created - shed,
    answerLagMs,
    backlog: { webhook: [early('webhook'), late('webhook')], nats: [early('nats'), late('nats')] },
    answered: created === n && answerLagMs <= 1000 && sentRate >= 0.95 * rate,
    keptUp: ok && late('webhook') <= early('webhook') + allowance && late('nats') <= early('nats') + allowance,
    drainedMs,
    webhook: lat(c.webhook),
    nats: lat(c.nats),
  };
}

/**
 * The floor of webhook delivery on this machine: signed event-sized POSTs from this process to
 * `url` (the same receiver), through a keep-alive agent with Idem's defaults for one endpoint
 * (16 sockets, 16 in flight) — the HTTP exchanges and signatures a delivery cannot do without,
 * and none of its database work. Exchanges answered 2xx per second over `seconds`.
 */
export async function deliveryFloor(url: string, seconds: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  // An event-sized body (a payment's events are 717–1,003 bytes in the API's event view; this one 900) about no
  // payment, so the receiver's arrivals do not count it.
  const body = JSON.stringify({ id: 'evt_floor', type: 'payment.captured', created_at: new Date().toISOString(), payment_id: null, data: { pad: 'x'.repeat(780) } });
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const headers = { ...deliveryHeaders({ eventId: `evt_floor_${ok}`, secrets: [secret], body }, Date.now()), 'content-length': String(Buffer.byteLength(body)) };
      const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
        if (res.statusCode !== undefined && res.statusCode < 300) ok++;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return ok / elapsed;
}
