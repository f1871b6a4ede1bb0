import { renderPaymentResult } from '../api/render.js';
import { IdemError } from '../errors/registry.js';
import type { GatewayConnector } from '../gateways/port.js';
import { GatewayRouter } from '../gateways/router.js';
import { createSimulatorConnector } from '../gateways/simulator/connector.js';
import type { Processor } from '../gateways/simulator/processor.js';
import { fingerprint } from '../idempotency/fingerprint.js';
import { LocalKeyEvents, type KeyEvents } from '../idempotency/events.js';
import type { CachedResponse, FastPath, LockResult } from '../idempotency/fastpath.js';
import { Gate } from '../idempotency/gate.js';
import { startRelay, type Relay } from '../outbox/relay.js';
import type { PaymentRequestKind } from '../payments/result.js';
import { PaymentService, type CreatePaymentInput } from '../payments/service.js';
import type { Cancel, Runtime, Timers } from '../ports/clock.js';
import { openPaymentInSteps, writeBatchInSteps } from '../payments/batch.js';
import type { BatchWrite, OpenPayment } from '../payments/store.js';
import { storeOpNames, type Store, type StoreOps } from '../store/port.js';
import type { MemoryStore } from '../store/memory/index.js';
import { adaptivePolicy } from '../resilience/adaptive.js';
import { HealthBook } from '../resilience/book.js';
import type { PlantedBug } from './planted.js';
import { REMEDIATION_KEY_PREFIX } from '../reconciliation/cases.js';
import { startReconcileLoop } from '../reconciliation/loop.js';
import { Reconciler } from '../reconciliation/reconciler.js';
import type { World } from './world.js';

/** Thrown into an open transaction of an instance that crashed, so the store rolls it back. */
export class CrashError extends Error {
  override readonly name = 'CrashError';
}

/** What every instance shares: one database, one Redis-like fast path, one notifier, the gateways. */
export interface SharedInfra {
  world: World;
  store: MemoryStore;
  fast: SimFastPath;
  events: LocalKeyEvents;
  /** Processors as seen through the network, by gateway name (priority = order). */
  gateways: Array<{ name: string; processor: Processor }>;
  config: SimConfig;
  /** Test only: see `planted.ts`. */
  plant: PlantedBug | null;
}

/** Timing knobs of the simulated deployment. */
export interface SimConfig {
  leaseMs: number;
  holdTimeoutMs: number;
  keyTtlMs: number;
  relayIntervalMs: number;
  gatewayTimeoutMs: number;
  /** Upper bound of one store round trip. */
  storeDelayMs: number;
  /** How often each instance runs a reconciliation pass (docs/reconciliation.md). */
  reconcileIntervalMs: number;
}

const FENCED: ReadonlySet<string> = new Set(['guardKey', 'bindKeyResource', 'completeKey']);

/**
 * A Redis-like fast path shared by every instance: a lock with expiry and a replay cache, on
 * the world's clock. `available = false` is the loss of the fast lock path: every call then
 * answers as `RedisFastPath` does when Redis is down.
 */
export class SimFastPath {
  available = true;
  private readonly locks = new Map<string, { token: string; until: number }>();
  private readonly replays = new Map<string, { response: CachedResponse; until: number }>();
  constructor(private readonly world: World) {}

  getReplay(merchantId: string, key: string): CachedResponse | null {
    if (!this.available) return null;
    const r = this.replays.get(merchantId + ' ' + key);
    return r && r.until > this.world.now ? { ...r.response } : null;
  }

  tryLock(merchantId: string, key: string, token: string, ttlMs: number): LockResult {
    if (!this.available) return 'unavailable';
    const id = merchantId + ' ' + key;
    const held = this.locks.get(id);
    if (held && held.until > this.world.now) return 'busy';
    this.locks.set(id, { token, until: this.world.now + ttlMs });
    return 'acquired';
  }

  finish(merchantId: string, key: string, token: string | null, response: CachedResponse | null, ttlMs: number): void {
    if (!this.available) return;
    const id = merchantId + ' ' + key;
    if (response) this.replays.set(id, { response: { ...response }, until: this.world.now + Math.max(1, ttlMs) });
    if (token !== null && this.locks.get(id)?.token === token) this.locks.delete(id);
  }
}

/**
 * One request as a client sends it: the POST the HTTP layer would turn into a gate call, with
 * what its route would tell the handler (the request kind and the payment id in the path).
 */
