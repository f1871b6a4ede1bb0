import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import { containsCardNumber, urlContainsCardNumber, valueContainsCardNumber } from '../../payments/cardData.js';

const refused = () =>
  new IdemError('CARD_DATA_REFUSED', 'the request contains what looks like a card number; send a gateway token (tok_…) instead');

/**
 * Refuses card numbers anywhere in a request (URL, Idempotency-Key, body) before anything is
 * parsed further, stored or logged (SPEC section 3, I6). The URL is checked as written and
 * percent-decoded. The JSON body is checked as raw text, so no number loses digits to floating
 * point before the check, and again once parsed, so no `\u0034…` escape hides one.
 */
export function registerCardDataGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const key = request.headers['idempotency-key'];
    if (urlContainsCardNumber(request.url) || (typeof key === 'string' && containsCardNumber(key))) throw refused();
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (containsCardNumber(text)) return done(refused(), undefined);
    if (text.length === 0) return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(new IdemError('VALIDATION_FAILED', 'the body is not valid JSON'), undefined);
    }
    if (valueContainsCardNumber(value)) return done(refused(), undefined);
    if (hasUnstorableText(value)) {
      return done(new IdemError('VALIDATION_FAILED', 'the body has a NUL character (\\u0000) or an unpaired surrogate (\\ud800–\\udfff), which no field accepts'), undefined);
    }
    done(null, value);
  });
}

/** NUL, or a UTF-16 surrogate without its pair: text PostgreSQL cannot store (nor UTF-8 encode). */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True if any key or string in the parsed body is unstorable text. Iterative: bodies may nest deep. */
function hasUnstorableText(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) pending.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (UNSTORABLE.test(k)) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}
