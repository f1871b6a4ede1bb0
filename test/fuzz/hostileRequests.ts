import fc from 'fast-check';
import { currencies, MAX_AMOUNT } from '../../src/payments/money.js';
import { cardNumberIn, grouped, jsonEscapedDigits, pan, panText, percentEncodedDigits } from './cardNumbers.js';
import type { WireRequest } from './wire.js';

/**
 * Hostile requests for the HTTP fuzzer, as fast-check arbitraries, plus a fixed catalogue of
 * the edge cases that must each be hit at least once. A request is built when it is sent, so it
 * can take a fresh idempotency key or the id of a payment created earlier in the run.
 */

/** What a response to one request must be, beyond what every response must be. */
export interface Expectation {
  status: number[];
  /** The problem `code`, for a 4xx. */
  codes?: string[];
}

/** What a request may use when it is built, just before it is sent. */
export interface Run {
  apiKey: string;
  /** A number never handed out before in this run (for fresh idempotency keys). */
  fresh(): number;
  /** The id of a payment created earlier in the run, chosen by `n`. */
  payment(n: number): string;
}

/** Bytes for protocol-level hostility that no HTTP client library would send. */
export interface RawBytes {
  bytes: Buffer;
  /** Half-close after writing (for requests the server would otherwise wait on). */
  end: boolean;
  head?: boolean;
}

export interface Hostile {
  /** What is hostile about it, for reports: "amount 1e309", "card number in the path". */
  kind: string;
  build(run: Run): WireRequest | RawBytes;
  expect?: Expectation;
  /** The server may close the connection without answering (a truncated request). */
  mayNotAnswer?: boolean;
  /** A valid create: a 201 must echo these, and its id joins the payments later requests use. */
  validCreate?: { amount: number; currency: string; reference?: string; metadata?: Record<string, string> };
  /** Resend the n-th successful valid create (modulo): same status, same bytes, replayed. */
  replayOf?: number;
}

const MAX = MAX_AMOUNT;
const CREATED: Expectation = { status: [201] };
const OK: Expectation = { status: [200] };
const INVALID: Expectation = { status: [400], codes: ['VALIDATION_FAILED'] };
const CARD_REFUSED: Expectation = { status: [400], codes: ['CARD_DATA_REFUSED'] };
const UNAUTHORIZED: Expectation = { status: [401], codes: ['AUTH_REQUIRED'] };
/** Refused as a client error, whichever check gets there first. */
const REFUSED_400: Expectation = { status: [400] };

const auth = (run: Run): [string, string] => ['authorization', `Bearer ${run.apiKey}`];
const jsonType: [string, string] = ['content-type', 'application/json'];
const freshKey = (run: Run): [string, string] => ['idempotency-key', `fz-${run.fresh()}`];

/** A POST with a JSON body, a valid API key and a fresh idempotency key unless `headers` says otherwise. */
function post(target: string | ((run: Run) => string), body: string | Buffer | undefined, headers?: (run: Run) => Array<[string, string]>): (run: Run) => WireRequest {
  return (run) => ({
    method: 'POST',
    target: typeof target === 'string' ? target : target(run),
    headers: headers ? headers(run) : [auth(run), freshKey(run), jsonType],
    ...(body === undefined ? {} : { body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body }),
  });
}

function get(target: string | ((run: Run) => string), withAuth = true): (run: Run) => WireRequest {
  return (run) => ({ method: 'GET', target: typeof target === 'string' ? target : target(run), headers: withAuth ? [auth(run)] : [] });
}

function hostile(kind: string, build: Hostile['build'], rest: Omit<Hostile, 'kind' | 'build'> = {}): Hostile {
  // fast-check prints a failing value with this, rather than as an object holding a function.
  return Object.assign({ kind, build, ...rest }, { [fc.toStringMethod]: () => `Hostile(${JSON.stringify(kind)})` });
}

const baseBody = { amount: 1250, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };

/** `baseBody` with `field` replaced by raw JSON text (which need not be valid JSON). */
function bodyWith(field: string, rawJson: string): string {
  const marker = '"__FUZZ_MARKER__"';
  return JSON.stringify({ ...baseBody, [field]: '__FUZZ_MARKER__' }).replace(marker, () => rawJson);
}

/**
 * Any printable text of at most `maxLength` code points (what the schemas count) that no
 * detector would take for a card number: for fields of requests that must succeed.
 */
const plainText = (maxLength: number) =>
  fc.string({ unit: 'grapheme', minLength: 1, maxLength }).filter((s) => [...s].length <= maxLength && cardNumberIn(s) === null);

// ---------------------------------------------------------------------------------------------
// Valid requests, mixed in: they must keep succeeding whatever came before them.

const validCreate: fc.Arbitrary<Hostile> = fc
  .record(
    {
      amount: fc.oneof(fc.integer({ min: 1, max: MAX }), fc.constantFrom(1, MAX)),
      currency: fc.constantFrom(...currencies),
      capture: fc.constantFrom('automatic', 'manual'),
      token: fc.stringMatching(/^tok_[A-Za-z_]{1,30}$/),
      reference: fc.option(plainText(255), { nil: undefined }),
      metadata: fc.option(fc.dictionary(plainText(40), plainText(500), { maxKeys: 5 }), { nil: undefined }),
      gateway: fc.option(fc.constantFrom('sim-a', 'sim-b'), { nil: undefined }),
    },
    { requiredKeys: ['amount', 'currency', 'capture', 'token'] },
  )
  .map((v) => {
    const body = {
      amount: v.amount,
      currency: v.currency,
      capture_method: v.capture,
      payment_method: { type: 'card', token: v.token },
      ...(v.reference !== undefined ? { reference: v.reference } : {}),
      ...(v.metadata !== undefined ? { metadata: v.metadata } : {}),
      ...(v.gateway !== undefined ? { gateway: v.gateway } : {}),
    };
    return hostile('valid create', post('/v1/payments', JSON.stringify(body)), {
      expect: CREATED,
      validCreate: {
        amount: v.amount,
        currency: v.currency,
        ...(v.reference !== undefined ? { reference: v.reference } : {}),
        ...(v.metadata !== undefined ? { metadata: v.metadata } : {}),
      },
    });
  });

