/**
 * The demo's traffic: seeded checkouts, and a merchant's checkout backend that retries with the
 * same idempotency key until it has a final answer (docs/idempotency.md), counting everything
 * it saw for the summary.
 */
import { seededRandom } from '../../ports/seeded.js';
import { exponentialBackoff } from '../../resilience/backoff.js';
import { isInFlight } from '../../payments/states.js';

/** How long one client request may keep retrying before the demo gives up on it. */
export const REQUEST_DEADLINE_MS = 60_000;
const DUPLICATE_RATE = 0.2;

export interface CheckoutOutcome {
  index: number;
  paymentId: string | null;
  /** Keys this checkout used, in order. */
  keys: string[];
  /** Saw a 202 (unknown gateway outcome) on some request. */
  sawPending: boolean;
  abandoned: boolean;
}

/**
 * One customer's checkout, its choices drawn from (seed, index) so the plan does not depend on
 * the order the workers pick checkouts up: create (manual or automatic capture, some declined
 * by the card, some routed to sim-b first), then capture (all or part) or void, then for some
 * captures a refund (all or part).
 */
export async function checkout(client: Client, seed: number, index: number): Promise<CheckoutOutcome> {
  const rng = seededRandom((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const o: CheckoutOutcome = { index, paymentId: null, keys: [], sawPending: false, abandoned: false };
  const step = async (path: string, key: string, body: Record<string, unknown>) => {
    o.keys.push(key);
    const twice = rng.float() < DUPLICATE_RATE;
    const answer = await client.post(path, key, body, twice);
    if (answer.sawPending) o.sawPending = true;
    return answer;
  };
  try {
    const amount = 500 + Math.floor(rng.float() * 19_500);
    const automatic = rng.float() < 0.2;
    const declined = rng.float() < 0.06;
    const preferB = rng.float() < 0.35;
    const prefix = `demo-${seed}-${index}`;
    const created = await step('/v1/payments', `${prefix}-create`, {
      amount,
      currency: 'EUR',
      capture_method: automatic ? 'automatic' : 'manual',
      payment_method: { type: 'card', token: declined ? 'tok_decline_insufficient_funds' : 'tok_visa' },
      reference: `order-${seed}-${index}`,
      ...(preferB ? { gateway: 'sim-b' } : {}),
    });
    let payment = created.json as { id?: string; payment_id?: string; status?: string; amount_captured?: number; amount_authorized?: number };
    o.paymentId = payment.id ?? payment.payment_id ?? null;
    if (o.paymentId === null || created.status !== 201) return o;

    if (payment.status === 'authorized') {
      const r = rng.float();
      if (r < 0.7) {
        const partial = rng.float() < 0.3;
        const captured = await step(`/v1/payments/${o.paymentId}/capture`, `${prefix}-capture`, partial ? { amount: Math.ceil(amount / 2) } : {});
        if (captured.status !== 200) return o;
        payment = captured.json as typeof payment;
      } else {
        await step(`/v1/payments/${o.paymentId}/void`, `${prefix}-void`, {});
        return o;
      }
    }
    if ((payment.status === 'captured' || payment.status === 'partially_captured') && rng.float() < 0.4) {
      const partial = rng.float() < 0.5;
      await step(`/v1/payments/${o.paymentId}/refunds`, `${prefix}-refund`, partial ? { amount: Math.ceil((payment.amount_captured ?? 2) / 2) } : {});
    }
    return o;
  } catch (err) {
    if (err instanceof GaveUp) {
      o.abandoned = true;
      return o;
    }
    throw err;
  }
}

export class GaveUp extends Error {
  override readonly name = 'GaveUp';
}

/** Where Idem is now: closed while it restarts, so requests wait for it instead of failing. */
export class Door {
  current: string | null;
  private opened: Promise<string>;
  private openIt: (url: string) => void = () => {};
  private failIt: (err: unknown) => void = () => {};

  constructor(url: string) {
    this.current = url;
    this.opened = Promise.resolve(url);
  }

  url(): Promise<string> {
    return this.opened;
  }

  close(): void {
    this.current = null;
    this.opened = new Promise((resolve, reject) => {
      this.openIt = resolve;
      this.failIt = reject;
    });
    this.opened.catch(() => {}); // observed by whoever waits; not an unhandled rejection
  }

  /** Idem could not be started again: everyone waiting, and later, gets `err`. */
  fail(err: unknown): void {
    this.current = null;
    this.failIt(err);
    this.opened = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    this.opened.catch(() => {});
  }

  open(url: string): void {
    this.current = url;
    this.openIt(url);
    this.opened = Promise.resolve(url);
  }
}

export interface FinalAnswer {
  status: number;
  json: Record<string, unknown>;
  sawPending: boolean;
}

/** A merchant's checkout backend: same key on every retry, a few duplicates, counts everything. */
export class Client {
  sent = 0;
  duplicates = 0;
  retries = 0;
  /** Why requests were sent again: the answer that made the client retry. */
  readonly retriedAfter = { pending: 0, inProgress: 0, connection: 0, serverError: 0 };
  /** The first few 5xx bodies, for the summary. */
  readonly serverErrors: string[] = [];
  inFlight = 0;
  private readonly pending = new Map<string, number>();
  /** Every final answer (status and exact body) per key, to check I2. */
  private readonly finals = new Map<string, Set<string>>();

  constructor(
    private readonly door: Door,
    private readonly apiKey: string,
  ) {}

  pendingKeys(): string[] {
    return [...this.pending.keys()];
  }

  /** POSTs with `key` (twice at once when `twice`) until a final answer; retries the same key. */
  async post(path: string, key: string, body: Record<string, unknown>, twice: boolean): Promise<FinalAnswer> {
    if (twice) this.duplicates++;
    const answers = await Promise.all(Array.from({ length: twice ? 2 : 1 }, () => this.untilFinal(path, key, body)));
    return answers[0]!;
  }

  async get<T>(path: string, timeoutMs = 10_000): Promise<T> {
    const url = await this.door.url();
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${this.apiKey}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  }

  differentFinalAnswers(): number {
    let n = 0;
    for (const bodies of this.finals.values()) if (bodies.size > 1) n++;
    return n;
  }

  private async untilFinal(path: string, key: string, body: Record<string, unknown>): Promise<FinalAnswer> {
    const deadline = Date.now() + REQUEST_DEADLINE_MS;
    let sawPending = false;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.retries++;
      if (Date.now() > deadline) throw new GaveUp(`${key}: no final answer within ${REQUEST_DEADLINE_MS} ms`);
      const base = await this.door.url();
      this.sent++;
      this.inFlight++;
      this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
      let status: number;
      let text: string;
      let retryAfter: string | null;
      try {
        const res = await fetch(base + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiKey}`, 'idempotency-key': key, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(20_000),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        text = await res.text();
      } catch {
        // Reset, refused (Idem was killed) or no answer in time: the same key again, later.
        this.retriedAfter.connection++;
        await delay(100);
        continue;
      } finally {
        this.inFlight--;
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left === 0) this.pending.delete(key);
        else this.pending.set(key, left);
      }
      const json = parseJson(text);
      const retry = status === 202 || status >= 500 || (status === 409 && json.code === 'IDEM_IN_PROGRESS');
      if (retry) {
        if (status === 202) {
          sawPending = true;
          this.retriedAfter.pending++;
        } else if (status === 409) this.retriedAfter.inProgress++;
        else {
          this.retriedAfter.serverError++;
          if (this.serverErrors.length < 5) this.serverErrors.push(`${status} ${text.slice(0, 300)}`);
        }
        const afterMs = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
        await delay(exponentialBackoff({ baseMs: 100, capMs: 1_000 }).delay(attempt, afterMs > 0 ? 250 : 0));
        continue;
      }
      let seen = this.finals.get(key);
      if (!seen) this.finals.set(key, (seen = new Set()));
      seen.add(`${status} ${text}`);
      return { status, json, sawPending };
    }
  }
}

export function parseJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function countInFlight(client: Client): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page: { data: Array<{ status: string }>; next_cursor: string | null } = await client.get(
      `/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    n += page.data.filter((p) => isInFlight(p.status)).length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  return n;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
