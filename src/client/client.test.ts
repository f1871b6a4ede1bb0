import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_STATUSES as SERVER_IN_FLIGHT } from '../payments/states.js';
import { errorCodes } from '../errors/registry.js';
import { IdemApiError, IdemClient, IdemConnectionError, IdemStillProcessingError, IN_FLIGHT_STATUSES, errorStatuses, isIdemError, signWebhook, uuidv7, verifyWebhook, WebhookVerificationError } from './index.js';

/**
 * The retry rules of `idem/client` (docs/client.md, "Retries") over a scripted `fetch`, a
 * virtual clock and a seeded random: what is sent again, with which key, after how long.
 */

type Scripted = { kind: 'answer'; status: number; code?: string; retryAfter?: number } | { kind: 'reset' };

interface Harness {
  client: IdemClient;
  sent: Array<{ method: string; url: string; key: string | null }>;
  sleeps: number[];
}

function harness(script: Scripted[], retry = { maxAttempts: 6, deadlineMs: 3_600_000, baseMs: 100, capMs: 2_000 }, seed = 1): Harness {
  let now = 1_700_000_000_000;
  let r = seed;
  const sent: Harness['sent'] = [];
  const sleeps: number[] = [];
  const fetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    sent.push({ method: init?.method ?? 'GET', url: String(url), key: headers.get('idempotency-key') });
    const step = script[Math.min(sent.length - 1, script.length - 1)]!;
    if (step.kind === 'reset') throw new TypeError('fetch failed: ECONNRESET');
    const body = step.code ? { type: 'x', title: 't', status: step.status, detail: 'd', code: step.code } : { id: 'pay_1', object: 'payment', status: step.status === 202 ? 'processing' : 'authorized' };
    const h = new Headers({ 'content-type': 'application/json', 'request-id': `req_${sent.length}`, 'idempotent-replayed': sent.length > 1 ? 'true' : 'false' });
    if (step.retryAfter !== undefined) h.set('retry-after', String(step.retryAfter));
    return new Response(JSON.stringify(body), { status: step.status, headers: h });
  };
  const client = new IdemClient({
    baseUrl: 'http://idem.test',
    apiKey: 'sk_test',
    fetch: fetch as typeof globalThis.fetch,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    random: () => {
      r = (Math.imul(r, 1_103_515_245) + 12_345) >>> 0;
      return r / 2 ** 32;
    },
    retry,
  });
  return { client, sent, sleeps };
}

const create = { amount: 100, currency: 'EUR' as const, capture_method: 'manual' as const, payment_method: { type: 'card' as const, token: 'tok_visa' } };
const retryable = (s: Scripted) => s.kind === 'reset' || s.status >= 500 || s.status === 202 || (s.status === 409 && s.code === 'IDEM_IN_PROGRESS');

const arbStep: fc.Arbitrary<Scripted> = fc.oneof(
  fc.constant<Scripted>({ kind: 'reset' }),
  fc.record({ kind: fc.constant('answer' as const), status: fc.constantFrom(500, 502, 503), code: fc.constantFrom('INTERNAL', 'UNAVAILABLE'), retryAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('answer' as const), status: fc.constant(202), retryAfter: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('answer' as const), status: fc.constant(409), code: fc.constant('IDEM_IN_PROGRESS'), retryAfter: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }) }),
  fc.record({
    kind: fc.constant('answer' as const),
    status: fc.constantFrom(400, 401, 402, 404, 409, 414, 422, 429),
    code: fc.constantFrom('VALIDATION_FAILED', 'AUTH_REQUIRED', 'PAYMENT_DECLINED', 'PAYMENT_NOT_FOUND', 'PAYMENT_INVALID_STATE', 'IDEM_KEY_REUSED', 'RATE_LIMITED'),
    retryAfter: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  }),
  fc.constant<Scripted>({ kind: 'answer', status: 201 }),
);