export interface SimRequest {
  merchantId: string;
  key: string;
  path: string;
  body: Record<string, unknown>;
  operation: PaymentRequestKind;
  /** For capture, void and refund: the payment the path names. */
  paymentId?: string;
}

/** An answer as the client receives it. */
export interface SimAnswer {
  status: number;
  body: string;
  replayed: boolean;
}

/**
 * One simulated Idem process: its own gate, payment pipeline, gateway connectors and relay,
 * wired as `src/idem.ts` wires them, over shared infrastructure. Every store and fast-path call
 * is an await point scheduled on the world, so a crash can land between any two of them.
 * `crash()` loses everything in memory: pending calls never return, timers never fire, an open
 * transaction rolls back. Committed state stays in the shared store.
 */
export class SimInstance {
  alive = true;
  readonly gate: Gate;
  readonly payments: PaymentService;
  readonly relay: Relay;
  readonly reconciler: Reconciler;
  private readonly runtime: Runtime;

  constructor(
    readonly name: string,
    private readonly infra: SharedInfra,
  ) {
    const { world, config } = infra;
    const timers = this.instanceTimers();
    this.runtime = { clock: world.clock, timers, random: world.random };
    const store = this.instanceStore();
    this.gate = new Gate({
      store,
      fast: this.instanceFastPath(),
      events: this.instanceEvents(),
      runtime: this.runtime,
      holdTimeoutMs: config.holdTimeoutMs,
      leaseMs: config.leaseMs,
      keyTtlMs: config.keyTtlMs,
      observe: (e) => world.log(name, `gate ${e}`),
    });
    const router = new GatewayRouter(
      infra.gateways.map((g, i) => ({
        name: g.name,
        priority: i,
        connector: this.plantedConnector(createSimulatorConnector({ name: g.name, processor: g.processor, timers, timeoutMs: config.gatewayTimeoutMs })),
      })),
    );
    // The adaptive policy, as `idem serve` runs by default; each process learns on its own
    // (a crash loses what it learned, as a restarted process does).
    const policy = adaptivePolicy({ book: new HealthBook({}, world.now), clock: world.clock, random: world.random });
    this.payments = new PaymentService({ store, gateways: router, runtime: this.runtime, policy, relayDelayMs: config.leaseMs, render: renderPaymentResult });
    this.relay = startRelay({
      store,
      gate: this.gate,
      payments: this.payments,
      runtime: this.runtime,
      intervalMs: config.relayIntervalMs,
      leaseMs: config.leaseMs,
      observe: (r) => world.log(name, `relay ${r}`),
    });
    // Reconciliation, as every `idem serve` runs it: the same store, leases and connectors.
    const connectors = new Map(
      infra.gateways.map((g) => [g.name, this.plantedRemediation(createSimulatorConnector({ name: g.name, processor: g.processor, timers, timeoutMs: config.gatewayTimeoutMs }), g.processor)]),
    );
    const say = (obj: object, msg: string) => {
      const o = obj as Record<string, unknown>;
      world.log(name, `${msg}${o.gateway_key ? ` ${String(o.gateway_key)}` : ''}${o.payment_id ? ` ${String(o.payment_id)}` : ''}${o.reason ? ` (${String(o.reason)})` : ''}`);
    };
    this.reconciler = new Reconciler({
      store,
      gateways: { names: infra.gateways.map((g) => g.name), connector: (n) => connectors.get(n)! },
      runtime: this.runtime,
      owner: name,
      leaseMs: config.leaseMs,
      log: { info: () => {}, warn: say, error: say },
    });
    startReconcileLoop(this.reconciler, this.runtime, config.reconcileIntervalMs, { info: () => {}, warn: say, error: say });
  }

  /** Virtual time until which this process is frozen (a long GC pause, a stalled VM). */
  private stalledUntil = 0;

  /** Freezes the process for `ms`: nothing of it runs until then; then it carries on, late. */
  stall(ms: number): void {
    this.stalledUntil = Math.max(this.stalledUntil, this.infra.world.now + ms);
    this.infra.world.log(this.name, `STALL ${ms}ms`);
  }

  /** Runs `fn` now, or when the stall ends. */
  private whenAwake(fn: () => void): void {
    const { world } = this.infra;
    if (world.now < this.stalledUntil) world.after(this.stalledUntil - world.now, () => this.whenAwake(fn));
    else fn();
  }