const validRead: fc.Arbitrary<Hostile> = fc.oneof(
  fc.nat().map((n) => hostile('valid GET payment', get((run) => `/v1/payments/${run.payment(n)}`), { expect: OK })),
  fc.nat().map((n) => hostile('valid GET events', get((run) => `/v1/payments/${run.payment(n)}/events`), { expect: OK })),
  fc.integer({ min: 1, max: 100 }).map((l) => hostile('valid GET list', get(`/v1/payments?limit=${l}`), { expect: OK })),
  fc.constantFrom('/healthz', '/readyz', '/openapi.json', '/metrics').map((p) => hostile(`valid GET ${p}`, get(p, false), { expect: OK })),
);

// The runner resends a recorded request for these; `build` is never called.
const replay: fc.Arbitrary<Hostile> = fc.nat().map((n) => hostile('replay of a valid create', () => ({ method: 'GET', target: '/', headers: [] }), { replayOf: n }));

// ---------------------------------------------------------------------------------------------
// Amounts, currencies, fields.

/** Amount literals at and past the limits, as JSON text (some are not JSON at all). */
export const amountLiterals = [
  '0', '-1', '1', String(MAX), String(MAX + 1), String(2 ** 53), '9007199254740993', '1e308', '1e309', '-1e309', '-0', '1.5',
  '1.0', '1e2', '0.1e1', '100.000000000000001', '"100"', 'null', 'true', '[]', '{}', '""', 'NaN', 'Infinity', '0x10', '01',
  '+1', '1_000', '99999999999.5', '4.9e-324', '-99999999999', '1e-7', '12345678901234567890123456789',
];

/** Whether the server must accept `literal` as an amount: what JSON.parse makes of it is an integer in range. */
export function acceptableAmount(literal: string): boolean {
  try {
    const v: unknown = JSON.parse(literal);
    return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX;
  } catch {
    return false;
  }
}

/** The expectation for a body that is valid except, perhaps, for one value. */
function expectationFor(acceptable: boolean, body: string): Expectation {
  if (cardNumberIn(body) !== null) return CARD_REFUSED;
  return acceptable ? CREATED : INVALID;
}

function amountHostile(literal: string): Hostile {
  const body = bodyWith('amount', literal);
  return hostile(`amount ${literal}`, post('/v1/payments', body), { expect: expectationFor(acceptableAmount(literal), body) });
}

const amountEdge: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.constantFrom(...amountLiterals),
    fc.double().map((d) => JSON.stringify(d)),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
    fc.integer().map(String),
  )
  .map(amountHostile);

const currencyLiterals = ['""', '"US"', '"USDD"', '"XXX"', '"XTS"', '"usd"', '"Eur"', '"ＵＳＤ"', '"US\\u0000"', '"U\\u0053D"', '840', 'null', '["USD"]', '{"code":"USD"}', '" USD"', '"USD "'];

function currencyHostile(literal: string): Hostile {
  const body = bodyWith('currency', literal);
  const parsed = JSON.parse(literal) as unknown;
  const acceptable = typeof parsed === 'string' && currencies.includes(parsed);
  return hostile(`currency ${literal}`, post('/v1/payments', body), { expect: expectationFor(acceptable, body) });
}

const currencyEdge: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.constantFrom(...currencies).map((c) => JSON.stringify(c)),
    fc.constantFrom(...currencies).map((c) => JSON.stringify(c.toLowerCase())),
    fc.stringMatching(/^[A-Z]{3}$/).map((c) => JSON.stringify(c)),
    fc.mixedCase(fc.constantFrom('usd', 'eur', 'jpy')).map((c) => JSON.stringify(c)),
    fc.constantFrom(...currencyLiterals),
    fc.string({ unit: 'binary', maxLength: 5 }).map((c) => JSON.stringify(c)),
  )
  .map(currencyHostile);

const knownFields = new Set(['amount', 'currency', 'capture_method', 'payment_method', 'reference', 'gateway', 'metadata']);

const unknownField: fc.Arbitrary<Hostile> = fc
  .tuple(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'Amount', 'amount ', 'card_number', 'pan')), fc.jsonValue({ maxDepth: 2 }), fc.boolean())
  .filter(([name]) => !knownFields.has(name))
  .map(([name, value, nested]) => {
    const body = nested
      ? JSON.stringify({ ...baseBody, payment_method: { ...baseBody.payment_method, [name]: value } })
      : bodyWith(name, JSON.stringify(value) ?? 'null');
    return hostile(`unknown field ${JSON.stringify(name)}${nested ? ' in payment_method' : ''}`, post('/v1/payments', body), {
      expect: cardNumberIn(body) !== null ? CARD_REFUSED : INVALID,
    });
  });

/** Wrong values for known fields: each must be refused as invalid. */
const wrongValues: Record<string, string[]> = {
  capture_method: ['"AUTOMATIC"', '"Manual"', '""', '"auto"', 'null', '1', 'true', '["manual"]'],
  payment_method: [
    'null', '"tok_x"', '[]', '{}', '{"type":"card"}', '{"token":"tok_x"}', '{"type":"bank","token":"tok_x"}', '{"type":"card","token":"card_x"}',
    '{"type":"card","token":"tok_"}', `{"type":"card","token":"tok_${'a'.repeat(121)}"}`, '{"type":"card","token":"tok_a b"}',
    '{"type":"card","token":"tok_x","extra":1}', '{"type":"card","token":"tok_é"}', '{"type":"card","token":"tok_x\\n"}',
  ],
  reference: ['""', `"${'r'.repeat(256)}"`, '5', 'null', '[]', '{}', 'false'],
  gateway: ['""', '"nope"', `"${'g'.repeat(41)}"`, '1', 'null', '"SIM"', '"sim "'],
  metadata: [
    'null', '[]', '"x"', '{"k":1}', '{"k":null}', '{"k":{"x":"y"}}', '{"k":["v"]}', `{"${'k'.repeat(41)}":"v"}`, `{"k":"${'v'.repeat(501)}"}`,
    JSON.stringify(Object.fromEntries(Array.from({ length: 51 }, (_v, i) => [`k${i}`, 'v']))), '{"a\\nb":{"x":[1,2]}}', '{"\\u2028":5}', '{"a\\rb":[]}',
  ],
};

