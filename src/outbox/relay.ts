import { pickMetadata, type TransactionMetadata } from '../events/metadata.js';
import type { Claim, RequestContext } from '../idempotency/claim.js';
import type { Gate } from '../idempotency/gate.js';
import type { EventStore } from '../events/store.js';
import { FenceLostError, type KeyStore } from '../idempotency/store.js';
import { asPaymentRequestKind } from '../payments/result.js';
import type { PaymentService } from '../payments/service.js';
import type { Cancel, Runtime } from '../ports/clock.js';
import { startPass, type PassObserver } from '../ports/passes.js';
import { NO_SPAN, noopTracer, type Span, type Tracer } from '../ports/tracing.js';
import { exponentialBackoff } from '../resilience/backoff.js';
import type { DueWork, OutboxStore } from './store.js';

export interface RelayOptions {
  store: Pick<OutboxStore, 'claimDueWork' | 'rescheduleWork'> & Pick<EventStore, 'listEvents'> & Pick<KeyStore, 'readKey'>;
  gate: Gate;
  payments: PaymentService;
  runtime: Runtime;
  /** How often to look for due outbox rows while there are some. */
  intervalMs: number;
  /** How long an idle relay backs off to between looks (default: `intervalMs`). */
  idleMaxMs?: number;
  /** Lease on a claimed outbox row. */
  leaseMs: number;
  /** Rows claimed per pass, and how many run at once. */
  batch?: number;
  concurrency?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  observe?: (result: 'final' | 'pending' | 'busy' | 'failed') => void;
  /**
   * A span per pass that found work and per row it runs, linked to the trace of the request
   * that opened the attempt (docs/metadata.md, "Traces"); `noopTracer` unless told.
   */
  tracer?: Tracer;
  /** Each pass's outcome and duration (src/ports/passes.ts). */
  observePass?: PassObserver;
  /**
   * Wake-ups: each runs a pass now (src/ports/passes.ts) — a processor's notification made an
   * open attempt's row due (`Store.hastenWork`), so it is settled without waiting for the next
   * scheduled look.
   */
  wake?: (listener: () => void) => Cancel;
}

/** The name the relay's wake-ups go by (`Signals.notify`). */
export const RELAY_SIGNAL = 'outbox.relay';

type DueRow = DueWork;

