import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { Type, type TSchema } from 'typebox';
import { errorCodes, type ErrorCode } from '../errors/registry.js';

/**
 * The OpenAPI document's frame and the response declarations every route shares (docs/api.md,
 * "The contract"): named components (each schema's `$id`), one `operationId` and tag per
 * operation, the headers a response can carry, and every status a route can answer with the
 * media type it is really sent as — `application/problem+json` for errors (docs/errors.md).
 */

export const PROBLEM_MEDIA = 'application/problem+json';
export const JSON_MEDIA = 'application/json';

const header = (description: string, schema: Record<string, unknown> = { type: 'string' }) => ({ ...schema, description });

const REQUEST_ID = { 'Request-Id': header('This request’s id (yours when you sent a usable one); logs, events and traces carry it (docs/metadata.md)') };
const REPLAYED = {
  'Idempotent-Replayed': header('`true` when this is the stored answer of an earlier request with the same key, byte for byte (docs/idempotency.md)', {
    type: 'string',
    enum: ['true', 'false'],
  }),
};
const RETRY_AFTER = { 'Retry-After': header('Seconds to wait before sending the same request again', { type: 'string', pattern: '^[0-9]+$' }) };
const WWW_AUTHENTICATE = { 'WWW-Authenticate': header('`Bearer realm="idem"`, with `error` when a key was sent') };

/**
 * Codes every authenticated route may answer: auth, bad input, the rate limit, the store, and
 * the operator key's `Idem-Merchant` naming no merchant (docs/dashboard.md).
 */
const V1_CODES: ErrorCode[] = ['AUTH_REQUIRED', 'VALIDATION_FAILED', 'CARD_DATA_REFUSED', 'URL_TOO_LONG', 'RATE_LIMITED', 'INTERNAL', 'UNAVAILABLE', 'MERCHANT_NOT_FOUND'];
/** Codes a public route may answer: a request that is not valid HTTP/1.1, a URL too long, a bug. */
const PUBLIC_CODES: ErrorCode[] = ['VALIDATION_FAILED', 'URL_TOO_LONG', 'INTERNAL'];
/** Codes the idempotency gate adds on every POST (docs/idempotency.md). */
const GATE_CODES: ErrorCode[] = ['IDEM_KEY_MISSING', 'IDEM_KEY_INVALID', 'IDEM_IN_PROGRESS', 'IDEM_KEY_REUSED'];
/** What every write (a gated POST, a DELETE) may answer the operator key, which only reads. */
const WRITE_CODES: ErrorCode[] = ['OPERATOR_READ_ONLY'];

export interface Answer {
  schema: TSchema;
  description: string;
  /** The media type it is sent as; `application/json` unless told. */
  media?: string;
}

export interface AnswerOptions {
  /** A POST behind the idempotency gate: its key's codes, and `Idempotent-Replayed` on what it stores. */
  gated?: boolean;
  /** A write that is not gated (a DELETE): the operator key is refused it. Implied by `gated`. */
  writes?: boolean;
  /** A public route: no auth codes, no rate limit. */
  public?: boolean;
}

/**
 * The `response` of a route: each success as given, and one entry per error status its codes
 * can produce (the codes listed in the description), with a `default` problem for what no
 * route answers by itself (414 `URL_TOO_LONG`). The 402 of a payment is its own schema.
 *
 * @example
 * schema: { response: answers({ 200: { schema: Payment, description: 'The payment' } }, ['PAYMENT_NOT_FOUND']) }
 */
export function answers(ok: Record<number, Answer>, codes: ErrorCode[], o: AnswerOptions = {}): Record<string, unknown> {
  const response: Record<string, unknown> = {};
  for (const [status, a] of Object.entries(ok)) {
    const headers = o.gated ? { ...REQUEST_ID, ...REPLAYED } : REQUEST_ID;
    // A named schema is referred to (registered once on the app by its `$id`, src/api/app.ts).
    const id = (a.schema as { $id?: unknown }).$id;
    const schema = typeof id === 'string' ? Type.Ref(id) : a.schema;
    response[status] = { description: a.description, headers, content: { [a.media ?? JSON_MEDIA]: { schema } } };
  }
  const all = [...(o.public ? PUBLIC_CODES : V1_CODES), ...(o.gated ? GATE_CODES : []), ...(o.gated || o.writes ? WRITE_CODES : []), ...codes];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of all) byStatus.set(errorCodes[code].status, [...(byStatus.get(errorCodes[code].status) ?? []), code]);
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    response[String(status)] = problemAnswer(status, list, o);
  }
  response.default = {
    description: 'Anything else, as a problem document (docs/errors.md)',
    headers: REQUEST_ID,
    content: { [PROBLEM_MEDIA]: { schema: Type.Ref('Problem') } },
  };
  return response;
}