  /** kill -9: nothing of this process runs again. */
  crash(where = ''): void {
    if (!this.alive) return;
    this.alive = false;
    this.infra.world.log(this.name, `CRASH${where}`);
  }

  /** Await points left before a planned crash, and what to do when it lands. */
  private crashPlan: { steps: number; then: () => void } | null = null;

  /** kill -9 at the `steps`-th await point from now, whatever the process is doing then; `then` runs when it lands. */
  crashAtAwait(steps: number, then: () => void): void {
    this.crashPlan = { steps, then };
  }

  /** Drops a planned crash that has not landed (the faults have stopped). */
  cancelPlannedCrash(): void {
    this.crashPlan = null;
  }

  /** What the HTTP layer does for a POST: fingerprint, gate, handler, problem mapping. */
  async handle(req: SimRequest): Promise<SimAnswer> {
    const path = req.path;
    try {
      const answer = await this.gate.execute(
        { merchantId: req.merchantId, key: req.key, method: 'POST', path, fingerprint: fingerprint('POST', path, req.body), operation: req.operation },
        (claim) => {
          const b = req.body;
          if (req.operation === 'create') {
            const input: CreatePaymentInput = {
              amount: b.amount as number,
              currency: b.currency as string,
              captureMethod: b.capture_method as 'automatic' | 'manual',
              token: (b.payment_method as { token: string }).token,
              reference: b.reference as string | undefined,
            };
            return this.payments.create(req.merchantId, req.key, input, claim);
          }
          const id = req.paymentId!;
          const amount = typeof b.amount === 'number' ? b.amount : undefined;
          if (req.operation === 'capture') return this.payments.capture(req.merchantId, req.key, id, amount, claim);
          if (req.operation === 'void') return this.payments.void(req.merchantId, req.key, id, claim);
          return this.payments.refund(req.merchantId, req.key, id, amount, claim);
        },
        undefined,
        // As the API's create route: its first write claims the key (docs/idempotency.md, claim step 5).
        { claimInFirstWrite: req.operation === 'create' },
      );
      return { status: answer.status, body: answer.body, replayed: answer.replayed };
    } catch (err) {
      if (err instanceof IdemError) return { status: err.status, body: JSON.stringify(err.toProblem()), replayed: false };
      return { status: 500, body: JSON.stringify({ code: 'INTERNAL', detail: (err as Error).message }), replayed: false };
    }
  }

  /** Resolves after a store-sized delay if alive; never if dead; rejects if dead inside a transaction. */
  private step(inTx: boolean, what: string): Promise<void> {
    const { world, config } = this.infra;
    const plan = this.crashPlan;
    if (plan && --plan.steps === 0) {
      this.crashPlan = null;
      this.crash(` at its await on ${what}${inTx ? ' (in a transaction)' : ''}`);
      plan.then();
    }
    return new Promise((resolve, reject) => {
      world.after(world.int(0, config.storeDelayMs), () =>
        this.whenAwake(() => {
          if (this.alive) resolve();
          else if (inTx) reject(new CrashError(`${this.name} crashed inside a transaction`));
        }),
      );
    });
  }

  private instanceTimers(): Timers {
    const world = this.infra.world;
    return {
      after: (ms, fn): Cancel => {
        let cancelled = false;
        const cancel = world.after(ms, () => this.whenAwake(() => !cancelled && this.alive && fn()));
        return () => {
          cancelled = true;
          cancel();
        };
      },
      every: (ms, fn): Cancel => {
        let cancelled = false;
        const cancel = world.every(ms, () => this.whenAwake(() => (this.alive && !cancelled ? fn() : cancel())));
        return () => {
          cancelled = true;
          cancel();
        };
      },
    };
  }

