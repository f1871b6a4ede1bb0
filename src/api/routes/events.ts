import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { IdemError } from '../../errors/registry.js';
import type { WebhookEndpoints } from '../../events/endpoints.js';
import type { EventFeed } from '../../events/feed.js';
import { eventView } from '../../events/model.js';
import type { GatedHandler } from '../plugins/idempotency.js';
import { answers } from '../openapi.js';
import { REQUEST_ID_HEADER } from '../requestContext.js';
import {
  CreateWebhookEndpointBody,
  DeletedWebhookEndpoint,
  EmptyBody,
  Event,
  EventList,
  EventListQuery,
  EventParams,
  EventStreamQuery,
  PostHeaders,
  ReplayAnswer,
  ReplayBody,
  WebhookEndpoint,
  WebhookEndpointList,
  WebhookEndpointParams,
  WebhookEndpointWithSecret,
  ref,
} from '../schemas.js';
import { Type } from 'typebox';

const endpoint = (description: string) => ({ schema: WebhookEndpoint, description });
const NOT_FOUND = ['WEBHOOK_ENDPOINT_NOT_FOUND'] as const;
/** The stream as the document shows it: `text/event-stream`, one event per `id:`/`event:`/`data:` block. */
const EventStream = Type.String({
  description: 'Server-Sent Events: `retry: 1000` first, then for each event `id: <event id>`, `event: <type>`, `data: <the Event as JSON>`; `: heartbeat` comments keep it open',
  examples: ['retry: 1000\n\nid: evt_01hx2c3d4e\nevent: payment.captured\ndata: {"id":"evt_01hx2c3d4e","object":"event","type":"payment.captured",…}\n\n'],
});

export interface EventStreamOptions {
  /** Open streams per merchant on this instance. */
  perMerchant: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** How often a stream looks for new events when nothing wakes it (other instances' events). */
  pollMs: number;
  /** Calls the listener whenever this instance positioned new events; returns the unsubscribe. */
  onPositioned?: (listener: () => void) => () => void;
}

const types = (q: string | undefined) => (q === undefined ? undefined : q.split(','));

/**
 * `/v1/events` (feed, one event, the Server-Sent Events stream) and `/v1/webhook_endpoints`
 * (docs/events.md). Registered in the context with auth and the gate: every POST is idempotent.
 */
export function registerEventRoutes(app: FastifyInstance, feed: EventFeed, endpoints: WebhookEndpoints, stream: EventStreamOptions): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const streams: OpenStreams = { perMerchant: new Map(), closers: new Set() };

  r.get(
    '/v1/events',
    {
      schema: {
        operationId: 'listEvents',
        tags: ['events'],
        summary: 'The merchant’s events, oldest first',
        querystring: EventListQuery,
        response: answers({ 200: { schema: EventList, description: 'A page of events' } }, ['EVENT_NOT_FOUND']),
      },
    },
    async (request) => feed.list(request.merchantId, { startingAfter: request.query.starting_after, types: types(request.query.type), limit: request.query.limit ?? 20 }),
  );