const fieldHostiles = (): Hostile[] =>
  Object.entries(wrongValues).flatMap(([field, values]) =>
    values.map((literal) => hostile(`${field} ${literal.slice(0, 60)}`, post('/v1/payments', bodyWith(field, literal)), { expect: INVALID })),
  );

const fieldConfusion: fc.Arbitrary<Hostile> = fc.constantFrom(...fieldHostiles());

// ---------------------------------------------------------------------------------------------
// Bodies: random JSON, broken JSON, deep, huge, badly encoded, with odd strings.

const postRoutes = (run: Run, n: number) => [
  '/v1/payments',
  `/v1/payments/${run.payment(n)}/capture`,
  `/v1/payments/${run.payment(n)}/void`,
  `/v1/payments/${run.payment(n)}/refunds`,
][n % 4]!;

const randomJsonBody: fc.Arbitrary<Hostile> = fc.tuple(fc.jsonValue(), fc.nat()).map(([value, n]) => {
  const body = JSON.stringify(value) ?? 'null';
  return hostile('random JSON body', post((run) => postRoutes(run, n), body), {
    // Some random bodies are a valid capture, void or refund ({} is one); those may be 2xx, 409 or 422.
    expect: cardNumberIn(body) !== null ? CARD_REFUSED : undefined,
  });
});

const malformedJson: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.nat().map((n) => JSON.stringify(baseBody).slice(0, n % JSON.stringify(baseBody).length)),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.constantFrom(
      '{', '}', '[', '{"amount":}', '{"amount":1250,}', "{'amount':1250}", '{"amount":1250 /* c */}', '{amount:1250}', 'undefined',
      '\ufeff' + JSON.stringify(baseBody), JSON.stringify(baseBody) + 'x', JSON.stringify(baseBody) + JSON.stringify(baseBody),
      '{"amount":1250,"amount":"x"}', '"\\ud800"', '"\\u00"', '"\\x41"', '{"a":"\u0001"}', ' ', '\n\n', 'null', '0', '"x"',
    ),
  )
  .filter((text) => text.length > 0)
  .map((text) => hostile(`malformed JSON ${JSON.stringify(text.slice(0, 40))}`, post('/v1/payments', text), { expect: cardNumberIn(text) !== null ? CARD_REFUSED : REFUSED_400 }));

/** Strings Postgres cannot store as they are (NUL, unpaired surrogates) and other odd text. */
const hazardPlaces = ['reference', 'metadata-key', 'metadata-value', 'refund-reason'] as const;
const hazardStrings = ['\\u0000', 'a\\u0000b', '\\ud800', '\\udfff', 'x\\ud83d', '\\udc00\\ud800', '\\u0001\\u001f', '\\u202e\\u202d', '\\uffff', '\\ufeff', '\\n\\r\\t', '\\\\', '\\"', '\\u2028', '\\ud83d\\ude00'];

function hazardHostile([where, escaped, n]: readonly [(typeof hazardPlaces)[number], string, number]): Hostile {
  const s = `"${escaped}"`;
  const build =
    where === 'reference'
      ? post('/v1/payments', bodyWith('reference', s))
      : where === 'metadata-key'
        ? post('/v1/payments', bodyWith('metadata', `{${s}:"v"}`))
        : where === 'metadata-value'
          ? post('/v1/payments', bodyWith('metadata', `{"k":${s}}`))
          : post((run) => `/v1/payments/${run.payment(n)}/refunds`, `{"amount":1,"reason":${s}}`);
  // Either stored or refused as invalid; never a 500.
  return hostile(`${where} ${escaped}`, build, { expect: { status: where === 'refund-reason' ? [200, 202, 400, 409, 422] : [201, 400] } });
}

const stringHazards: fc.Arbitrary<Hostile> = fc.tuple(fc.constantFrom(...hazardPlaces), fc.constantFrom(...hazardStrings), fc.nat()).map(hazardHostile);

const depths = [10, 1_000, 10_000, 30_000];
const nestShapes = ['array', 'object', 'metadata', 'unbalanced', 'amount'] as const;

function nestingHostile([depth, shape]: readonly [number, (typeof nestShapes)[number]]): Hostile {
  const text =
    shape === 'array'
      ? '['.repeat(depth) + ']'.repeat(depth)
      : shape === 'object'
        ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
        : shape === 'metadata'
          ? bodyWith('metadata', '{"k":' + '['.repeat(depth) + ']'.repeat(depth) + '}')
          : shape === 'amount'
            ? bodyWith('amount', '['.repeat(depth) + '1' + ']'.repeat(depth))
            : '['.repeat(depth);
  return hostile(`nesting ${depth} deep (${shape}, ${text.length} bytes)`, post('/v1/payments', text), { expect: REFUSED_400 });
}

const deepNesting: fc.Arbitrary<Hostile> = fc.tuple(fc.constantFrom(...depths), fc.constantFrom(...nestShapes)).map(nestingHostile);

const bodySizes = [64 * 1024 - 200, 64 * 1024, 64 * 1024 + 1, 70_000, 1_000_000, 5_000_000];
const hugeShapes = ['reference', 'padding', 'metadata'] as const;

function hugeHostile([size, chunked, shape]: readonly [number, boolean, (typeof hugeShapes)[number]]): Hostile {
  const filler = (n: number) => 'x'.repeat(Math.max(0, n));
  const skeleton = bodyWith('reference', '""');
  const text =
    shape === 'reference'
      ? bodyWith('reference', `"${filler(size - skeleton.length)}"`)
      : shape === 'padding'
        ? JSON.stringify(baseBody) + ' '.repeat(Math.max(0, size - JSON.stringify(baseBody).length))
        : bodyWith('metadata', JSON.stringify(Object.fromEntries(Array.from({ length: 50 }, (_v, i) => [`k${i}`, filler(Math.floor(size / 50) - 12)]))));
  return hostile(`${text.length}-byte body (${shape}${chunked ? ', chunked' : ''})`, (run) => ({ ...post('/v1/payments', text)(run), chunked }), {
    // Over the 64 KiB limit: refused. At or under: it still fails the schema (a too-long string) or, padded, succeeds.
    expect: text.length > 64 * 1024 ? INVALID : shape === 'padding' ? CREATED : REFUSED_400,
    // The server answers once it has read 64 KiB and stops reading; a client still writing
    // megabytes may find the connection reset before it reads that answer.
    ...(text.length > 256 * 1024 ? { mayNotAnswer: true } : {}),
  });
}

