import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';
import { containsCardNumber, decodeUrlLoosely, maskCardNumbers, maskCardNumbersInUrl, normaliseForCards, unescapeJsonLoosely } from '../../payments/cardData.js';
import { inspectJson } from '../jsonBody.js';

const refused = () =>
  new IdemError('CARD_DATA_REFUSED', 'the request contains what looks like a card number; send a gateway token (tok_…) instead');

interface UrlScan {
  hasCard: boolean;
  /** The URL as it may be logged: as written, or decoded with card numbers masked. */
  forLog: string;
}

/** One scan of each request's URL, shared by the log serializer and the guard. */
const urlScans = new WeakMap<object, UrlScan>();

/** URLs longer than this are answered 414 before anything else looks at them. */
export const MAX_URL_LENGTH = 4096;

/**
 * The request's URL as it may be written to a log, scanning it for card numbers at most once
 * per request (the guard reuses the answer). A URL over the length limit is not scanned: it is
 * refused unread, and logged as its length only.
 */
export function urlForLog(request: { url: string }): string {
  return scanUrl(request).forLog;
}

function scanUrl(request: { url: string }): UrlScan {
  const known = urlScans.get(request);
  if (known) return known;
  const url = request.url;
  let scan: UrlScan;
  if (url.length > MAX_URL_LENGTH) {
    scan = { hasCard: false, forLog: `[URL of ${url.length} characters, refused unread]` };
  } else {
    const decoded = decodeUrlLoosely(url);
    const text = decoded === url ? url : `${url}\n${decoded}`;
    const hasCard = containsCardNumber(text);
    scan = { hasCard, forLog: hasCard ? maskCardNumbersInUrl(url) : url };
  }
  urlScans.set(request, scan);
  return scan;
}

/**
 * Every header value of the request, one per line (a newline joins no digits). Node reads
 * header bytes as Latin-1; a value with bytes beyond ASCII is also read as UTF-8, as the
 * client most likely wrote it (full-width digits arrive that way).
 */
function headerValues(request: FastifyRequest): string {
  const raw = request.raw.rawHeaders;
  let out = '';
  for (let i = 1; i < raw.length; i += 2) {
    const v = raw[i]!;
    out += v + '\n';
    if (/[^\x00-\x7f]/.test(v)) out += Buffer.from(v, 'latin1').toString('utf8') + '\n';
  }
  return out;
}

/**
 * Refuses card numbers anywhere in a request (docs/security.md, invariant I6): the URL as written and
 * percent-decoded, every header value, and the whole body with its JSON escapes decoded — each
 * scanned once. Registered after authentication: an unauthenticated request is refused without
 * being read, and its URL is logged masked either way.
 */
export function registerCardDataGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (scanUrl(request).hasCard || containsCardNumber(headerValues(request))) throw refused();
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (containsCardNumber(unescapeJsonLoosely(text))) return done(refused(), undefined);
    if (text.length === 0) return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(new IdemError('VALIDATION_FAILED', 'the body is not valid JSON'), undefined);
    }
    const facts = inspectJson(text);
    if (facts.rewrittenNumbers.length > 0 && containsCardNumber(facts.rewrittenNumbers.join('\n'))) return done(refused(), undefined);
    if (facts.duplicateKey !== null) {
      return done(new IdemError('VALIDATION_FAILED', `the body has the key "${maskCardNumbers(normaliseForCards(facts.duplicateKey)).slice(0, 100)}" twice in one object`), undefined);
    }
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
