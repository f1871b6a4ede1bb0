import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../ports/seeded.js';
import {
  DISABLE_AFTER_FAILING_MS,
  RETRY_SCHEDULE_MS,
  decideAfterSend,
  deliveryHeaders,
  isPrivateAddress,
  newSigningSecret,
  parseRetryAfter,
  urlProblem,
  verifySignature,
} from './webhooks.js';

const random = seededRandom(7);

describe('Standard Webhooks signatures', () => {
  it('verify with the official standardwebhooks library, for any body and both secrets during a rotation', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 2 ** 31 }), (text, seed) => {
        const r = seededRandom(seed);
        const current = newSigningSecret(r);
        const previous = newSigningSecret(r);
        const body = JSON.stringify({ id: 'evt_1', text });
        const now = 1_700_000_000_000 + seed;
        const headers = deliveryHeaders({ eventId: `evt_${seed}`, secrets: [current, previous], body }, now);
        expect(headers['webhook-id']).toBe(`evt_${seed}`);
        expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+ v1,[A-Za-z0-9+/=]+$/);
        for (const secret of [current, previous]) {
          const wh = new Webhook(secret);
          // The library checks the timestamp against its own clock: sign with "now" for it.
          const fresh = deliveryHeaders({ eventId: `evt_${seed}`, secrets: [current, previous], body }, Date.now());
          expect(wh.verify(body, fresh)).toEqual(JSON.parse(body));
          expect(verifySignature(secret, headers['webhook-signature']!, headers['webhook-id']!, Number(headers['webhook-timestamp']), body)).toBe(true);
        }
        const stranger = new Webhook(newSigningSecret(r));
        expect(() => stranger.verify(body, deliveryHeaders({ eventId: 'evt_x', secrets: [current], body }, Date.now()))).toThrow();
      }),
      { numRuns: 50 },
    );
  });

  it('a tampered body or id fails the library check', () => {
    const secret = newSigningSecret(random);
    const body = '{"id":"evt_1"}';
    const h = deliveryHeaders({ eventId: 'evt_1', secrets: [secret], body }, Date.now());
    expect(() => new Webhook(secret).verify('{"id":"evt_2"}', h)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...h, 'webhook-id': 'evt_2' })).toThrow();
  });
});

describe('what follows a send', () => {
  const t0 = Date.UTC(2030, 0, 1);

  it('2xx delivers and heals the endpoint; 410 disables it and keeps the delivery', () => {
    expect(decideAfterSend({ kind: 'answered', status: 204 }, 3, t0, new Date(t0 - 1000), random)).toMatchObject({ update: { state: 'succeeded' }, endpoint: 'healthy' });
    expect(decideAfterSend({ kind: 'answered', status: 410 }, 0, t0, null, random)).toMatchObject({ update: { state: 'pending' }, endpoint: 'disable' });
  });

  it('every failure waits its scheduled time (plus at most 10%), at least Retry-After, and is given up after more than 3 days of retries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: RETRY_SCHEDULE_MS.length + 2 }),
        fc.oneof(fc.constantFrom(500, 503, 429, 404, 301), fc.constant(null)),
        fc.option(fc.integer({ min: 0, max: 3 * 86_400_000 })),
        (attempts, status, retryAfter) => {
          const result = status === null ? ({ kind: 'failed', error: 'ECONNRESET' } as const) : ({ kind: 'answered', status, ...(retryAfter !== null ? { retryAfterMs: retryAfter } : {}) } as const);
          const d = decideAfterSend(result, attempts, t0, new Date(t0), random);
          expect(d.endpoint).toBe('failing');
          if (attempts >= RETRY_SCHEDULE_MS.length) {
            expect(d.update.state).toBe('failed');
            return;
          }
          const wait = d.update.nextAttemptAt!.getTime() - t0;
          const base = RETRY_SCHEDULE_MS[attempts]!;
          expect(wait).toBeGreaterThanOrEqual(base);
          expect(wait).toBeLessThanOrEqual(Math.max(base * 1.1, Math.min(retryAfter ?? 0, 86_400_000)));
          if (status !== null && retryAfter !== null) expect(wait).toBeGreaterThanOrEqual(Math.min(retryAfter, 86_400_000));
        },
      ),
    );
    expect(RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0)).toBeGreaterThan(3 * 86_400_000);
  });

  it('an endpoint failing without a success for 3 days is disabled', () => {
    const d = decideAfterSend({ kind: 'answered', status: 500 }, 2, t0, new Date(t0 - DISABLE_AFTER_FAILING_MS), random);
    expect(d).toMatchObject({ endpoint: 'disable', update: { state: 'pending' } });
    expect(decideAfterSend({ kind: 'answered', status: 500 }, 2, t0, new Date(t0 - DISABLE_AFTER_FAILING_MS + 1), random).endpoint).toBe('failing');
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('120', t0)).toBe(120_000);
    expect(parseRetryAfter(new Date(t0 + 5000).toUTCString(), t0)).toBe(5000);
    expect(parseRetryAfter('soon', t0)).toBeUndefined();
    expect(parseRetryAfter(undefined, t0)).toBeUndefined();
  });
});

describe('endpoint URLs', () => {
  it('refuses what is not an absolute http(s) URL, carries credentials, or is over-long', () => {
    expect(urlProblem('https://example.com/hooks')).toBeNull();
    expect(urlProblem('ftp://example.com/')).toMatchObject({ code: 'WEBHOOK_URL_INVALID' });
    expect(urlProblem('javascript:alert(1)')).toMatchObject({ code: 'WEBHOOK_URL_INVALID' });
    expect(urlProblem('/relative')).toMatchObject({ code: 'WEBHOOK_URL_INVALID' });
    expect(urlProblem('https://u:p@example.com/')).toMatchObject({ code: 'WEBHOOK_URL_INVALID' });
    expect(urlProblem('https://example.com/' + 'a'.repeat(2100))).toMatchObject({ code: 'WEBHOOK_URL_INVALID' });
  });

  it('knows private, loopback, link-local and reserved addresses, also inside IPv6', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '[::1]', 'not-an-ip']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
  });
});
