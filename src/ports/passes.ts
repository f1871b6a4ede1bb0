import type { Cancel, Runtime } from './clock.js';
import { NO_SPAN, noopTracer, type Span, type Tracer } from './tracing.js';

/**
 * The periodic-pass runner (docs/architecture.md, "Background passes"): every piece of
 * background work — event positioning, the outbox relay, webhook deliveries, stream
 * publishers, reconciliation, the key sweeper, the shared health log — is a pass run by this,
 * one at a time per instance. A pass says what it found:
 *
 * | outcome    | next pass                                                          |
 * |------------|--------------------------------------------------------------------|
 * | `'more'`   | at once (a full batch: more is waiting)                            |
 * | `'worked'` | after `intervalMs` (jittered)                                      |
 * | `'idle'`   | after twice the last delay, up to `idleMaxMs` (jittered)           |
 * | a number   | after that many ms (work paced to a rate: the sweeper's backlog)   |
 *
 * A failed pass is reported and backs off like an idle one. A notification (`wake`, or
 * `kick()`) runs a pass at once — during a pass, one more right after it — so an idle
 * instance sleeps on long timers and still answers new work within a round trip. With a
 * `lease`, a pass runs only on the instance holding it, and gets the lease's fence.
 *
 * Every pass is a span `pass.<name>` (when tracing is on) and a metric observation through
 * `observe` (`idem_pass_total{pass, outcome}`, `idem_pass_duration_seconds{pass}`).
 */
export type PassOutcome = 'more' | 'worked' | 'idle' | number;

/** What one pass is handed: its span (parent of the spans of its work) and, when leased, its fence. */
export interface PassContext {
  span: Span;
  fence: number | null;
}

/** A lease over a pass shared by the deployment: one instance at a time runs it. */
export interface PassLease {
  /** The fence while this instance holds the lease (acquired or renewed now); null when another does. */
  acquire(): Promise<number | null>;
  /** Gives the lease up (on stop), so another instance takes over at once. */
  release(): Promise<void>;
}

/** Cross-instance wake-ups by name (a LISTEN/NOTIFY or Redis pub/sub channel behind it). */
export interface Signals {
  /** Wakes every listener of `name`, on this instance at once and on the others best effort. */
  notify(name: string): void;
  on(name: string, listener: () => void): Cancel;
}