const hugeBody: fc.Arbitrary<Hostile> = fc.tuple(fc.constantFrom(...bodySizes), fc.boolean(), fc.constantFrom(...hugeShapes)).map(hugeHostile);

const badUtf8 = [[0xff], [0xfe, 0xff], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];
const utf8Places = ['reference', 'key', 'raw', 'currency'] as const;

function utf8Hostile([bytes, where]: readonly [number[], (typeof utf8Places)[number]]): Hostile {
  const bad = Buffer.from(bytes);
  const [before, after] =
    where === 'reference'
      ? bodyWith('reference', '"a__B__b"').split('__B__')
      : where === 'key'
        ? bodyWith('metadata', '{"__B__":"v"}').split('__B__')
        : where === 'currency'
          ? bodyWith('currency', '"US__B__"').split('__B__')
          : ['', ''];
  const body = Buffer.concat([Buffer.from(before!, 'utf8'), bad, Buffer.from(after!, 'utf8')]);
  return hostile(`invalid UTF-8 ${bad.toString('hex')} in ${where}`, post('/v1/payments', body), { expect: { status: [201, 400] } });
}

const invalidUtf8: fc.Arbitrary<Hostile> = fc.tuple(fc.constantFrom(...badUtf8), fc.constantFrom(...utf8Places)).map(utf8Hostile);

const contentTypeValues = [
  null, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-8',
  'application/json;charset=latin1', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/JSON', 'application/vnd.api+json',
  'application/json, text/plain', 'application/jsonx', 'application/json; boundary=x', 'json', '*/*', 'application/*', ';;;', 'application/json;',
];

function contentTypeHostile(type: string | null): Hostile {
  const valid = type === 'application/json; charset=utf-8';
  return hostile(`content-type ${JSON.stringify(type)}`, (run) => ({
    method: 'POST',
    target: '/v1/payments',
    headers: [auth(run), freshKey(run), ...(type === null ? [] : [['content-type', type] as [string, string]])],
    body: Buffer.from(JSON.stringify(baseBody)),
  }), valid ? { expect: CREATED } : {});
}

const contentTypes: fc.Arbitrary<Hostile> = fc.oneof(fc.constantFrom(...contentTypeValues), fc.string({ maxLength: 40 })).map(contentTypeHostile);

// ---------------------------------------------------------------------------------------------
// Idempotency-Key and Authorization.

/** Every Idempotency-Key edge case with what it must get (built fresh where the key must be new). */
export function keyCases(): Array<{ name: string; headers: (run: Run) => Array<[string, string]>; expect: Expectation }> {
  const withKeys = (...keys: string[]) => (run: Run): Array<[string, string]> => [auth(run), jsonType, ...keys.map((k): [string, string] => ['idempotency-key', k])];
  const fresh = (make: (n: number) => string) => (run: Run): Array<[string, string]> => [auth(run), jsonType, ['idempotency-key', make(run.fresh())]];
  return [
    { name: 'missing', headers: (run) => [auth(run), jsonType], expect: { status: [400], codes: ['IDEM_KEY_MISSING'] } },
    { name: 'empty', headers: withKeys(''), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'spaces only', headers: withKeys('   '), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: '255 characters', headers: fresh((n) => `k${n}-`.padEnd(255, 'x')), expect: CREATED },
    { name: '256 characters', headers: fresh((n) => `k${n}-`.padEnd(256, 'x')), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: '10 000 characters', headers: fresh((n) => `k${n}-`.padEnd(10_000, 'x')), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'printable ASCII punctuation', headers: fresh((n) => `k${n} !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~`), expect: CREATED },
    { name: 'a tab inside', headers: fresh((n) => `k${n}\tx`), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'a control character (0x01)', headers: fresh((n) => `k${n}\u0001x`), expect: { status: [400], codes: ['IDEM_KEY_INVALID', 'VALIDATION_FAILED'] } },
    { name: 'DEL (0x7f)', headers: fresh((n) => `k${n}\u007fx`), expect: { status: [400], codes: ['IDEM_KEY_INVALID', 'VALIDATION_FAILED'] } },
    { name: 'NUL', headers: fresh((n) => `k${n}\u0000x`), expect: { status: [400], codes: ['IDEM_KEY_INVALID', 'VALIDATION_FAILED'] } },
    { name: 'Latin-1 (é)', headers: fresh((n) => `clé-${n}`), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'Cyrillic as UTF-8', headers: fresh((n) => `ключ-${n}`), expect: { status: [400], codes: ['IDEM_KEY_INVALID', 'VALIDATION_FAILED'] } },
    { name: 'an emoji', headers: fresh((n) => `🔑-${n}`), expect: { status: [400], codes: ['IDEM_KEY_INVALID', 'VALIDATION_FAILED'] } },
    { name: 'sent twice (different)', headers: (run) => withKeys(`a-${run.fresh()}`, `b-${run.fresh()}`)(run), expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'sent twice (same)', headers: (run) => { const k = `same-${run.fresh()}`; return withKeys(k, k)(run); }, expect: { status: [400], codes: ['IDEM_KEY_INVALID'] } },
    { name: 'surrounded by spaces', headers: fresh((n) => `  padded-${n}  `), expect: CREATED },
    { name: 'a card number', headers: withKeys('4111111111111111'), expect: CARD_REFUSED },
    { name: 'a grouped card number', headers: withKeys('order 4111-1111-1111-1111'), expect: CARD_REFUSED },
  ];
}

const keyHostiles = (): Hostile[] =>
  keyCases().map((c) => hostile(`Idempotency-Key ${c.name}`, post('/v1/payments', JSON.stringify(baseBody), c.headers), { expect: c.expect }));

const keyEdge: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.constantFrom(...keyHostiles()),
    fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 300 }).map((k) =>
      hostile(`Idempotency-Key ${JSON.stringify(k.slice(0, 40))}…`, post('/v1/payments', bodyWith('amount', '0'), (run) => [auth(run), jsonType, ['idempotency-key', k]]), {
        // A fixed random key with an invalid body: refused before the gate, whatever the key.
        expect: REFUSED_400,
      }),
    ),
  );