  r.get(
    '/v1/events/stream',
    {
      schema: {
        operationId: 'streamEvents',
        tags: ['events'],
        summary: 'The same events as Server-Sent Events, resumable with Last-Event-ID',
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 100, description: 'the last event id received: the stream resumes after it' })) }),
        querystring: EventStreamQuery,
        response: answers({ 200: { schema: EventStream, description: 'The event stream, open until the client or the server closes it', media: 'text/event-stream' } }, [
          'EVENT_NOT_FOUND',
          'STREAM_LIMIT_REACHED',
        ]),
      },
    },
    async (request, reply) => serveStream(request, reply, feed, stream, streams, request.query),
  );

  r.get(
    '/v1/events/:id',
    { schema: { operationId: 'getEvent', tags: ['events'], summary: 'One event', params: EventParams, response: answers({ 200: { schema: Event, description: 'The event' } }, ['EVENT_NOT_FOUND']) } },
    async (request) => feed.get(request.merchantId, request.params.id),
  );

  r.post(
    '/v1/webhook_endpoints',
    {
      config: { operation: 'webhook_endpoint.create' },
      schema: {
        operationId: 'createWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Create a webhook endpoint; its signing secret is in this answer only',
        headers: PostHeaders,
        body: ref(CreateWebhookEndpointBody),
        response: answers({ 201: { schema: WebhookEndpointWithSecret, description: 'The endpoint with its signing secret' } }, ['WEBHOOK_URL_INVALID', 'WEBHOOK_URL_PRIVATE'], { gated: true }),
      },
    },
    (async (request) => endpoints.create(request.merchantId, request.body as CreateWebhookEndpointBody, request.claim)) satisfies GatedHandler as never,
  );

  r.get(
    '/v1/webhook_endpoints',
    {
      schema: {
        operationId: 'listWebhookEndpoints',
        tags: ['webhooks'],
        summary: 'The merchant’s webhook endpoints',
        response: answers({ 200: { schema: WebhookEndpointList, description: 'Every endpoint (without secrets)' } }, []),
      },
    },
    async (request) => ({ object: 'list' as const, data: await endpoints.list(request.merchantId) }),
  );

  r.get(
    '/v1/webhook_endpoints/:id',
    {
      schema: { operationId: 'getWebhookEndpoint', tags: ['webhooks'], summary: 'One webhook endpoint', params: WebhookEndpointParams, response: answers({ 200: endpoint('The endpoint (without its secret)') }, [...NOT_FOUND]) },
    },
    async (request) => endpoints.get(request.merchantId, request.params.id),
  );

  r.delete(
    '/v1/webhook_endpoints/:id',
    {
      schema: {
        operationId: 'deleteWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint and its pending deliveries',
        params: WebhookEndpointParams,
        response: answers({ 200: { schema: DeletedWebhookEndpoint, description: 'Deleted' } }, [...NOT_FOUND], { writes: true }),
      },
    },
    async (request) => endpoints.delete(request.merchantId, request.params.id),
  );

  for (const [verb, status] of [['disable', 'disabled'], ['enable', 'enabled']] as const) {
    r.post(
      `/v1/webhook_endpoints/:id/${verb}`,
      {
        config: { operation: `webhook_endpoint.${verb}` },
        schema: {
          operationId: `${verb}WebhookEndpoint`,
          tags: ['webhooks'],
          summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a webhook endpoint (no body needed)`,
          headers: PostHeaders,
          params: WebhookEndpointParams,
          body: EmptyBody,
          response: answers({ 200: endpoint(`The endpoint, ${status}`) }, [...NOT_FOUND], { gated: true }),
        },
      },
      (async (request) => endpoints.setStatus(request.merchantId, (request.params as { id: string }).id, status, request.claim)) satisfies GatedHandler as never,
    );
  }

  r.post(
    '/v1/webhook_endpoints/:id/rotate_secret',
    {
      config: { operation: 'webhook_endpoint.rotate_secret' },
      schema: {
        operationId: 'rotateWebhookEndpointSecret',
        tags: ['webhooks'],
        summary: 'A new signing secret; the old one still signs (both signatures sent) for 24 hours (no body needed)',
        headers: PostHeaders,
        params: WebhookEndpointParams,
        body: EmptyBody,
        response: answers({ 200: { schema: WebhookEndpointWithSecret, description: 'The endpoint with its new secret' } }, [...NOT_FOUND], { gated: true }),
      },
    },
    (async (request) => endpoints.rotateSecret(request.merchantId, (request.params as { id: string }).id, request.claim)) satisfies GatedHandler as never,
  );

  r.post(
    '/v1/webhook_endpoints/:id/replay',
    {
      config: { operation: 'webhook_endpoint.replay' },
      schema: {
        operationId: 'replayWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Send the events created in [from, to) to this endpoint again (same event ids)',
        headers: PostHeaders,
        params: WebhookEndpointParams,
        body: ref(ReplayBody),
        response: answers({ 202: { schema: ReplayAnswer, description: 'The deliveries queued' } }, [...NOT_FOUND], { gated: true }),
      },
    },
    (async (request) => {
      const { from, to } = request.body as ReplayBody;
      return endpoints.replay(request.merchantId, (request.params as { id: string }).id, new Date(from), new Date(to), request.claim);
    }) satisfies GatedHandler as never,
  );

  app.addHook('onClose', async () => {
    for (const close of streams.closers) close();
  });
}

/** The streams open on this instance: a count per merchant, and how to end each at shutdown. */
interface OpenStreams {
  perMerchant: Map<string, number>;
  closers: Set<() => void>;
}

/**
 * One Server-Sent Events stream. Each event is written as `id:` (the event id, which the
 * browser sends back as `Last-Event-ID` on reconnect), `event:` (its type) and `data:` (the
 * event as JSON). The next page is read only when the socket has taken the last one (write
 * returned true, or `drain`), so a slow reader holds one page in memory, never more.
 */
async function serveStream(
  request: FastifyRequest,
  reply: FastifyReply,
  feed: EventFeed,
  o: EventStreamOptions,
  streams: OpenStreams,
  query: { starting_after?: string | undefined; type?: string | undefined },
): Promise<void> {
  const merchant = request.merchantId;
  const lastEventId = request.headers['last-event-id'];
  const resumeFrom = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : query.starting_after;
  if (resumeFrom !== undefined && !/^evt_[0-9a-z_]{1,64}$/.test(resumeFrom)) throw new IdemError('VALIDATION_FAILED', 'Last-Event-ID is not an event id');
  let after = resumeFrom === undefined ? 0 : await feed.positionOf(merchant, resumeFrom);
  const open = streams.perMerchant;
  if ((open.get(merchant) ?? 0) >= o.perMerchant) {
    throw new IdemError('STREAM_LIMIT_REACHED', `at most ${o.perMerchant} event streams per merchant`, { headers: { 'retry-after': '5' } });
  }
  open.set(merchant, (open.get(merchant) ?? 0) + 1);
  const closers = streams.closers;
  const wanted = types(query.type);

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    // Hijacked: the onSend hook that stamps every other answer does not run.
    [REQUEST_ID_HEADER]: request.id,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  res.write('retry: 1000\n\n');

  let closed = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    poke();
    res.end();
  };
  closers.add(close);
  const unsubscribe = o.onPositioned?.(poke);
  const socket = request.raw.socket;
  socket.on('close', close);
  res.on('close', close);
  res.on('error', close);
  let lastWrite = Date.now();

  try {
    while (!closed) {
      const page = await feed.page(merchant, after, wanted, 100);
      for (const e of page) {
        if (closed) break;
        const ok = res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(eventView(e))}\n\n`);
        after = e.position!;
        lastWrite = Date.now();
        if (!ok) await new Promise<void>((resolve) => {
          wake = resolve;
          res.once('drain', poke);
        });
      }
      if (page.length === 100 || closed) continue;
      // Nothing more now: wait for this instance's relay, the poll, or the heartbeat.
      await new Promise<void>((resolve) => {
        const t = setTimeout(poke, Math.min(o.pollMs, Math.max(0, o.heartbeatMs - (Date.now() - lastWrite))));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      if (!closed && Date.now() - lastWrite >= o.heartbeatMs) {
        res.write(': heartbeat\n\n');
        lastWrite = Date.now();
      }
    }
  } catch (err) {
    request.log.warn({ err: { message: (err as Error).message } }, 'event stream ended by an error');
  } finally {
    close();
    socket.off('close', close);
    unsubscribe?.();
    closers.delete(close);
    const n = (open.get(merchant) ?? 1) - 1;
    if (n <= 0) open.delete(merchant);
    else open.set(merchant, n);
  }
}
