import type { Runtime } from '../ports/clock.js';
import { startPass, type PassObserver, type PassOutcome } from '../ports/passes.js';
import { newId } from '../ports/ids.js';
import type { Transactional } from '../ports/transaction.js';
import type { EventStore } from './store.js';
import type { WebhookStore } from './webhookStore.js';
import { decideAfterSend, deliveryHeaders, type DeliveryWork, type SendResult } from './webhooks.js';

/**
 * Sends one webhook and reports what the receiver did; never throws. The HTTP adapter
 * (src/outbound/webhookHttp.ts) bounds the time, the response body it reads, and refuses
 * private addresses unless allowed.
 */
export interface WebhookTransport {
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
}

export interface DeliveryWorkerOptions {
  store: Pick<WebhookStore, 'claimDeliveries' | 'releaseDeliveries' | 'finishDelivery' | 'succeedDeliveries'> &
    Transactional<Pick<WebhookStore, 'noteEndpointResult' | 'finishDelivery' | 'setEndpointStatus'> & Pick<EventStore, 'insertSystemEvent'>>;
  runtime: Runtime;
  transport: WebhookTransport;
  /** How often to look for due deliveries while there are some and nothing wakes the worker. */
  intervalMs: number;
  /** How long an idle worker backs off to between looks (default: `intervalMs`); positioned events wake it. */
  idleMaxMs?: number;
  observePass?: PassObserver;
  /** Lease on a claimed delivery: longer than the transport's timeout. */
  leaseMs: number;
  /** Sends in flight at once, in all. */
  maxInFlight?: number;
  /** Sends in flight at once to one endpoint: a slow receiver holds only these. */
  perEndpoint?: number;
  /**
   * Deliveries claimed together per payment and endpoint and sent one after another (a lane):
   * the payment's next event goes out without waiting for another claim. 1: one at a time.
   */
  laneSize?: number;
  /** The transport's timeout: a lane sends its next delivery only while one more send fits in its lease. */
  sendTimeoutMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  observe?: (result: 'delivered' | 'retry' | 'failed' | 'disabled') => void;
}