const authEdge: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.constantFrom(
      // ('bearer KEY' is no longer here: the scheme is case-insensitive, RFC 6750.)
      null, '', 'Bearer', 'Bearer ', 'bearer KEYx', 'Basic dXNlcjpwYXNz', 'Bearer sk_wrong', 'Bearer KEY KEY', 'Bearer KEYx', 'Bearer ' + 'a'.repeat(201),
      'Bearer ' + 'a'.repeat(10_000), 'Bearer 4111111111111111', 'Bearer KEY\u0000', 'Bearer ключ', 'Bearer\tKEY', 'Token KEY',
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 80 }),
  )
  .chain((value) => fc.constantFrom('GET /v1/payments', 'POST /v1/payments', 'GET /v1/payments/pay_x').map((route) => [value, route] as const))
  .map(([value, route]) => {
    const [method, target] = route.split(' ') as [string, string];
    return hostile(`Authorization ${JSON.stringify(value?.slice(0, 40) ?? null)} on ${route}`, (run) => ({
      method,
      target,
      headers: [
        ...(value === null ? [] : [['authorization', value.replaceAll('KEY', run.apiKey)] as [string, string]]),
        ...(method === 'POST' ? [freshKey(run), jsonType] : []),
      ],
      ...(method === 'POST' ? { body: Buffer.from(JSON.stringify(baseBody)) } : {}),
    }), {
      // Sendable as it is: a wrong key (a card number there is no exception). Otherwise the
      // parser may refuse the header line first.
      expect: value === null || /^[\t\x20-\x7e]*$/.test(value) ? UNAUTHORIZED : { status: [400, 401] },
    });
  });

// ---------------------------------------------------------------------------------------------
// Card numbers, everywhere a request can carry one.

/** Text as a header value a client would send: UTF-8 bytes, each as one latin1 character on the wire. */
const headerText = (t: string) => Buffer.from(t, 'utf8').toString('latin1');

/**
 * `refused`: 'card' must be refused as card data; '400' is a URL the router cannot decode, refused
 * before any hook runs; false is a place Idem reads nothing from (only I6 applies).
 */
type Placement = { where: string; build: (text: string, digitsOnly: string, run: Run, n: number) => WireRequest; refused: 'card' | '400' | false };

const placements: Placement[] = [
  { where: 'body reference', build: (t, _d, run) => post('/v1/payments', bodyWith('reference', JSON.stringify(t)))(run), refused: 'card' },
  { where: 'body reference, digits as \\u escapes', build: (t, _d, run) => post('/v1/payments', bodyWith('reference', `"${jsonEscapedDigits(t)}"`))(run), refused: 'card' },
  { where: 'body metadata value', build: (t, _d, run) => post('/v1/payments', bodyWith('metadata', JSON.stringify({ note: t })))(run), refused: 'card' },
  { where: 'body metadata value, escaped', build: (t, _d, run) => post('/v1/payments', bodyWith('metadata', `{"note":"${jsonEscapedDigits(t)}"}`))(run), refused: 'card' },
  { where: 'body metadata key', build: (t, _d, run) => post('/v1/payments', bodyWith('metadata', JSON.stringify({ [t]: 'v' })))(run), refused: 'card' },
  { where: 'body metadata key, escaped', build: (t, _d, run) => post('/v1/payments', bodyWith('metadata', `{"${jsonEscapedDigits(t)}":"v"}`))(run), refused: 'card' },
  { where: 'body token', build: (_t, d, run) => post('/v1/payments', bodyWith('payment_method', JSON.stringify({ type: 'card', token: `tok_${d}` })))(run), refused: 'card' },
  { where: 'body token, escaped', build: (_t, d, run) => post('/v1/payments', bodyWith('payment_method', `{"type":"card","token":"tok_${jsonEscapedDigits(d)}"}`))(run), refused: 'card' },
  { where: 'body currency', build: (t, _d, run) => post('/v1/payments', bodyWith('currency', JSON.stringify(t)))(run), refused: 'card' },
  { where: 'body capture_method', build: (t, _d, run) => post('/v1/payments', bodyWith('capture_method', JSON.stringify(t)))(run), refused: 'card' },
  { where: 'body amount as a number', build: (_t, d, run) => post('/v1/payments', bodyWith('amount', d))(run), refused: 'card' },
  { where: 'body amount as a string', build: (t, _d, run) => post('/v1/payments', bodyWith('amount', JSON.stringify(t)))(run), refused: 'card' },
  { where: 'body unknown field name', build: (t, _d, run) => post('/v1/payments', bodyWith(t, '"x"'))(run), refused: 'card' },
  { where: 'body unknown field value', build: (t, _d, run) => post('/v1/payments', bodyWith('card', JSON.stringify(t)))(run), refused: 'card' },
  { where: 'body card object', build: (_t, d, run) => post('/v1/payments', bodyWith('payment_method', JSON.stringify({ type: 'card', number: d, cvc: '123' })))(run), refused: 'card' },
  { where: 'refund reason', build: (t, _d, run, n) => post(`/v1/payments/${run.payment(n)}/refunds`, JSON.stringify({ reason: t }))(run), refused: 'card' },
  { where: 'capture body, escaped', build: (t, _d, run, n) => post(`/v1/payments/${run.payment(n)}/capture`, `{"note":"${jsonEscapedDigits(t)}"}`)(run), refused: 'card' },
  { where: 'Idempotency-Key', build: (t, _d, run) => post('/v1/payments', JSON.stringify(baseBody), (r) => [auth(r), jsonType, ['idempotency-key', t]])(run), refused: 'card' },
  { where: 'query of the list', build: (t, _d, run) => get(`/v1/payments?cursor=${encodeURIComponent(t)}`)(run), refused: 'card' },
  { where: 'query of the list, percent-encoded digits', build: (t, _d, run) => get(`/v1/payments?cursor=${percentEncodedDigits(t)}`)(run), refused: 'card' },
  { where: 'query of the list, + for spaces', build: (_t, d, run) => get(`/v1/payments?cursor=${grouped(d, ' ').replaceAll(' ', '+')}`)(run), refused: 'card' },
  { where: 'query of the list, after a broken escape', build: (_t, d, run) => get(`/v1/payments?x=%ZZ&cursor=${percentEncodedDigits(d)}`)(run), refused: 'card' },
  { where: 'query of a create', build: (t, _d, run) => post(`/v1/payments?ref=${encodeURIComponent(t)}`, JSON.stringify(baseBody))(run), refused: 'card' },
  { where: 'query of a create, after a broken escape', build: (_t, d, run) => post(`/v1/payments?a=%E0%A4%A&ref=${percentEncodedDigits(d)}`, JSON.stringify(baseBody))(run), refused: 'card' },
  { where: 'query of a create, + for spaces', build: (_t, d, run) => post(`/v1/payments?ref=${grouped(d, ' ').replaceAll(' ', '+')}`, JSON.stringify(baseBody))(run), refused: 'card' },
  { where: 'path segment (GET)', build: (t, _d, run) => get(`/v1/payments/${encodeURIComponent(t)}`)(run), refused: 'card' },
  { where: 'path segment pay_…', build: (_t, d, run) => get(`/v1/payments/pay_${d}`)(run), refused: 'card' },
  { where: 'path segment, percent-encoded', build: (t, _d, run) => get(`/v1/payments/${percentEncodedDigits(t)}/events`)(run), refused: 'card' },
  { where: 'path segment of a capture', build: (t, _d, run) => post(`/v1/payments/${encodeURIComponent(t)}/capture`, '{}')(run), refused: 'card' },
  { where: 'path segment of a refund, encoded after a broken escape', build: (_t, d, run) => post(`/v1/payments/%ZZ${percentEncodedDigits(d)}/refunds`, '{}')(run), refused: '400' },
  // Any header: docs/security.md refuses a card number wherever it is. Header bytes beyond ASCII go as UTF-8.
  { where: 'User-Agent header', build: (t, _d, run) => ({ ...get('/v1/payments')(run), headers: [auth(run), ['user-agent', headerText(t)]] }), refused: 'card' },
  { where: 'Referer and Cookie headers', build: (t, _d, run) => ({ ...get('/v1/payments')(run), headers: [auth(run), ['referer', `https://shop/?card=${headerText(t)}`], ['cookie', `c=${headerText(t)}`]] }), refused: 'card' },
  { where: 'a custom header of a create', build: (t, _d, run) => ({ ...post('/v1/payments', JSON.stringify(baseBody))(run), headers: [auth(run), freshKey(run), jsonType, ['x-customer-note', headerText(t)]] }), refused: 'card' },
  { where: 'a second Idempotency-Key line', build: (_t, d, run) => post('/v1/payments', JSON.stringify(baseBody), (r) => [auth(r), jsonType, ['idempotency-key', `k-${r.fresh()}`], ['idempotency-key', d]])(run), refused: 'card' },
  // Not read before authentication: no status is promised, only that nothing is stored or logged.
  { where: 'Authorization header', build: (_t, d, run) => ({ ...get('/v1/payments')(run), headers: [['authorization', `Bearer ${d}`]] }), refused: false },
  { where: 'unknown route path', build: (t, _d, run) => get(`/v2/cards/${encodeURIComponent(t)}`)(run), refused: false },
  { where: 'unknown route, percent-encoded', build: (_t, d, run) => get(`/cards/${percentEncodedDigits(d)}?x=%ZZ`)(run), refused: false },
  { where: '/healthz query', build: (t, _d, run) => get(`/healthz?card=${encodeURIComponent(t)}`, false)(run), refused: false },
];