  private instanceStore(): Store {
    const { store: shared, plant } = this.infra;
    const wrap = (target: StoreOps, inTx: boolean): StoreOps => {
      const ops = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
      for (const name of storeOpNames) {
        const op = (target[name] as (...args: unknown[]) => Promise<unknown>).bind(target);
        ops[name] = async (...args: unknown[]) => {
          await this.step(inTx, name);
          let result = await op(...args);
          if (plant === 'skip-fence' && FENCED.has(name)) result = true;
          if (plant === 'early-response' && inTx && name === 'completeKey' && result === true) shared.commitKeysNow();
          if (!this.alive) {
            if (inTx) throw new CrashError(`${this.name} crashed inside a transaction`);
            return new Promise(() => {}); // the answer dies with the process
          }
          return result;
        };
      }
      return ops as unknown as StoreOps;
    };
    const outside = wrap(shared, false);
    const store = {
      ...outside,
      kind: 'memory',
      transaction: async <T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> => {
        await this.step(false, 'BEGIN');
        const result = await shared
          .transaction(async (tx) => {
            if (!this.alive) throw new CrashError(`${this.name} crashed before its transaction began`);
            const r = await fn(wrap(tx, true));
            await this.step(true, 'COMMIT'); // COMMIT is a round trip too: a crash before it arrives rolls back
            return r;
          })
          .catch((err: unknown) => {
            if (err instanceof CrashError) this.infra.world.log(this.name, 'CRASH rolled back its open transaction');
            throw err;
          });
        if (!this.alive) return new Promise<T>(() => {}); // committed, but the answer dies with the process
        return result;
      },
      // The one-statement first write, as its steps: each a crash point, each fenced write
      // open to the planted skip.
      openPayment: (o: OpenPayment) => openPaymentInSteps(store, o),
      // A round's batched writes, likewise as their steps.
      writeBatch: (writes: readonly BatchWrite[]) => writeBatchInSteps(store, writes),
    } as Store;
    return store;
  }

  /**
   * The gateway as the process sees it: an answer is taken in at an await of its own, where a
   * stall or a crash can land (a GC pause while a call is in flight). And `failover-on-unknown`
   * (test only): unknown outcomes reach the pipeline as not processed.
   */
  private plantedConnector(gateway: GatewayConnector): GatewayConnector {
    const connector: GatewayConnector = {
      ...gateway,
      execute: async (request, signal, call) => {
        const outcome = await gateway.execute(request, signal, call);
        await this.step(false, `gateway answer ${request.operation}`);
        return outcome;
      },
    };
    if (this.infra.plant !== 'failover-on-unknown') return connector;
    return {
      name: connector.name,
      execute: async (request, signal) => {
        const outcome = await connector.execute(request, signal);
        return outcome.class === 'unknown' ? { class: 'not_processed', reason: `planted: ${outcome.reason}` } : outcome;
      },
      status: (key, signal) => connector.status(key, signal),
    };
  }

  /**
   * `void-real-authorization` (test only): a remediation void is sent for the payment's own
   * authorization (the first Idem obtained for the same reference) instead of the extra one.
   */
  private plantedRemediation(connector: GatewayConnector, processor: Processor): GatewayConnector {
    if (this.infra.plant !== 'void-real-authorization') return connector;
    return {
      ...connector,
      execute: (request, signal) => {
        if (request.operation !== 'void' || !request.gatewayKey.startsWith(REMEDIATION_KEY_PREFIX)) return connector.execute(request, signal);
        const real = processor
          .log()
          .find((e) => e.operation === 'authorize' && e.status === 'succeeded' && e.reference === request.reference && e.idempotency_key.startsWith(`${request.reference}.`) && e.authorization_id !== request.authorizationId);
        return connector.execute(real ? { ...request, authorizationId: real.authorization_id! } : request, signal);
      },
    };
  }

  private instanceFastPath(): FastPath {
    const fast = this.infra.fast;
    const self = this;
    return {
      get healthy() {
        return fast.available;
      },
      async getReplay(m, k) {
        await self.step(false, 'redis GET replay');
        return fast.getReplay(m, k);
      },
      async tryLock(m, k, token, ttl) {
        await self.step(false, 'redis SET lock');
        return fast.tryLock(m, k, token, ttl);
      },
      async replayOrLock(m, k, token, ttl) {
        await self.step(false, 'redis replay or lock');
        return fast.getReplay(m, k) ?? fast.tryLock(m, k, token, ttl);
      },
      async finish(m, k, token, response, ttl) {
        await self.step(false, 'redis finish');
        fast.finish(m, k, token, response, ttl);
      },
    };
  }

  private instanceEvents(): KeyEvents {
    const { events, world } = this.infra;
    return {
      healthy: true,
      watch: (m, k, onChange) => events.watch(m, k, () => this.alive && onChange()),
      publish: async (m, k) => {
        world.after(world.int(0, 2), () => events.deliver(m + ' ' + k));
      },
      close: async () => {},
    };
  }
}
