import type { GatewayOperation } from '../gateways/port.js';

/**
 * Probes of a down gateway shared by the deployment (docs/resilience.md, "Shared by every
 * instance"). A probe is a real payment sent to a gateway the model calls `down`; alone, each
 * instance would probe on its own schedule, so N instances probe N times as often. Here the
 * right to probe is a lease in the shared store, one per gateway × operation per interval:
 * the instance that takes it sends the one probe of that interval, the others route away and
 * learn the probe's answer through the shared observation log.
 *
 * The interval doubles with each lease taken while the outage lasts (`minMs` → `maxMs`, the
 * model's own probe pacing) and starts over at `minMs` once nobody took a lease for `maxMs`
 * after the last one ended (the gateway came back, or nobody had traffic for it).
 *
 *   instance A  due ─► claim ─► granted (until t+g) ─► this payment probes
 *   instance B  due ─► claim ─► held until t+g ──────► routes away; next claim at t+g
 */
export interface ProbeSchedule {
  minMs: number;
  maxMs: number;
}

/** One answer of a lease store: whether the caller now holds the lease, and when it (or the holder's) ends. */
export interface ProbeClaim {
  granted: boolean;
  until: number;
  /** The lease's length (granted claims). */
  gapMs?: number;
}

/** Where probe leases live: Redis, PostgreSQL, or this process. */
export interface ProbeLeaseStore {
  readonly name: string;
  /**
   * Takes the probe lease of `gateway` × `operation` for `holder` when it is free at `now`
   * (Idem's clock), for the next interval of the schedule; otherwise says when it ends.
   */
  claim(gateway: string, operation: GatewayOperation, holder: string, now: number, schedule: ProbeSchedule): Promise<ProbeClaim>;
  /**
   * Writes down a lease taken in an earlier store (Redis), so that if that store goes away the
   * deployment goes on with the same lease and schedule here rather than start over.
   */
  note?(gateway: string, operation: GatewayOperation, holder: string, until: number, gapMs: number): Promise<void>;
}

/** The next lease of a schedule, given the last one's end and length (none: a first lease). */
export function nextProbeLease(last: { until: number; gapMs: number } | null, now: number, s: ProbeSchedule): { until: number; gapMs: number } {
  const fresh = last === null || now > last.until + s.maxMs;
  const gapMs = fresh ? s.minMs : Math.min(s.maxMs, last.gapMs * 2);
  return { until: now + gapMs, gapMs };
}

/** Leases held in this process: one instance's own schedule (embedded mode, or every shared store away). */
export class LocalProbeLeases implements ProbeLeaseStore {
  readonly name = 'local';
  private readonly leases = new Map<string, { until: number; gapMs: number }>();

  async claim(gateway: string, operation: GatewayOperation, _holder: string, now: number, schedule: ProbeSchedule): Promise<ProbeClaim> {
    const k = `${gateway}\u0000${operation}`;
    const last = this.leases.get(k) ?? null;
    if (last && now < last.until) return { granted: false, until: last.until };
    const next = nextProbeLease(last, now, schedule);
    this.leases.set(k, next);
    return { granted: true, until: next.until, gapMs: next.gapMs };
  }
}

export interface SharedProbesOptions {
  /** This instance's name, written as the holder. */
  instance: string;
  /** Tried in order: the first that answers holds the lease (Redis, then PostgreSQL); this process's own schedule when none does. */
  stores: readonly ProbeLeaseStore[];
  schedule: ProbeSchedule;
  log?: { warn(obj: object, msg: string): void };
}

/**
 * One instance's side of the shared probe leases: says when a probe of a down gateway is worth
 * asking for (its first at `minMs` after this instance learned it down, then when the last
 * known lease ends), and asks one store at a time, one claim in flight per gateway.
 */
export class SharedProbes {
  private readonly next = new Map<string, number>();
  private readonly claiming = new Set<string>();
  private readonly local = new LocalProbeLeases();
  /** The store that answered last; null while none does. */
  active: ProbeLeaseStore | null = null;

  constructor(private readonly o: SharedProbesOptions) {}

  /** Is a claim worth sending now for a gateway down since `since`? Pure of side effects. */
  due(gateway: string, operation: GatewayOperation, since: number, now: number): boolean {
    const k = key(gateway, operation);
    return !this.claiming.has(k) && now >= since + this.o.schedule.minMs && now >= (this.next.get(k) ?? 0);
  }

  /** Asks for the probe lease; true when this instance holds it and may send this interval's probe. */
  async claim(gateway: string, operation: GatewayOperation, now: number): Promise<boolean> {
    const k = key(gateway, operation);
    if (this.claiming.has(k)) return false;
    this.claiming.add(k);
    try {
      const answer = await this.ask(gateway, operation, now);
      this.next.set(k, answer.until);
      return answer.granted;
    } finally {
      this.claiming.delete(k);
    }
  }

  private async ask(gateway: string, operation: GatewayOperation, now: number): Promise<ProbeClaim> {
    for (const [i, store] of this.o.stores.entries()) {
      try {
        const answer = await store.claim(gateway, operation, this.o.instance, now, this.o.schedule);
        // Once an interval, by the winner only: the fallback store carries the schedule on.
        if (answer.granted && answer.gapMs !== undefined) {
          for (const later of this.o.stores.slice(i + 1)) void later.note?.(gateway, operation, this.o.instance, answer.until, answer.gapMs).catch(() => {});
        }
        if (this.active !== store) this.o.log?.warn({ store: store.name }, 'gateway probes leased through this store');
        this.active = store;
        return answer;
      } catch (err) {
        if (this.active === store) {
          this.o.log?.warn({ store: store.name, err: { message: (err as Error).message } }, 'probe lease store unreachable; trying the next');
          this.active = null;
        }
      }
    }
    // No shared store answers: probe on this instance's own schedule, as a single instance does.
    return this.local.claim(gateway, operation, this.o.instance, now, this.o.schedule);
  }
}

function key(gateway: string, operation: GatewayOperation): string {
  return `${gateway}\u0000${operation}`;
}