const placementExpectation = (p: Placement): Pick<Hostile, 'expect'> =>
  p.refused === 'card' ? { expect: CARD_REFUSED } : p.refused === '400' ? { expect: INVALID } : {};

const cardPlanted: fc.Arbitrary<Hostile> = fc
  .tuple(fc.constantFrom(...placements), panText, pan, fc.nat())
  .map(([placement, text, digits, n]) =>
    hostile(`card number ${JSON.stringify(text)} in ${placement.where}`, (run) => placement.build(text, digits, run, n), placementExpectation(placement)),
  );

/** Well-known test numbers as text, with the bare number, for the catalogue. */
const catalogueCards: Array<[text: string, digits: string]> = [
  ['4111111111111111', '4111111111111111'],
  ['5500 0000 0000 0004', '5500000000000004'],
  ['order 12 4111111111111111', '4111111111111111'],
  ['378282246310005-7', '378282246310005'],
  ['4111111111111111 2029', '4111111111111111'],
];

/** Every placement with every well-known test number (for the catalogue). */
export function cardCatalogue(): Hostile[] {
  return placements.flatMap((p) =>
    catalogueCards.map(([text, digits]) =>
      hostile(`card number ${JSON.stringify(text)} in ${p.where}`, (run) => p.build(text, digits, run, 0), placementExpectation(p)),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Cursors, random routes, capture and refund amounts.

const cursorHostile: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc
      .tuple(
        fc.oneof(
          fc.constantFrom('1', '0', '-1', '2020', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z',
            'Tue', '2020-02-30', '2020-01-01\u0000', 'Jan 1 4111111111111111', '2020-01-01T00:00:00.000Z', '1e308', 'infinity', 'epoch', '12/31/1969'),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string({ unit: 'binary', maxLength: 20 }),
        ),
        fc.oneof(fc.constantFrom('pay_x', '\u0000', '4111111111111111', '', 'pay_\ud800', "'; DROP TABLE payments; --"), fc.string({ unit: 'binary', maxLength: 20 })),
      )
      .map((pair) => Buffer.from(JSON.stringify(pair)).toString('base64url')),
    fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
    fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
    fc.constantFrom('a'.repeat(500), 'a'.repeat(501), '%', '%00', '==', ''),
  )
  .map((cursor) => hostile(`cursor ${cursor.slice(0, 40)}`, get(`/v1/payments?cursor=${cursor}`), { expect: { status: [200, 400] } }));

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'MKCOL', 'LOCK', 'PURGE', 'QUERY', 'FOO', 'get', 'G E T'];

const randomRoute: fc.Arbitrary<Hostile> = fc
  .tuple(
    fc.constantFrom(...methods),
    fc.oneof(
      fc.webPath(),
      fc.webPath().map((p) => `/v1/payments${p}`),
      fc.webSegment().map((s) => `/v1/payments/${s}`),
      fc.tuple(fc.webPath(), fc.webQueryParameters()).map(([p, q]) => `${p || '/'}?${q}`),
      fc.constantFrom(
        '/', '//', '/v1', '/v1/', '/v1/payments/', '/v1//payments', '/V1/PAYMENTS', '/v1/payments/pay_', '/v1/payments/pay_x/capture/extra', '/v1/payments/%',
        '/v1/payments/%zz', '/v1/payments/%00', '/v1/payments/..%2f..%2fetc%2fpasswd', '/../../etc/passwd', '/v1/payments/' + 'a'.repeat(201),
        '/v1/payments/pay_' + 'a'.repeat(65), '/v1/payments?limit=0', '/v1/payments?limit=101', '/v1/payments?limit=-1', '/v1/payments?limit=1e2',
        '/v1/payments?limit=1&limit=2', '/v1/payments?limit[]=1', '/v1/payments?__proto__=1', '/v1/payments?constructor[prototype][x]=1', '*',
        'http://evil.example/v1/payments', '/healthz/', '/metrics?x', '/openapi.json/..', '/v1/payments;jsessionid=1', '/v1/payments#frag',
      ),
    ),
    fc.boolean(),
    fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
  )
  .map(([method, target, withAuth, body]) =>
    hostile(`${method} ${target.slice(0, 60)}`, (run) => ({
      method,
      target,
      headers: [...(withAuth ? [auth(run)] : []), ...(method === 'POST' ? [freshKey(run)] : []), ...(body !== undefined ? [jsonType] : [])],
      ...(body !== undefined ? { body: Buffer.from(JSON.stringify(body) ?? 'null') } : {}),
    })),
  );

const moneyMoves: fc.Arbitrary<Hostile> = fc
  .tuple(fc.constantFrom('capture', 'refunds', 'void'), fc.oneof(fc.constantFrom(...amountLiterals), fc.constant(undefined)), fc.nat())
  .map(([op, literal, n]) => {
    const body = literal === undefined ? '{}' : `{"amount":${literal}}`;
    return hostile(`${op} with ${body}`, post((run) => `/v1/payments/${run.payment(n)}/${op}`, body), {
      // State decides between success, 409 and 422; a bad amount is refused; never a 5xx.
      expect: cardNumberIn(body) !== null ? CARD_REFUSED : literal !== undefined && (!acceptableAmount(literal) || op === 'void') ? INVALID : { status: [200, 202, 402, 409, 422] },
    });
  });

// ---------------------------------------------------------------------------------------------
// The protocol itself: what only raw bytes can say.

/** Raw HTTP/1.1 requests, each with what it must get (or that it may get no answer). */
export function protocolCases(apiKey: string): Array<{ name: string; bytes: string | Buffer; end?: boolean; mayNotAnswer?: boolean; expect?: Expectation }> {
  const body = JSON.stringify(baseBody);
  const h = (extra: string, b = body) => `POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\n${extra}Connection: close\r\n\r\n${b}`;
  const len = `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  const parseError: Expectation = { status: [400], codes: ['VALIDATION_FAILED'] };
  return [
    { name: 'control character in Idempotency-Key', bytes: h(`Idempotency-Key: a\x01b\r\n${len}`), expect: { status: [400], codes: ['VALIDATION_FAILED', 'IDEM_KEY_INVALID'] } },
    { name: 'NUL in a header', bytes: h(`Idempotency-Key: a\x00b\r\n${len}`), expect: parseError },
    { name: 'header without a colon', bytes: h(`Idempotency-Key a\r\n${len}`), expect: parseError },
    { name: 'space before the colon', bytes: h(`Idempotency-Key : a\r\n${len}`), expect: parseError },
    { name: 'obsolete line folding', bytes: h(`Idempotency-Key: a\r\n b\r\n${len}`), expect: parseError },
    { name: 'bare LF line endings', bytes: `GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n`, expect: { status: [200, 400] } },
    { name: 'Content-Length and Transfer-Encoding (smuggling)', bytes: h(`Idempotency-Key: smug\r\n${len}Transfer-Encoding: chunked\r\n`, `0\r\n\r\n`), expect: parseError },
    { name: 'two different Content-Lengths', bytes: h(`Idempotency-Key: cl2\r\n${len}Content-Length: 3\r\n`), expect: parseError },
    { name: 'Content-Length not a number', bytes: h('Idempotency-Key: cl3\r\nContent-Length: abc\r\n'), expect: parseError },
    { name: 'negative Content-Length', bytes: h('Idempotency-Key: cl4\r\nContent-Length: -1\r\n'), expect: parseError },
    { name: 'Content-Length 2^64', bytes: h('Idempotency-Key: cl5\r\nContent-Length: 18446744073709551616\r\n'), expect: parseError },
    { name: 'Transfer-Encoding: gzip, chunked', bytes: h('Idempotency-Key: te1\r\nTransfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'), expect: { status: [400, 415] } },
    { name: 'bad chunk size', bytes: h('Idempotency-Key: te2\r\nTransfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n'), expect: parseError },
    { name: 'body shorter than Content-Length, then close', bytes: h('Idempotency-Key: short\r\nContent-Length: 500\r\n'), end: true, mayNotAnswer: true },
    { name: 'headers never finished, then close', bytes: 'GET /v1/payments HTTP/1.1\r\nHost: x\r\nAuthor', end: true, mayNotAnswer: true },
    { name: 'unknown method token', bytes: 'FOO /v1/payments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', expect: { status: [400, 404] } },
    { name: 'method with a space', bytes: 'G ET /v1/payments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', expect: parseError },
    { name: 'HTTP/1.0', bytes: `GET /healthz HTTP/1.0\r\n\r\n`, expect: OK },
    // Node's parser reads any HTTP/x.y request line as HTTP/1.x; either answer is fine.
    { name: 'HTTP/2.0 request line', bytes: `GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n`, expect: { status: [200, 400] } },
    { name: 'HTTP/9.9 request line', bytes: `GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n`, expect: parseError },
    { name: 'no HTTP version (HTTP/0.9 style)', bytes: `GET /healthz\r\n\r\n`, expect: { status: [200, 400] } },
    { name: 'HTTP/2 preface', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: { status: [400, 404, 505] }, end: true, mayNotAnswer: true },
    { name: 'invalid UTF-8 in the path', bytes: Buffer.concat([Buffer.from('GET /v1/payments/pay_'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from(` HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${apiKey}\r\nConnection: close\r\n\r\n`)]), expect: REFUSED_400 },
    { name: 'UTF-8 in the path', bytes: `GET /v1/payments/pay_ключ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${apiKey}\r\nConnection: close\r\n\r\n`, expect: { status: [400, 404] } },
    { name: 'control character in the path', bytes: `GET /v1/pay\x01ments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: parseError },
    { name: 'space in the path', bytes: `GET /v1/pay ments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: parseError },
    { name: 'absolute-form target', bytes: `GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: { status: [200, 400, 404] } },
    { name: 'asterisk-form target', bytes: `OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: { status: [400, 404] } },
    { name: 'no Host header', bytes: `GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`, expect: parseError },
    { name: 'no Host header on an unknown route', bytes: `GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n`, expect: parseError },
    { name: 'two Host headers', bytes: `GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`, expect: { status: [200, 400] } },
    // The parser meets the garbage before the first answer is written; like Node's own handler,
    // Idem then answers 400 and closes, so the valid request may get that 400.
    { name: 'pipelined: valid then garbage', bytes: `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n`, end: true, expect: { status: [200, 400] } },
    { name: 'pipelined: two creates', bytes: h('Idempotency-Key: pipe-1\r\n' + len).replace('Connection: close\r\n', '') + h('Idempotency-Key: pipe-2\r\n' + len), expect: { status: [201] } },
    { name: '20 KiB header', bytes: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, expect: { status: [400, 431] } },
    { name: '100 KiB URL', bytes: `GET /v1/payments?x=${'u'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: { status: [400, 414, 431] } },
    { name: '3000 headers', bytes: `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_v, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`, expect: { status: [200, 400, 431] } },
    { name: 'random bytes', bytes: Buffer.from(Array.from({ length: 200 }, (_v, i) => (i * 7919) % 256)), end: true, mayNotAnswer: true, expect: parseError },
    { name: 'TLS ClientHello on the plain port', bytes: Buffer.from('16030100a5010000a10303', 'hex'), end: true, mayNotAnswer: true, expect: parseError },
  ];
}

