/**
 * The demo's traffic: seeded checkouts, and a merchant's checkout backend on `idem/client`
 * (docs/client.md), which retries with the same idempotency key until it has a final answer,
 * counting everything it saw for the summary.
 */
import { IdemApiError, IdemClient, IdemClientError, type ApiCall, type CallOptions, type Payment } from '../../client/index.js';
import { seededRandom } from '../../ports/seeded.js';
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
  const step = async (key: string, call: Call) => {
    o.keys.push(key);
    const twice = rng.float() < DUPLICATE_RATE;
    const answer = await client.send(key, call, twice);
    if (answer.sawPending) o.sawPending = true;
    return answer;
  };
  try {
    const amount = 500 + Math.floor(rng.float() * 19_500);
    const automatic = rng.float() < 0.2;
    const declined = rng.float() < 0.06;
    const preferB = rng.float() < 0.35;
    const prefix = `demo-${seed}-${index}`;
    const create = {
      amount,
      currency: 'EUR' as const,
      capture_method: automatic ? ('automatic' as const) : ('manual' as const),
      payment_method: { type: 'card' as const, token: declined ? 'tok_decline_insufficient_funds' : 'tok_visa' },
      reference: `order-${seed}-${index}`,
      ...(preferB ? { gateway: 'sim-b' } : {}),
    };
    const created = await step(`${prefix}-create`, (idem, options) => idem.payments.create(create, options));
    let payment = created.json as { id?: string; payment_id?: string; status?: string; amount_captured?: number; amount_authorized?: number };
    o.paymentId = payment.id ?? payment.payment_id ?? null;
    if (o.paymentId === null || created.status !== 201) return o;

    if (payment.status === 'authorized') {
      const r = rng.float();
      if (r < 0.7) {
        const partial = rng.float() < 0.3;
        const id = o.paymentId;
        const captured = await step(`${prefix}-capture`, (idem, options) => idem.payments.capture(id, partial ? { amount: Math.ceil(amount / 2) } : {}, options));
        if (captured.status !== 200) return o;
        payment = captured.json as typeof payment;
      } else {
        const id = o.paymentId;
        await step(`${prefix}-void`, (idem, options) => idem.payments.void(id, options));
        return o;
      }
    }
    if ((payment.status === 'captured' || payment.status === 'partially_captured') && rng.float() < 0.4) {
      const partial = rng.float() < 0.5;
      const id = o.paymentId;
      const captured = payment.amount_captured ?? 2;
      await step(`${prefix}-refund`, (idem, options) => idem.payments.refund(id, partial ? { amount: Math.ceil(captured / 2) } : {}, options));
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

/** One SDK call of a checkout step, with the step's key in `options`. */
export type Call = (idem: IdemClient, options: CallOptions) => ApiCall<Payment>;

/**
 * A merchant's checkout backend: `idem/client` with the step's key on every retry (the client
 * keeps it), a few duplicates sent at the same time, and counts of everything it saw.
 */
export class Client {
  sent = 0;
  duplicates = 0;
  retries = 0;
  /** Why requests were sent again: the answer that made the client retry. */
  readonly retriedAfter = { pending: 0, inProgress: 0, connection: 0, serverError: 0 };
  /** The first few 5xx bodies, for the summary. */
  readonly serverErrors: string[] = [];
  inFlight = 0;
  /** The SDK the checkouts use: asks the door for Idem's address before every attempt. */
  readonly idem: IdemClient;
  private readonly pending = new Map<string, number>();
  /** Keys that were answered 202 (outcome unknown) at least once. */
  private readonly sawPending = new Set<string>();
  /** Every final answer (status and exact body) per key, to check I2. */
  private readonly finals = new Map<string, Set<string>>();

  constructor(door: Door, apiKey: string) {
    this.idem = new IdemClient({
      baseUrl: () => door.url(),
      apiKey,
      retry: { maxAttempts: Infinity, deadlineMs: REQUEST_DEADLINE_MS, baseMs: 100, capMs: 1_000 },
      timeoutMs: 20_000,
      hooks: {
        beforeAttempt: ({ idempotencyKey }) => {
          this.sent++;
          this.inFlight++;
          if (idempotencyKey !== null) this.pending.set(idempotencyKey, (this.pending.get(idempotencyKey) ?? 0) + 1);
        },
        afterAttempt: (a) => {
          this.inFlight--;
          if (a.idempotencyKey !== null) {
            const left = (this.pending.get(a.idempotencyKey) ?? 1) - 1;
            if (left === 0) this.pending.delete(a.idempotencyKey);
            else this.pending.set(a.idempotencyKey, left);
          }
          if (a.status === 202 && a.idempotencyKey !== null) this.sawPending.add(a.idempotencyKey);
          if (a.retryInMs === null) return;
          this.retries++;
          // Reset, refused (Idem was killed) or no answer in time; 202; 409; 5xx: the same key again.
          if (a.status === null) this.retriedAfter.connection++;
          else if (a.status === 202) this.retriedAfter.pending++;
          else if (a.status === 409) this.retriedAfter.inProgress++;
          else {
            this.retriedAfter.serverError++;
            if (this.serverErrors.length < 5) this.serverErrors.push(`${a.status} ${(a.body ?? '').slice(0, 300)}`);
          }
        },
      },
    });
  }

  pendingKeys(): string[] {
    return [...this.pending.keys()];
  }

  /** Runs `call` with `key` (twice at once when `twice`) until a final answer. */
  async send(key: string, call: Call, twice: boolean): Promise<FinalAnswer> {
    if (twice) this.duplicates++;
    const answers = await Promise.all(Array.from({ length: twice ? 2 : 1 }, () => this.untilFinal(key, call)));
    return answers[0]!;
  }

  differentFinalAnswers(): number {
    let n = 0;
    for (const bodies of this.finals.values()) if (bodies.size > 1) n++;
    return n;
  }

  private async untilFinal(key: string, call: Call): Promise<FinalAnswer> {
    let meta;
    try {
      ({ meta } = await call(this.idem, { idempotencyKey: key }).withMeta());
    } catch (err) {
      // A final refusal (4xx) is an answer; anything else means no final answer before the deadline.
      if (!(err instanceof IdemApiError) || err.status >= 500) {
        if (err instanceof IdemClientError) throw new GaveUp(`${key}: no final answer within ${REQUEST_DEADLINE_MS} ms (${err.message})`);
        throw err;
      }
      meta = err.meta;
    }
    let seen = this.finals.get(key);
    if (!seen) this.finals.set(key, (seen = new Set()));
    seen.add(`${meta.status} ${meta.rawBody}`);
    return { status: meta.status ?? 0, json: parseJson(meta.rawBody), sawPending: this.sawPending.has(key) };
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
    const page = await client.idem.payments.list({ limit: 100, ...(cursor ? { cursor } : {}) }, { retry: { maxAttempts: 3 } });
    n += page.data.filter((p) => isInFlight(p.status)).length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  return n;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
