import { IdemError } from '../errors/registry.js';
import type { Claim, OperationResult } from '../idempotency/claim.js';
import type { ClaimTx, StoredResponse } from '../idempotency/store.js';
import type { Runtime } from '../ports/clock.js';
import { newId } from '../ports/ids.js';
import type { Transactional } from '../ports/transaction.js';
import { isEventType } from './catalogue.js';
import type { EventStore } from './store.js';
import type { WebhookStore } from './webhookStore.js';
import { isPrivateAddress, newSigningSecret, urlProblem, type EndpointRow } from './webhooks.js';

/** An endpoint as the API shows it; `secret` only in the answers that create or rotate it. */
export interface EndpointView {
  id: string;
  object: 'webhook_endpoint';
  url: string;
  event_types: string[] | null;
  status: EndpointRow['status'];
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
  secret?: string;
  previous_secret_expires_at?: string | null;
}

/** Which answer a webhook-endpoint POST stores: the endpoint, the endpoint with its secret, a replay. */
export type EndpointAnswer = 'endpoint' | 'endpoint_with_secret' | 'replay';
export type EndpointRenderer = (answer: EndpointAnswer, status: number, value: object) => StoredResponse;

/** What an endpoint write's transaction uses: the webhooks' port, system events, the claim's fence checks. */
type EndpointOps = WebhookStore & Pick<EventStore, 'insertSystemEvent'> & ClaimTx;

export interface WebhookEndpointsOptions {
  store: WebhookStore & Transactional<EndpointOps>;
  runtime: Runtime;
  /** A host's addresses (DNS); an address literal resolves to itself. */
  resolve: (host: string) => Promise<string[]>;
  /** Endpoints on private and loopback addresses allowed (`IDEM_WEBHOOK_ALLOW_PRIVATE=1`). */
  allowPrivate: boolean;
  /**
   * Serializes each answer as stored for replay, through its route's response schema
   * (`renderEndpointAnswer` in src/api/render.ts).
   */
  render: EndpointRenderer;
  /** How long a rotated-out secret still signs deliveries; 24 h unless told. */
  rotationOverlapMs?: number;
}

/** The most endpoints one merchant may have, and the most events one replay may queue. */
export const MAX_ENDPOINTS_PER_MERCHANT = 16;
export const MAX_REPLAY_EVENTS = 10_000;

/**
 * `/v1/webhook_endpoints` (docs/events.md, "Webhooks"): create (the secret shown once), list,
 * disable / enable, rotate the secret, delete, replay a time range. Writes go through the
 * idempotency claim like every POST: guarded, and answered in the transaction that makes them.
 */
export class WebhookEndpoints {
  constructor(private readonly o: WebhookEndpointsOptions) {}

  /** Refuses a URL that is malformed, too long, or (unless allowed) reaches a private address. */
  async checkUrl(raw: string): Promise<void> {
    const bad = urlProblem(raw);
    if (bad) throw new IdemError(bad.code, bad.detail);
    if (this.o.allowPrivate) return;
    const host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    try {
      addresses = await this.o.resolve(host);
    } catch {
      throw new IdemError('WEBHOOK_URL_INVALID', `the host ${host} does not resolve`);
    }
    const priv = addresses.find(isPrivateAddress);
    if (priv !== undefined || addresses.length === 0) {
      throw new IdemError('WEBHOOK_URL_PRIVATE', `${host} resolves to ${priv ?? 'no address'}, which webhooks may not reach`);
    }
  }

  async create(merchantId: string, body: { url: string; event_types?: string[] | undefined }, claim: Claim): Promise<OperationResult> {
    const types = body.event_types ?? null;
    const unknown = types?.find((t) => !isEventType(t));
    if (unknown !== undefined) throw new IdemError('VALIDATION_FAILED', `body.event_types: "${unknown}" is not an event type (docs/events.md)`);
    await this.checkUrl(body.url);
    return this.answer(claim, 201, 'endpoint_with_secret', async (tx) => {
      if ((await tx.listEndpoints(merchantId)).length >= MAX_ENDPOINTS_PER_MERCHANT) {
        throw new IdemError('VALIDATION_FAILED', `a merchant may have at most ${MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints`);
      }
      const e = await tx.insertEndpoint({
        id: newId(this.o.runtime.random, 'we'),
        merchantId,
        url: body.url,
        eventTypes: types === null ? null : [...new Set(types)].sort(),
        status: 'enabled',
        secret: newSigningSecret(this.o.runtime.random),
        createdAt: this.now(),
      });
      return { ...endpointView(e), secret: e.secret };
    });
  }