const protocolHostiles = (apiKey: string): Hostile[] =>
  protocolCases(apiKey).map((c) =>
    hostile(`protocol: ${c.name}`, () => ({ bytes: Buffer.isBuffer(c.bytes) ? c.bytes : Buffer.from(c.bytes, 'utf8'), end: c.end ?? false }), {
      ...(c.expect ? { expect: c.expect } : {}),
      ...(c.mayNotAnswer ? { mayNotAnswer: true } : {}),
    }),
  );

const protocolEdge = (apiKey: string): fc.Arbitrary<Hostile> =>
  fc.oneof(
    fc.constantFrom(...protocolHostiles(apiKey)),
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) =>
      hostile('protocol: random bytes', () => ({ bytes: Buffer.from(bytes), end: true }), { mayNotAnswer: true }),
    ),
    fc.tuple(fc.constantFrom('x-big', 'idempotency-key', 'authorization', 'content-type', 'cookie'), fc.constantFrom(8_000, 17_000, 70_000)).map(([name, size]) =>
      hostile(`${size}-byte ${name} header`, (run) => ({
        method: 'POST',
        target: '/v1/payments',
        headers: [auth(run), jsonType, ...(name === 'idempotency-key' ? [] : [freshKey(run)]), [name, 'h'.repeat(size)] as [string, string]],
        body: Buffer.from(JSON.stringify(baseBody)),
      }), size > 16 * 1024 ? { expect: { status: [400, 431] } } : {}),
    ),
  );

