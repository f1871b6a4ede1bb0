import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import { containsCardNumber } from '../../payments/cardData.js';

const refused = () =>
  new IdemError('CARD_DATA_REFUSED', 'the request contains what looks like a card number; send a gateway token (tok_…) instead');

/**
 * Refuses card numbers anywhere in a request (URL, Idempotency-Key, body) before anything is
 * parsed further, stored or logged (SPEC section 3, I6). The JSON body is checked as raw text,
 * so no number loses digits to floating point before the check.
 */
export function registerCardDataGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const key = request.headers['idempotency-key'];
    if (containsCardNumber(decodeLoosely(request.url)) || (typeof key === 'string' && containsCardNumber(key))) throw refused();
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (containsCardNumber(text)) return done(refused(), undefined);
    if (text.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new IdemError('VALIDATION_FAILED', 'the body is not valid JSON'), undefined);
    }
  });
}

function decodeLoosely(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}