  async list(merchantId: string): Promise<EndpointView[]> {
    return (await this.o.store.listEndpoints(merchantId)).map(endpointView);
  }

  async get(merchantId: string, id: string): Promise<EndpointView> {
    const e = await this.o.store.findEndpoint(merchantId, id);
    if (!e) throw notFound(id);
    return endpointView(e);
  }

  setStatus(merchantId: string, id: string, status: EndpointRow['status'], claim: Claim): Promise<OperationResult> {
    return this.answer(claim, 200, 'endpoint', async (tx) => {
      const now = this.now();
      const r = await tx.setEndpointStatus(merchantId, id, status, status === 'disabled' ? 'disabled by the merchant' : null, now);
      if (!r) throw notFound(id);
      if (r.changed && status === 'disabled') {
        await tx.insertSystemEvent({
          id: newId(this.o.runtime.random, 'evt'),
          type: 'webhook_endpoint.disabled',
          merchantId,
          data: { webhook_endpoint: { id, url: r.endpoint.url }, reason: 'disabled by the merchant' },
          metadata: { merchant_id: merchantId, idempotency_key: claim.key },
          createdAt: now,
        });
      }
      return endpointView(r.endpoint);
    });
  }

  rotateSecret(merchantId: string, id: string, claim: Claim): Promise<OperationResult> {
    return this.answer(claim, 200, 'endpoint_with_secret', async (tx) => {
      const now = this.now();
      const until = new Date(now.getTime() + (this.o.rotationOverlapMs ?? 86_400_000));
      const e = await tx.rotateEndpointSecret(merchantId, id, newSigningSecret(this.o.runtime.random), until, now);
      if (!e) throw notFound(id);
      return { ...endpointView(e), secret: e.secret, previous_secret_expires_at: until.toISOString() };
    });
  }

  async delete(merchantId: string, id: string): Promise<{ id: string; object: 'webhook_endpoint'; deleted: true }> {
    if (!(await this.o.store.deleteEndpoint(merchantId, id))) throw notFound(id);
    return { id, object: 'webhook_endpoint', deleted: true };
  }

  replay(merchantId: string, id: string, from: Date, to: Date, claim: Claim): Promise<OperationResult> {
    if (!(from.getTime() < to.getTime())) throw new IdemError('VALIDATION_FAILED', 'body.from must be before body.to');
    return this.answer(claim, 202, 'replay', async (tx) => {
      if (!(await tx.findEndpoint(merchantId, id))) throw notFound(id);
      const queued = await tx.replayDeliveries(merchantId, id, from, to, this.now(), MAX_REPLAY_EVENTS);
      return { object: 'webhook_replay', webhook_endpoint: id, from: from.toISOString(), to: to.toISOString(), queued, truncated: queued === MAX_REPLAY_EVENTS };
    });
  }

  /** Runs `write` fenced by the claim and stores its answer in the same transaction. */
  private async answer(claim: Claim, status: number, kind: EndpointAnswer, write: (tx: EndpointOps) => Promise<object>): Promise<OperationResult> {
    const response = await this.o.store.transaction(async (tx) => {
      await claim.guard(tx);
      const r = this.o.render(kind, status, await write(tx));
      await claim.complete(tx, r);
      return r;
    });
    return { kind: 'final', response };
  }

  private now(): Date {
    return new Date(this.o.runtime.clock.now());
  }
}

export function endpointView(e: EndpointRow): EndpointView {
  return {
    id: e.id,
    object: 'webhook_endpoint',
    url: e.url,
    event_types: e.eventTypes,
    status: e.status,
    disabled_reason: e.disabledReason,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

function notFound(id: string): IdemError {
  return new IdemError('WEBHOOK_ENDPOINT_NOT_FOUND', `no webhook endpoint ${id}`, { extensions: { webhook_endpoint_id: id } });
}