/** Signals that reach only this process (embedded mode, tests). */
export function localSignals(): Signals {
  const listeners = new Map<string, Set<() => void>>();
  return {
    notify(name) {
      for (const l of [...(listeners.get(name) ?? [])]) l();
    },
    on(name, listener) {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
  };
}

export type PassObserver = (pass: string, outcome: 'more' | 'worked' | 'idle' | 'failed' | 'not_leased', seconds: number) => void;

export interface PassOptions {
  /** Dotted, stable: `events.relay`, `outbox.relay`; the span is `pass.<name>`. */
  name: string;
  runtime: Runtime;
  run(context: PassContext): Promise<PassOutcome>;
  /** The delay after a pass that found work. */
  intervalMs: number;
  /** The longest delay idle passes back off to (default: `intervalMs`, no backoff). */
  idleMaxMs?: number | undefined;
  /** Each delay is drawn from [1 − jitter, 1] × itself (default 0.2), so instances do not beat in step. */
  jitter?: number;
  /** Wake-ups: each call of the listener it is given runs a pass now. */
  wake?: (listener: () => void) => Cancel;
  lease?: PassLease;
  /** A wake-up within this long of the last pass's start waits for the rest of it (passes batch work under load). */
  minGapMs?: number;
  /** Run the first pass at once (default) or after `intervalMs`. */
  startNow?: boolean;
  tracer?: Tracer | undefined;
  observe?: PassObserver | undefined;
  onError(err: unknown): void;
}

export interface Pass {
  /** Runs a pass now; during a pass, one more right after it. */
  kick(): void;
  /** Ends an idle backoff: the next pass is due within `intervalMs`. */
  hurry(): void;
  /** Runs one pass now (waits for one running first) and returns what it found; failures reject. */
  runOnce(): Promise<PassOutcome>;
  /** The pass running now, if any. */
  current(): Promise<void> | null;
  /** No pass starts after this; waits for the one running. Releases the lease. */
  stop(): Promise<void>;
}

export function startPass(o: PassOptions): Pass {
  const { runtime } = o;
  const tracer = o.tracer ?? noopTracer;
  const idleMaxMs = Math.max(o.intervalMs, o.idleMaxMs ?? o.intervalMs);
  const jitter = o.jitter ?? 0.2;
  let delayMs = o.intervalMs;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let cancelTimer: Cancel = () => {};
  let dueAt = Infinity;
  let lastStart = -Infinity;
  const minGapMs = o.minGapMs ?? 0;

  function schedule(ms: number, jittered = true): void {
    cancelTimer();
    if (stopped) return;
    const wait = Math.round(jittered ? ms * (1 - jitter * runtime.random.float()) : ms);
    dueAt = runtime.clock.now() + wait;
    cancelTimer = runtime.timers.after(wait, tick);
  }

  /** One pass with its span and metric; resolves to the outcome, rejects with the pass's error. */
  async function pass(): Promise<PassOutcome> {
    const started = runtime.clock.now();
    const span = tracer.enabled ? tracer.start(`pass.${o.name}`, {}) : NO_SPAN;
    let outcome: PassOutcome | 'failed' | 'not_leased' = 'failed';
    try {
      const fence = o.lease ? await o.lease.acquire() : null;
      if (o.lease && fence === null) {
        outcome = 'not_leased';
        return 'idle';
      }
      outcome = await o.run({ span, fence });
      return outcome;
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      const named = typeof outcome === 'number' ? 'more' : outcome;
      if (tracer.enabled) span.set({ 'idem.pass.outcome': named });
      span.end();
      o.observe?.(o.name, named, (runtime.clock.now() - started) / 1000);
    }
  }

  function next(outcome: PassOutcome | null): void {
    if (typeof outcome === 'number') {
      delayMs = o.intervalMs;
      schedule(outcome, false);
    } else if (outcome === 'more') {
      delayMs = o.intervalMs;
      again = false;
      run();
    } else if (again) {
      delayMs = o.intervalMs;
      again = false;
      kick();
    } else if (outcome === 'worked') {
      delayMs = o.intervalMs;
      schedule(delayMs);
    } else {
      // Idle, failed, or another instance holds the lease: back off.
      schedule(delayMs);
      delayMs = Math.min(idleMaxMs, delayMs * 2);
    }
  }

  /** The timer: a pass when due, keeping the backoff. */
  function tick(): void {
    if (stopped || running) return;
    run();
  }

  /** A wake-up: work is likely, so the backoff starts over from `intervalMs`. */
  function kick(): void {
    if (stopped) return;
    delayMs = o.intervalMs;
    if (running) {
      again = true;
      return;
    }
    const gapLeft = lastStart + minGapMs - runtime.clock.now();
    if (gapLeft > 0) {
      if (dueAt > runtime.clock.now() + gapLeft) schedule(gapLeft, false);
      return;
    }
    run();
  }

  function run(): void {
    if (stopped) return;
    cancelTimer();
    lastStart = runtime.clock.now();
    dueAt = Infinity;
    let outcome: PassOutcome | null = null;
    running = pass()
      .then(
        (r) => void (outcome = r),
        (err) => o.onError(err),
      )
      .finally(() => {
        running = null;
        next(outcome);
      });
  }

  const unwake = o.wake?.(kick) ?? (() => {});
  if (o.startNow === false) schedule(o.intervalMs);
  else kick();

  return {
    kick,
    hurry() {
      delayMs = o.intervalMs;
      if (!running && dueAt > runtime.clock.now() + o.intervalMs) schedule(o.intervalMs);
    },
    async runOnce() {
      while (running) await running;
      let result!: Promise<PassOutcome>;
      running = (result = pass()).then(
        () => {},
        () => {},
      );
      try {
        return await result;
      } finally {
        running = null;
        if (again && !stopped) {
          again = false;
          kick();
        }
      }
    },
    current: () => running,
    async stop() {
      stopped = true;
      unwake();
      cancelTimer();
      await running;
      await o.lease?.release().catch(() => {});
    },
  };
}