export interface Relay {
  /** One pass: claims due rows and drives their payments. Returns how many rows it ran. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The outbox relay, which is also recovery (docs/payments.md, "Outbox and recovery"). Every
 * open gateway attempt has an outbox row, written with it; the request that opened the attempt
 * runs it inline, and the row falls due only if that does not finish: the owner crashed, or
 * the outcome was unknown. The request's kind is read from its key (`operation`). The
 * relay claims due rows (`FOR UPDATE SKIP LOCKED`, leased, fenced), then finishes the request
 * that opened the attempt through the gate — as a held retry would once the owner's lease
 * ends: it takes the key over with a higher fence and resumes the payment, re-sending the open
 * attempt with its own gateway key or asking the gateway for its status. The stored answer is
 * then there for the client's retries. An owner that is still alive is left alone.
 */
export function startRelay(o: RelayOptions): Relay {
  const { store, runtime, leaseMs } = o;
  const tracer = o.tracer ?? noopTracer;
  const batch = o.batch ?? 32;
  const concurrency = o.concurrency ?? 8;
  let stopped = false;
  // Between looks at a row whose outcome is still unknown (or whose run failed): 250 ms
  // doubling to 30 s, jittered over the upper half so rows that fell due together (after an
  // outage, say) spread out, yet none is asked again sooner than half its backoff. The jitter
  // draws from the runtime's random source, so a simulation replays from its seed.
  const retryBackoff = exponentialBackoff({ baseMs: 250, capMs: 30_000, jitter: 'equal', random: runtime.random });

  function claimDue(): Promise<DueRow[]> {
    return store.claimDueWork(runtime.clock.now(), batch, leaseMs);
  }

  /** Sets when the row is next due and gives up our lease on it. */
  async function reschedule(row: DueRow, delayMs: number): Promise<void> {
    await store.rescheduleWork(row.id, row.fence, runtime.clock.now() + delayMs);
  }

  /**
   * The request that opened the row's attempt, as its `attempt.started` event keeps it: its
   * `request_id` (the recovery serves that request) and `traceparent` (linked, not parented:
   * the recovery is work of its own, in the trace of its pass).
   */
  async function origin(row: DueRow): Promise<{ requestId?: string; traceparent?: string }> {
    const events = await store.listEvents(row.payment_id);
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e.type !== 'attempt.started') continue;
      const requestId = e.metadata.request_id ?? e.data['request_id'];
      const traceparent = e.data['traceparent'];
      return { ...(typeof requestId === 'string' ? { requestId } : {}), ...(typeof traceparent === 'string' ? { traceparent } : {}) };
    }
    return {};
  }

  async function recover(row: DueRow, context: RequestContext): Promise<void> {
    const key = row.idempotency_key === null ? null : await store.readKey(row.merchant_id, row.idempotency_key);
    const kind = asPaymentRequestKind(key?.operation);
    if (key?.operation) context.metadata.operation = key.operation;
    if (!key || !kind || key.state === 'completed' || key.resourceId !== row.payment_id) {
      // No open request to finish (its key is gone or was answered): drive the payment alone,
      // fenced by the outbox row.
      o.log?.warn(context.metadata, 'driving a payment whose request is closed');
      const result = await o.payments.resume(row.merchant_id, kind ?? 'create', detachedClaim(row, context));
      o.observe?.(result.kind);
      if (result.kind === 'pending') await reschedule(row, retryBackoff.delay(row.tries));
      return;
    }
    const answer = await o.gate.tryExecute(
      { merchantId: row.merchant_id, key: key.key, method: key.method, path: key.path, fingerprint: key.fingerprint, operation: key.operation },
      (claim) => o.payments.resume(row.merchant_id, kind, claim),
      context,
    );
    o.observe?.(answer === null ? 'busy' : answer.result);
    if (answer === null) {
      // Its owner is alive and working: look again when its lease would end.
      await reschedule(row, Math.max(0, (key.leaseUntil ?? 0) - runtime.clock.now()) + 1);
      return;
    }
    if (answer.result === 'pending') {
      await reschedule(row, retryBackoff.delay(row.tries));
      return;
    }
    o.log?.info({ ...context.metadata, status: answer.status }, 'recovered a payment request');
  }

  function detachedClaim(row: DueRow, context: RequestContext): Claim {
    const abort = new AbortController();
    return {
      merchantId: row.merchant_id,
      key: row.idempotency_key ?? '',
      fence: row.fence,
      resourceId: row.payment_id,
      signal: abort.signal,
      context,
      async guard(tx) {
        if (!(await tx.guardWork(row.id, row.fence, runtime.clock.now() + leaseMs))) {
          throw new FenceLostError(row.merchant_id, row.idempotency_key ?? '', row.fence);
        }
      },
      async bindResource() {},
      async complete() {},
      guardWrite: () => null,
      completeWrite: () => null,
      open() {
        // Its payment exists (resourceId above): nothing here opens one.
        throw new Error('a detached claim does not open payments');
      },
    };
  }

  async function runOnce(pass: Span): Promise<number> {
    const rows = await claimDue();
    if (rows.length === 0) return 0;
    if (tracer.enabled) pass.set({ 'idem.outbox.rows': rows.length });
    let next = 0;
    const worker = async () => {
      while (next < rows.length && !stopped) {
        const row = rows[next++]!;
        const metadata = rowMetadata(row);
        let span: Span = NO_SPAN;
        try {
          const from = await origin(row);
          if (from.requestId) metadata.request_id = from.requestId;
          if (tracer.enabled) {
            span = tracer.start('outbox.recover', { ...metadata, 'idem.outbox.tries': row.tries }, { parent: pass, ...(from.traceparent ? { links: [from.traceparent] } : {}) });
            metadata.trace_id = span.traceId;
          }
          await recover(row, { metadata, span });
        } catch (err) {
          span.fail(err);
          o.observe?.('failed');
          o.log?.warn({ ...metadata, err: { message: (err as Error).message } }, 'recovery attempt failed; will retry');
          await reschedule(row, retryBackoff.delay(row.tries)).catch(() => {});
        } finally {
          span.end();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
    return rows.length;
  }

  /** What is known of a row's request before it is read: the standard metadata (docs/metadata.md). */
  function rowMetadata(row: DueRow): TransactionMetadata {
    return pickMetadata({ merchant_id: row.merchant_id, payment_id: row.payment_id, idempotency_key: row.idempotency_key });
  }

  const passes = startPass({
    name: 'outbox.relay',
    runtime,
    run: async ({ span }) => ((await runOnce(span)) > 0 ? 'worked' : 'idle'),
    intervalMs: o.intervalMs,
    idleMaxMs: o.idleMaxMs,
    tracer,
    observe: o.observePass,
    ...(o.wake ? { wake: o.wake } : {}),
    onError: (err) => o.log?.warn({ err: { message: (err as Error).message } }, 'relay pass failed; will retry'),
  });

  return {
    runOnce: () => runOnce(NO_SPAN),
    async stop() {
      stopped = true;
      await passes.stop();
    },
  };
}