export interface DeliveryWorker {
  /** Looks for due deliveries now (after events were positioned, say). */
  kick(): void;
  /** Claims once and waits for every send it started. For tests. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The webhook delivery worker (docs/events.md, "Webhooks"). It claims due deliveries in lanes
 * (leased, fenced, per-payment order kept by the claim: a lane is a payment's next deliveries
 * to one endpoint), sends the lanes without waiting for each other and each lane's deliveries
 * one after another, and writes a lane's successes in one statement after it and each send not
 * accepted with the rule of `decideAfterSend`. Payments never wait for it: it runs
 * apart from the pipeline, at most `perEndpoint` lanes to one endpoint and `maxInFlight` in
 * all, so a receiver that hangs holds its own slots until the transport's timeout and no
 * others.
 */
/** A delivery the receiver accepted, to be written. */
interface Success {
  id: number;
  fence: number;
  status: number;
}

/** Lanes claimed per sending slot (see `claim`). */
const CLAIM_AHEAD = 2;

export function startDeliveryWorker(o: DeliveryWorkerOptions): DeliveryWorker {
  const { store, runtime } = o;
  const maxInFlight = o.maxInFlight ?? 64;
  const perEndpoint = o.perEndpoint ?? 16;
  const laneSize = o.laneSize ?? 1;
  const sendTimeoutMs = o.sendTimeoutMs ?? 0;
  /** Lanes claimed and not finished (waiting or sending), per endpoint: the claim's `busy`. */
  const claimed = new Map<string, number>();
  /** Lanes sending, per endpoint. */
  const sending = new Map<string, number>();
  /** Claimed lanes waiting for a sending slot, per endpoint, oldest first. */
  const waiting = new Map<string, Array<{ lane: DeliveryWork[]; leaseUntil: number }>>();
  const sends = new Set<Promise<void>>();
  let claimedTotal = 0;
  let sendingTotal = 0;
  let stopped = false;
  let queuedSuccesses: Array<{ batch: Success[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  let writingSuccesses = false;
  const add = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n === 0) m.delete(k);
    else m.set(k, n);
  };

  /**
   * One claim: 'more' when it filled its batch (more may be due). It claims up to
   * `CLAIM_AHEAD` lanes per sending slot, so a lane that ends starts the next one at once,
   * without waiting for a claim's round trip (claims run one at a time, and under load each
   * takes tens of ms: claiming only the slots just freed left most slots idle meanwhile).
   */
  async function claim(): Promise<PassOutcome> {
    const room = CLAIM_AHEAD * maxInFlight - claimedTotal;
    // Full: each lane that ends wakes the worker.
    if (room <= 0 || stopped) return 'worked';
    const claimedAt = runtime.clock.now();
    const limit = Math.min(room, 100);
    const work = await store.claimDeliveries(claimedAt, limit, o.leaseMs, CLAIM_AHEAD * perEndpoint, new Map(claimed), laneSize);
    const lanes = new Map<number, DeliveryWork[]>();
    for (const w of work) lanes.set(w.lane, [...(lanes.get(w.lane) ?? []), w]);
    for (const lane of lanes.values()) {
      const endpointId = lane[0]!.endpointId;
      add(claimed, endpointId, 1);
      claimedTotal++;
      const queue = waiting.get(endpointId) ?? [];
      queue.push({ lane, leaseUntil: claimedAt + o.leaseMs });
      waiting.set(endpointId, queue);
    }
    pump();
    return lanes.size === 0 ? 'idle' : lanes.size === limit ? 'more' : 'worked';
  }

  /** Starts waiting lanes while their endpoint and the instance have sending slots. */
  function pump(): void {
    for (const [endpointId, queue] of waiting) {
      while (queue.length > 0 && (sending.get(endpointId) ?? 0) < perEndpoint && sendingTotal < maxInFlight) {
        const { lane, leaseUntil } = queue.shift()!;
        add(sending, endpointId, 1);
        sendingTotal++;
        // The sending slot is free once the lane's last send ends; the claim budget once its write did.
        let sent = false;
        const free = () => {
          if (sent) return;
          sent = true;
          add(sending, endpointId, -1);
          sendingTotal--;
          pump();
        };
        const p: Promise<void> = sendLane(lane, leaseUntil, free)
          .catch((err) => o.log?.warn({ delivery: lane[0]!.id, err: { message: (err as Error).message } }, 'webhook delivery write failed; the lease will end'))
          .finally(() => {
            free();
            add(claimed, endpointId, -1);
            claimedTotal--;
            sends.delete(p);
            kick();
          });
        sends.add(p);
      }
      if (queue.length === 0) waiting.delete(endpointId);
    }
  }

  /**
   * Sends a lane in order. It stops at the first delivery not accepted (its retry holds the
   * rest back), on stop, or when one more send might outlast the lease; what it did not send
   * is released to be claimed again at once. Its successes are written together after the
   * lane, in one statement (`succeed`; docs/events.md, "Crashes": a crash before that write
   * re-sends them, as retries with the same `webhook-id`). `sent` is called after its last send.
   */
  async function sendLane(lane: DeliveryWork[], leaseUntil: number, sent: () => void): Promise<void> {
    let delivered: Success[] = [];
    const writeDelivered = async () => {
      if (delivered.length === 0) return;
      const batch = delivered;
      delivered = [];
      await succeed(batch);
    };
    let rest: DeliveryWork[] = [];
    for (let i = 0; i < lane.length; i++) {
      // The next send only while it fits in the lease; the first while the lease lasts (a claim
      // that took long under load must not release every lane it took unsent, again and again).
      if (stopped || runtime.clock.now() + (i === 0 ? 0 : sendTimeoutMs) >= leaseUntil) {
        rest = lane.slice(i);
        break;
      }
      const w = lane[i]!;
      const result = await o.transport.send(w.url, deliveryHeaders(w, runtime.clock.now()), w.body);
      if (result.kind === 'answered' && result.status >= 200 && result.status < 300) {
        delivered.push({ id: w.id, fence: w.fence, status: result.status });
        continue;
      }
      // Not accepted: the successes before it are written first, then its retry.
      await writeDelivered();
      await notAccepted(w, result);
      rest = lane.slice(i + 1);
      break;
    }
    sent();
    await Promise.all([writeDelivered(), rest.length > 0 ? store.releaseDeliveries(rest.map((w) => ({ id: w.id, fence: w.fence }))) : undefined]);
  }

  /**
   * Writes successes: one statement at a time per instance, each carrying every lane's
   * successes that ended while the one before was in flight (under load, a handful of lanes
   * per statement instead of one statement per lane; idle, one lane's at once).
   */
  function succeed(batch: Success[]): Promise<void> {
    return new Promise((resolve, reject) => {
      queuedSuccesses.push({ batch, resolve, reject });
      flushSuccesses();
    });
  }

  function flushSuccesses(): void {
    if (writingSuccesses || queuedSuccesses.length === 0) return;
    const group = queuedSuccesses;
    queuedSuccesses = [];
    writingSuccesses = true;
    store
      .succeedDeliveries(group.flatMap((g) => g.batch), new Date(runtime.clock.now()))
      .then(
        (written) => {
          for (let i = 0; i < written.length; i++) o.observe?.('delivered');
          for (const g of group) g.resolve();
        },
        (err: unknown) => {
          for (const g of group) g.reject(err);
        },
      )
      .finally(() => {
        writingSuccesses = false;
        flushSuccesses();
      });
  }

  /** Writes a send the receiver did not accept, with the rule of `decideAfterSend`, in one transaction. */
  async function notAccepted(w: DeliveryWork, result: SendResult): Promise<void> {
    const decision = await store.transaction(async (tx) => {
      const now = new Date(runtime.clock.now());
      const failingSince = await tx.noteEndpointResult(w.endpointId, false, now);
      const d = decideAfterSend(result, w.attempts, now.getTime(), failingSince, runtime.random);
      if (!(await tx.finishDelivery(w.id, w.fence, d.update, now))) return null;
      if (d.endpoint === 'disable') {
        const changed = await tx.setEndpointStatus(w.merchantId, w.endpointId, 'disabled', d.reason ?? null, now);
        if (changed?.changed) {
          await tx.insertSystemEvent({
            id: newId(runtime.random, 'evt'),
            type: 'webhook_endpoint.disabled',
            merchantId: w.merchantId,
            data: { webhook_endpoint: { id: w.endpointId, url: w.url }, reason: d.reason ?? null },
            metadata: { merchant_id: w.merchantId },
            createdAt: now,
          });
        }
      }
      return d;
    });
    if (!decision) return;
    const outcome = decision.endpoint === 'disable' ? 'disabled' : decision.update.state === 'failed' ? 'failed' : 'retry';
    o.observe?.(outcome);
    o.log?.info(
      { webhook_endpoint: w.endpointId, event_id: w.eventId, attempts: w.attempts + 1, status: decision.update.status, error: decision.update.error, next_attempt_at: decision.update.nextAttemptAt },
      outcome === 'disabled' ? `webhook endpoint disabled: ${decision.reason}` : 'webhook delivery not accepted',
    );
  }

  const passes = startPass({
    name: 'events.deliveries',
    runtime,
    run: claim,
    intervalMs: o.intervalMs,
    idleMaxMs: o.idleMaxMs,
    observe: o.observePass,
    onError: (err) => o.log?.warn({ err: { message: (err as Error).message } }, 'webhook claim failed; will retry'),
  });
  const kick = passes.kick;

  return {
    kick,
    async drain() {
      kick();
      while (passes.current() || sends.size > 0) {
        await passes.current();
        await Promise.all([...sends]);
      }
    },
    async stop() {
      stopped = true;
      await passes.stop();
      // Lanes claimed and not started go back at once, for another instance to take.
      const unsent = [...waiting.values()].flat().flatMap(({ lane }) => lane.map((w) => ({ id: w.id, fence: w.fence })));
      waiting.clear();
      await Promise.all([...sends, unsent.length > 0 ? store.releaseDeliveries(unsent) : undefined]);
    },
  };
}