function problemAnswer(status: number, codes: ErrorCode[], o: AnswerOptions): Record<string, unknown> {
  const declined = status === 402;
  const headers = {
    ...REQUEST_ID,
    ...(status === 401 ? WWW_AUTHENTICATE : {}),
    ...(status === 429 || status === 503 || (status === 409 && codes.includes('IDEM_IN_PROGRESS')) ? RETRY_AFTER : {}),
    ...(declined && o.gated ? REPLAYED : {}),
  };
  const titles = codes.map((c) => `\`${c}\` (${errorCodes[c].title.replace(/\.$/, '')})`).join('; ');
  return {
    description: `${declined ? 'Declined, stored and replayed for the key' : 'Refused'}: ${titles} — docs/errors.md`,
    headers,
    content: { [PROBLEM_MEDIA]: { schema: declined ? Type.Ref('PaymentDeclinedProblem') : Type.Ref('Problem') } },
  };
}

/** The tags operations are grouped by, in the order the reference shows them. */
export const TAGS = [
  { name: 'payments', description: 'Create, capture, void and refund payments; every POST is idempotent by its `Idempotency-Key`' },
  { name: 'events', description: 'The event feed, its Server-Sent Events stream' },
  { name: 'webhooks', description: 'Webhook endpoints: where events are delivered, signed (Standard Webhooks)' },
  { name: 'reconciliation', description: 'Discrepancies reconciliation could not settle alone' },
  { name: 'gateways', description: 'What Idem has learned of each gateway, and where a processor sends its notifications (HMAC-signed, no key)' },
  { name: 'dashboard', description: 'Read-only views the dashboard draws: merchants, the overview, what surrounds one payment' },
  { name: 'health', description: 'Liveness, readiness and this document (no key needed)' },
];

/** What `@fastify/swagger` builds the document from: OpenAPI 3.1, components named by `$id`. */
export function documentOptions(version: string): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Idem',
        version,
        description:
          'Exactly-once payment orchestration. Every POST needs an `Idempotency-Key` made once per intent by the client and sent again with every retry; errors are `application/problem+json` with a stable `code`.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: '/', description: 'This Idem instance' }],
      tags: TAGS,
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A merchant API key: `Authorization: Bearer <key>`' } } },
      security: [{ apiKey: [] }],
    },
    transformObject: (d) => finishDocument(('openapiObject' in d ? d.openapiObject : d.swaggerObject) as OpenApiDocument) as never,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `schema${i}`) },
  };
}

/** A public route's schema (no key): the document and the health checks. */
export function publicRoute(operationId: string, description: string): Record<string, unknown> {
  return {
    operationId,
    tags: ['health'],
    summary: description,
    security: [],
    response: answers({ 200: { schema: Type.Object({}, { additionalProperties: true }), description } }, [], { public: true }),
  };
}

interface Operation {
  requestBody?: { required?: boolean; content: Record<string, { schema?: { $ref?: string; required?: string[] } }> };
  [k: string]: unknown;
}
type OpenApiDocument = { paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, { required?: string[] }> } } & Record<string, unknown>;

/**
 * What the generator cannot say by itself: a request body is required only where the
 * server needs one (a POST without a body is an empty object, so a body whose schema requires
 * no member is optional — void, enable, …); and `/docs`, the reference, served beside it.
 */
export function finishDocument<T extends OpenApiDocument>(doc: T): T {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      const body = op.requestBody;
      if (!body) continue;
      const schema = body.content[JSON_MEDIA]?.schema;
      const named = schema?.$ref ? doc.components?.schemas?.[schema.$ref.split('/').pop()!] : schema;
      body.required = (named?.required?.length ?? 0) > 0;
    }
  }
  doc.paths ??= {};
  doc.paths['/docs'] = {
    get: {
      operationId: 'getApiReference',
      tags: ['health'],
      summary: 'This API’s reference, browsable (served by Idem itself, no CDN)',
      security: [],
      responses: {
        ...Object.fromEntries(
          Object.entries(answers({ 200: { schema: Type.String(), description: 'The reference page', media: 'text/html' } }, [], { public: true })).map(([k, v]) => [k, documentAnswer(v)]),
        ),
      },
    },
  };
  return doc;
}

/** A route's answer as the document spells it (the generator does this for routes): header schemas, `$ref`s. */
function documentAnswer(answer: unknown): unknown {
  const a = answer as { headers?: Record<string, { description: string }> };
  const headers = Object.fromEntries(Object.entries(a.headers ?? {}).map(([name, { description, ...schema }]) => [name, { description, schema }]));
  return JSON.parse(JSON.stringify({ ...a, headers }).replace(/"\$ref":"(\w+)"/g, '"$ref":"#/components/schemas/$1"'));
}
