import type { Runtime } from '../ports/clock.js';
import { startPass, type Pass, type PassObserver, type Signals } from '../ports/passes.js';
import type { GatewayObservation, GatewayStateChange, HealthBook } from './book.js';

/**
 * The log every instance appends its gateway answers to and reads the others' from
 * (docs/resilience.md). Redis Streams when Redis is up, a PostgreSQL table otherwise. It is
 * a learning signal, not a record of money: an entry lost or read twice moves a success rate
 * by one answer, never a payment.
 */
export interface ObservationLog {
  readonly name: string;
  append(instance: string, batch: readonly GatewayObservation[]): Promise<void>;
  /** Entries after `cursor` (null: those of the last `warmMs`), oldest first. */
  read(cursor: string | null, limit: number, warmMs: number): Promise<{ entries: Array<{ instance: string; observation: GatewayObservation }>; cursor: string | null }>;
}

export interface SharedHealthOptions {
  book: HealthBook;
  runtime: Runtime;
  /** This instance's name: its own entries are not learned twice. */
  instance: string;
  /** Tried in order: the first that answers is used (Redis, then PostgreSQL). */
  logs: readonly ObservationLog[];
  /** How often to push this instance's answers and pull the others' while there are some. */
  intervalMs?: number;
  /** How long an idle instance backs off to between pulls (default: `intervalMs`). */
  idleMaxMs?: number;
  /**
   * Wake-ups across instances: a change of state learned from this instance's own answers is
   * announced (`health`) once pushed, and every instance pulls at once.
   */
  signals?: Signals;
  observePass?: PassObserver;
  /** On start, learn from the last this many ms of everyone's traffic. */
  warmMs?: number;
  onChange?: (change: GatewayStateChange) => void;
  log?: { warn(obj: object, msg: string): void };
}

/**
 * Keeps one instance's {@link HealthBook} learning from every instance's traffic. Its own
 * answers are learned at once (a gateway going down is acted on without waiting for a round
 * trip) and appended to the shared log in batches; the other instances' are read back on the
 * same beat. When no log answers, the instance keeps learning from its own traffic alone:
 * slower to learn, never wrong about money.
 *
 *   instance A  observe ─► book(A) ─► batch ─► log ─┐
 *   instance B  observe ─► book(B) ─► batch ─► log ─┼─► pull (skip own) ─► book(A), book(B)
 */
export class SharedHealth {
  private pending: GatewayObservation[] = [];
  private readonly cursors = new Map<ObservationLog, string | null>();
  private pass: Pass | null = null;
  /** A change of state learned from this instance's answers, not yet announced. */
  private announce = false;
  private readonly intervalMs: number;
  private readonly warmMs: number;
  /** The log that answered last; null while none does. */
  active: ObservationLog | null = null;

  constructor(private readonly o: SharedHealthOptions) {
    this.intervalMs = o.intervalMs ?? 200;
    this.warmMs = o.warmMs ?? 120_000;
  }

  /** Learns one of this instance's answers and queues it for the others. */
  record(ob: GatewayObservation): void {
    const wasDown = this.o.book.state(ob.gateway, ob.operation) === 'down';
    const changed = this.learn(ob);
    // A change of state, or a failure that may be the start of an outage, is pushed at once
    // and announced, so every instance counts it within a round trip: the instances learn an
    // outage from their failures together, not each from five of its own: what learning an
    // outage costs is a bounded count of calls (docs/resilience.md, "Shared by every instance").
    if (this.o.signals && (changed || (!wasDown && ob.outcome !== 'success' && ob.outcome !== 'decline'))) {
      this.announce = true;
      this.pass?.kick();
    }
    if (this.o.logs.length > 0) this.pending.push(ob);
    if (this.pending.length > 10_000) this.pending.splice(0, this.pending.length - 10_000);
    // Traffic again after a quiet spell: back on the short beat.
    this.pass?.hurry();
  }

  start(): void {
    const signals = this.o.signals;
    this.pass = startPass({
      name: 'resilience.shared_health',
      runtime: this.o.runtime,
      intervalMs: this.intervalMs,
      idleMaxMs: this.o.idleMaxMs,
      ...(signals ? { wake: (kick: () => void) => signals.on('health', kick) } : {}),
      observe: this.o.observePass,
      run: async () => {
        const announce = this.announce;
        this.announce = false;
        const moved = await this.sync();
        if (announce && this.active) signals?.notify('health');
        return moved > 0 ? 'worked' : 'idle';
      },
      onError: () => {},
    });
  }

  async stop(): Promise<void> {
    await this.pass?.stop();
    await this.sync();
  }

  /** One push and pull: this instance's answers out, everyone else's in. Returns how many entries moved either way. */
  async sync(): Promise<number> {
    for (const log of this.o.logs) {
      try {
        const batch = this.pending;
        let moved = batch.length;
        if (batch.length > 0) {
          this.pending = [];
          try {
            await log.append(this.o.instance, batch);
          } catch (err) {
            this.pending = batch.concat(this.pending);
            throw err;
          }
        }
        for (let pages = 0; pages < 20; pages++) {
          const { entries, cursor } = await log.read(this.cursors.get(log) ?? null, 500, this.warmMs);
          this.cursors.set(log, cursor);
          moved += entries.length;
          for (const e of entries) if (e.instance !== this.o.instance) this.learn(e.observation);
          if (entries.length < 500) break;
        }
        if (this.active !== log) this.o.log?.warn({ log: log.name }, 'gateway health shared through this log');
        this.active = log;
        return moved;
      } catch (err) {
        if (this.active === log) this.o.log?.warn({ log: log.name, err: { message: (err as Error).message } }, 'gateway health log unreachable; trying the next');
        if (this.active === log) this.active = null;
      }
    }
    return 0;
  }

  /** True when the answer changed a gateway's state. */
  private learn(ob: GatewayObservation): boolean {
    const change = this.o.book.observe(ob);
    if (change) this.o.onChange?.(change);
    return change !== null && change !== undefined;
  }
}

/** An in-process log, for tests and the simulator (one world, several instances). */
export class MemoryObservationLog implements ObservationLog {
  readonly name = 'memory';
  private readonly entries: Array<{ instance: string; observation: GatewayObservation }> = [];
  down = false;

  async append(instance: string, batch: readonly GatewayObservation[]): Promise<void> {
    if (this.down) throw new Error('observation log down');
    for (const observation of batch) this.entries.push({ instance, observation });
  }

  async read(cursor: string | null, limit: number): Promise<{ entries: Array<{ instance: string; observation: GatewayObservation }>; cursor: string | null }> {
    if (this.down) throw new Error('observation log down');
    const from = cursor === null ? 0 : Number(cursor);
    const entries = this.entries.slice(from, from + limit);
    return { entries, cursor: String(from + entries.length) };
  }
}