describe('idem/client retry rules', () => {
  it('property: one key per call across retries; retries exactly the retryable answers; never a 4xx but 409 IDEM_IN_PROGRESS; bounded; Retry-After is a floor', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbStep, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 2 ** 31 }), async (script, seed) => {
        const h = harness(script, { maxAttempts: 6, deadlineMs: 3_600_000, baseMs: 100, capMs: 2_000 }, seed);
        const outcome = await h.client.payments.create(create).withMeta().then(
          (r) => r,
          (e: unknown) => e,
        );
        const at = (i: number) => script[Math.min(i, script.length - 1)]!; // the script's last step repeats
        const firstFinal = script.findIndex((s) => !retryable(s));
        const expected = Math.min(firstFinal < 0 ? Infinity : firstFinal + 1, 6);
        expect(h.sent).toHaveLength(expected);
        // Never sent again after a final answer: every request but the last followed a retryable one.
        for (let i = 0; i < h.sent.length - 1; i++) expect(retryable(at(i))).toBe(true);
        // The key was minted once (a UUIDv7) and carried by every attempt.
        const keys = new Set(h.sent.map((s) => s.key));
        expect(keys.size).toBe(1);
        expect([...keys][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        // The waits: never under the answer's Retry-After, never over max(cap, Retry-After).
        expect(h.sleeps).toHaveLength(h.sent.length - 1);
        h.sleeps.forEach((ms, i) => {
          const s = at(i);
          const floor = s.kind === 'answer' && s.retryAfter !== undefined ? s.retryAfter * 1000 : 0;
          expect(ms).toBeGreaterThanOrEqual(floor);
          expect(ms).toBeLessThanOrEqual(Math.max(2_000, floor));
        });
        // The outcome matches the last answer.
        const last = at(h.sent.length - 1);
        if (last.kind === 'reset') expect(outcome).toBeInstanceOf(IdemConnectionError);
        else if (last.status === 201) expect(outcome).toMatchObject({ data: { id: 'pay_1' }, meta: { attempts: h.sent.length, status: 201, replayed: h.sent.length > 1, requestId: `req_${h.sent.length}` } });
        else if (last.status === 202 || (last.status === 409 && last.code === 'IDEM_IN_PROGRESS')) expect(outcome).toBeInstanceOf(IdemStillProcessingError);
        else {
          expect(outcome).toBeInstanceOf(IdemApiError);
          expect((outcome as IdemApiError).code).toBe(last.code);
          expect((outcome as IdemApiError).meta.attempts).toBe(h.sent.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: the wait before retry n is equal jitter over min(cap, base·2^n), the Retry-After a floor', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 2 ** 31 }), async (fails, seed) => {
        const h = harness([...Array.from({ length: fails }, (): Scripted => ({ kind: 'reset' })), { kind: 'answer', status: 201 }], { maxAttempts: 20, deadlineMs: 3_600_000, baseMs: 100, capMs: 2_000 }, seed);
        await h.client.payments.create(create);
        h.sleeps.forEach((ms, n) => {
          const exp = Math.min(2_000, 100 * 2 ** n);
          expect(ms).toBeGreaterThanOrEqual(exp / 2);
          expect(ms).toBeLessThan(exp);
        });
      }),
    );
  });

  it('keeps a given key; stops at the deadline; GETs carry no key; 202 is final where the route says so', async () => {
    const given = harness([{ kind: 'reset' }, { kind: 'answer', status: 201 }]);
    const { meta } = await given.client.payments.create(create, { idempotencyKey: 'order-42' }).withMeta();
    expect(given.sent.map((s) => s.key)).toEqual(['order-42', 'order-42']);
    expect(meta).toMatchObject({ idempotencyKey: 'order-42', attempts: 2 });

    const late = harness([{ kind: 'answer', status: 503, code: 'UNAVAILABLE', retryAfter: 30 }], { maxAttempts: 100, deadlineMs: 45_000, baseMs: 100, capMs: 2_000 });
    await expect(late.client.payments.create(create)).rejects.toSatisfy((e) => isIdemError(e, 'UNAVAILABLE'));
    expect(late.sent).toHaveLength(2); // a second wait of 30 s would end after the 45 s deadline
    expect(late.sleeps).toEqual([30_000]);

    const get = harness([{ kind: 'answer', status: 502, code: 'INTERNAL' }, { kind: 'answer', status: 201 }]);
    await get.client.payments.get('pay_1');
    expect(get.sent.map((s) => [s.method, s.url, s.key])).toEqual([
      ['GET', 'http://idem.test/v1/payments/pay_1', null],
      ['GET', 'http://idem.test/v1/payments/pay_1', null],
    ]);

    const replay = harness([{ kind: 'answer', status: 202 }]);
    await replay.client.webhookEndpoints.replay('we_1', { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' });
    expect(replay.sent).toHaveLength(1);
  });

  it('mints UUIDv7 keys that sort by time', () => {
    let x = 7;
    const rnd = () => ((x = (x * 48_271) % 2_147_483_647) / 2_147_483_647);
    const a = uuidv7(1_700_000_000_000, rnd);
    const b = uuidv7(1_700_000_000_001, rnd);
    expect(a).toMatch(/^018bcfe5-6800-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
  });

  it('agrees with the server on in-flight statuses and error codes', () => {
    expect([...IN_FLIGHT_STATUSES].sort()).toEqual([...SERVER_IN_FLIGHT].sort());
    expect(errorStatuses).toEqual(Object.fromEntries(Object.entries(errorCodes).map(([c, { status }]) => [c, status])));
  });
});

describe('idem/client webhook verifier', () => {
  const secret = 'whsec_' + Buffer.from('a secret of thirty-two bytes!!!!').toString('base64');

  it('accepts what standardwebhooks signs and refuses forged, stale and altered deliveries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json(), fc.stringMatching(/^evt_[0-9a-z]{1,20}$/), async (body, id) => {
        const now = 1_800_000_000_000;
        const ts = new Date(now);
        const sig = new Webhook(secret).sign(id, ts, body);
        const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': `v1,AAAA ${sig}` };
        await expect(verifyWebhook(secret, body, headers, { now })).resolves.toEqual(JSON.parse(body));
        expect(await signWebhook(secret, id, Math.floor(now / 1000), body)).toBe(sig);
        await expect(verifyWebhook(secret, body + ' ', headers, { now })).rejects.toBeInstanceOf(WebhookVerificationError);
        await expect(verifyWebhook(secret, body, headers, { now: now + 301_000 })).rejects.toBeInstanceOf(WebhookVerificationError);
        await expect(verifyWebhook('whsec_' + Buffer.from('another secret').toString('base64'), body, headers, { now })).rejects.toBeInstanceOf(WebhookVerificationError);
      }),
      { numRuns: 50 },
    );
  });
});