/**
 * The whole mix: mostly hostile, with valid requests and replays among them so that "valid
 * requests still succeed" is checked between hostile ones, not only before and after.
 */
export function hostileRequest(apiKey: string): fc.Arbitrary<Hostile> {
  return fc.oneof(
    { weight: 4, arbitrary: validCreate },
    { weight: 2, arbitrary: validRead },
    { weight: 1, arbitrary: replay },
    { weight: 3, arbitrary: amountEdge },
    { weight: 2, arbitrary: currencyEdge },
    { weight: 1, arbitrary: unknownField },
    { weight: 2, arbitrary: fieldConfusion },
    { weight: 2, arbitrary: randomJsonBody },
    { weight: 2, arbitrary: malformedJson },
    { weight: 2, arbitrary: stringHazards },
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: hugeBody },
    { weight: 1, arbitrary: invalidUtf8 },
    { weight: 1, arbitrary: contentTypes },
    { weight: 3, arbitrary: keyEdge },
    { weight: 1, arbitrary: authEdge },
    { weight: 6, arbitrary: cardPlanted },
    { weight: 1, arbitrary: cursorHostile },
    { weight: 3, arbitrary: randomRoute },
    { weight: 2, arbitrary: moneyMoves },
    { weight: 2, arbitrary: protocolEdge(apiKey) },
  );
}

/**
 * Every fixed edge case once: each Idempotency-Key case, amount literal, wrong field value,
 * odd string, nesting depth, body size, bad UTF-8 sequence, content type, protocol violation,
 * and every card-number placement with well-known test numbers.
 */
export function catalogue(apiKey: string): Hostile[] {
  return [
    ...keyHostiles(),
    ...amountLiterals.map(amountHostile),
    ...currencyLiterals.map(currencyHostile),
    ...fieldHostiles(),
    ...hazardPlaces.flatMap((where) => hazardStrings.map((s) => hazardHostile([where, s, 0]))),
    ...depths.flatMap((d) => nestShapes.map((shape) => nestingHostile([d, shape]))),
    ...bodySizes.flatMap((size) => hugeShapes.map((shape) => hugeHostile([size, size % 2 === 1, shape]))),
    ...badUtf8.flatMap((bytes) => utf8Places.map((where) => utf8Hostile([bytes, where]))),
    ...contentTypeValues.map(contentTypeHostile),
    ...protocolHostiles(apiKey),
    ...cardCatalogue(),
  ];
}
