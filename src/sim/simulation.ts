import { createProcessor, type Processor } from '../gateways/simulator/processor.js';
import { LocalKeyEvents } from '../idempotency/events.js';
import type { JournalEntry } from '../ledger/ledger.js';
import { seededRandom } from '../ports/seeded.js';
import { MemoryStore } from '../store/memory/index.js';
import { Clients, type PaymentScript } from './clients.js';
import { SimFastPath, SimInstance, type SharedInfra, type SimConfig } from './instance.js';
import { checkInvariants, reportedState, type Violation } from './invariants.js';
import { isInFlight } from '../payments/states.js';
import { calmNetwork, networkedProcessor, type NetworkFaults } from './network.js';
import type { PlantedBug } from './planted.js';
import { keylessEntries, settlementListing } from './settlement.js';
import { SIM_EPOCH, World } from './world.js';

/** The shape of one schedule. Small by default, so thousands run in minutes. */
export interface ScheduleOptions {
  instances: number;
  merchants: number;
  /** Payments per run, drawn in [min, max]. */
  payments: [number, number];
  /** Faults (crashes, network, processor, fast path) happen in [0, faultWindowMs). */
  faultWindowMs: number;
  /** After the faults stop, every payment must be final within this. */
  recoveryBoundMs: number;
  /**
   * Once every payment is final, reconciliation has this long to void, adopt or raise as a
   * case everything no payment owns (I7).
   */
  reconciliationBoundMs: number;
  /**
   * Share of each processor's log entries read without their key (`keylessRecordRate`), as a
   * settlement file lists them: reconciliation settles those by their ids where it can, else by
   * score, and raises what it cannot call as a `match_review` case (docs/reconciliation.md).
   */
  keylessRecords: number;
  /** Chance that a run has operations planted straight at the gateways (a dashboard, a proxy, another integration). */
  plantAtGateways: number;
  /**
   * Let the network deliver a request to a gateway twice (the copy arrives before the answer is
   * back). Off by default: a copy may execute while the one Idem hears from was refused "not
   * processed", which is outside the gateway contract (docs/payments.md, "The pipeline"). Idem looks such keys
   * up before leaving them, which closes every case but one (docs/testing.md).
   */
  duplicateDelivery: boolean;
  /** Test only: a bug planted in the simulator's wrappers, to prove the checks find it. */
  plant?: PlantedBug | null;
}

export const defaultSchedule: ScheduleOptions = {
  instances: 2,
  merchants: 2,
  payments: [3, 6],
  faultWindowMs: 30_000,
  recoveryBoundMs: 180_000,
  reconciliationBoundMs: 20_000,
  keylessRecords: 0.05,
  plantAtGateways: 0.5,
  duplicateDelivery: true,
};

const config: SimConfig = {
  leaseMs: 3_000,
  holdTimeoutMs: 2_000,
  keyTtlMs: 3_600_000,
  relayIntervalMs: 500,
  gatewayTimeoutMs: 1_000,
  storeDelayMs: 3,
  reconcileIntervalMs: 5_000,
};

/** What one seed's run produced. */
export interface RunResult {
  seed: number;
  violations: Violation[];
  trace: string[];
  faults: Map<string, number>;
  events: number;
  requests: number;
  payments: number;
  /**
   * What reconciliation saw of the keyless records: staged without a key, settled on a scored
   * match, and `match_review` cases opened (none when the run stopped before its bound).
   */
  reconciled: { keyless: number; scored: number; review: number };
}

/**
 * Runs one schedule from its seed: instances over one store, clients, crashes and restarts,
 * network and processor faults, loss of the fast path; then stops the faults, runs to the
 * recovery bound and checks the invariants. The same seed always gives the same trace.
 */
export async function runSchedule(seed: number, o: ScheduleOptions = defaultSchedule): Promise<RunResult> {
  const world = new World(seed);
  const faults = new Map<string, number>();
  const count = (kind: string) => faults.set(kind, (faults.get(kind) ?? 0) + 1);
  let network: NetworkFaults = {
    dropRequest: world.random.float() * 0.1,
    dropAnswer: world.random.float() * 0.15,
    duplicate: world.random.float() * (o.duplicateDelivery ? 0.2 : 0),
    maxDelayMs: world.int(5, 400),
  };
  const processors: Processor[] = [];
  const duplicatedKeys = new Set<string>();
  const gateways = ['sim-a', 'sim-b'].map((name, i) => {
    const processor = createProcessor({ clock: world.clock, random: seededRandom(seed * 31 + i + 1), listingRandom: seededRandom(seed * 31 + i + 1_000_003) });
    processor.setFaults({
      declineRate: 0.1,
      errorBeforeProcessingRate: world.random.float() * 0.2,
      timeoutAfterProcessingRate: world.random.float() * 0.1,
      ambiguousErrorRate: world.random.float() * 0.05,
      keylessRecordRate: o.keylessRecords,
    });
    if (world.chance(0.3)) {
      const start = world.int(0, o.faultWindowMs - 1000);
      const end = Math.min(o.faultWindowMs, start + world.int(500, 8000));
      processor.setFaults({ outages: [{ start: iso(start), end: iso(end) }] });
      count('processor.outage_window');
    }
    processors.push(processor);
    return { name, processor: networkedProcessor(world, settlementListing(processor), name, () => network, count, (key) => duplicatedKeys.add(key)) };
  });

  const store = new MemoryStore({ detectReentry: false });
  const merchants = Array.from({ length: o.merchants }, (_, i) => `mer_${String.fromCharCode(97 + i)}`);
  for (const id of merchants) await store.transaction((tx) => tx.insertMerchant({ id, name: id, keyHash: `hash_${id}`, keyPrefix: 'sk_test' }));
  const infra: SharedInfra = { world, store, fast: new SimFastPath(world), events: new LocalKeyEvents(), gateways, config, plant: o.plant ?? null };

  const generations = Array.from({ length: o.instances }, () => 0);
  const slots = Array.from({ length: o.instances }, (_, i) => new SimInstance(`i${i}.0`, infra));
  const restart = (i: number) => {
    generations[i]! += 1;
    slots[i] = new SimInstance(`i${i}.${generations[i]}`, infra);
    world.log(slots[i]!.name, 'START');
  };
  let faultsOn = true;
  const scheduleCrash = () => {
    world.after(world.int(300, 6000), () => {
      if (!faultsOn) return;
      const live = slots.map((s, i) => [s, i] as const).filter(([s]) => s.alive);
      if (live.length > 0) {
        const [victim, i] = live[world.int(0, live.length - 1)]!;
        const restartLater = () => world.after(world.int(100, 3000), () => slots[i] === victim && restart(i));
        if (world.chance(0.5)) {
          victim.crash();
          count('crash');
          restartLater();
        } else {
          // At its k-th await point from now (a store or fast-path round trip, COMMIT included).
          victim.crashAtAwait(world.int(1, 40), () => {
            count('crash.at_await');
            restartLater();
          });
        }
      }
      scheduleCrash();
    });
  };
  scheduleCrash();
  const scheduleStall = () => {
    world.after(world.int(1000, 8000), () => {
      if (!faultsOn) return;
      const live = slots.filter((s) => s.alive);
      if (live.length > 0) {
        live[world.int(0, live.length - 1)]!.stall(world.int(500, 2 * config.leaseMs));
        count('stall');
      }
      scheduleStall();
    });
  };
  scheduleStall();
  const scheduleFastPathLoss = () => {
    world.after(world.int(1000, 10_000), () => {
      if (!faultsOn) return;
      infra.fast.available = false;
      count('fastpath.down');
      world.log('redis', 'fast path DOWN');
      world.after(world.int(200, 5000), () => {
        infra.fast.available = true;
        world.log('redis', 'fast path up');
        scheduleFastPathLoss();
      });
    });
  };
  scheduleFastPathLoss();

  const stateReads: Promise<void>[] = [];
  const clients = new Clients(world, () => slots.filter((s) => s.alive), {
    timeoutMs: 5_000,
    duplicateRate: 0.25,
    maxTries: 25,
    startWithinMs: Math.floor(o.faultWindowMs * 0.7),
    onAnswer: (a) => {
      // What the store had committed when this answer arrived (the read queues behind any open transaction).
      if (a.status === 202 || (a.status >= 300 && a.status !== 402)) return;
      const said = reportedState(a.body);
      if (said) stateReads.push(store.listEvents(said.id).then((events) => void (a.committedThen = events.map((e) => e.type))));
    },
  });
  const scripts = paymentScripts(world, merchants, world.int(o.payments[0], o.payments[1]));
  clients.start(scripts);
  if (world.chance(o.plantAtGateways)) {
    for (let n = world.int(1, 3); n > 0; n--) world.after(world.int(0, o.faultWindowMs - 1), () => plantAtGateway(world, processors, count));
  }

  const stopAt = SIM_EPOCH + o.faultWindowMs;
  await world.run(stopAt);
  // Faults stop: restart the dead, heal the network, the processors and the fast path.
  faultsOn = false;
  world.log('world', 'FAULTS STOP');
  network = calmNetwork;
  for (const p of processors) p.setFaults({ errorBeforeProcessingRate: 0, timeoutAfterProcessingRate: 0, ambiguousErrorRate: 0, outages: [], outage: false });
  infra.fast.available = true;
  for (const s of slots) s.cancelPlannedCrash();
  slots.forEach((s, i) => s.alive || restart(i));
  const bound = stopAt + o.recoveryBoundMs;
  const stuck: Violation[] = [];
  // The harness reads the store between runs of the world: first let every open transaction
  // end, or that read would wait for a transaction whose next step never gets to run.
  const settle = async () => {
    await world.run(world.now + 60_000, () => !store.busy);
    if (store.busy && stuck.length === 0) stuck.push({ invariant: 'I3', detail: 'a store transaction stayed open for 60 s of simulated time' });
    return !store.busy;
  };
  while (world.now < bound) {
    await world.run(Math.min(bound, world.now + 5_000));
    if (!(await settle())) break;
    if (clients.done && (await inFlight(store, merchants)) === 0) break;
  }
  // Reconciliation's bound: what the gateways did that no payment owns is voided, adopted or a case by then.
  if (stuck.length === 0) {
    world.log('world', 'RECONCILIATION BOUND');
    await world.run(world.now + o.reconciliationBoundMs);
  }
  world.log('world', 'END');
  for (const s of slots) s.alive = false; // no timer of theirs runs again
  const none = { keyless: 0, scored: 0, review: 0 };
  if (stuck.length > 0 || !(await settle())) return { seed, violations: stuck, trace: world.trace, faults, events: world.events, requests: clients.requests, payments: scripts.length, reconciled: none };
  const payments = new Map(await Promise.all(merchants.map(async (m) => [m, await store.listViews(m, 10_000, null)] as const)));
  await Promise.all(stateReads);
  const journals = new Map<string, JournalEntry[]>();
  for (const list of payments.values()) for (const p of list) journals.set(p.id, await store.listEntries(p.id));
  const rows = await store.reconciliationFacts({ references: [...journals.keys()], authorizationIds: [], gatewayKeys: [] });
  const staged = await store.listStagedRecords(null);
  const cases = await store.listCases({});
  const reconciled = {
    keyless: staged.filter((r) => r.gatewayKey === undefined).length,
    scored: staged.filter((r) => r.matchEvidence?.rule === 'scored').length,
    review: cases.filter((c) => c.class === 'match_review').length,
  };
  // Which entries the processors list without their key, read from their own listing (I7).
  const keyless = new Set(gateways.flatMap((g, i) => keylessEntries(g.name, processors[i]!)));
  const violations = checkInvariants({
    payments,
    gatewayLogs: new Map(gateways.map((g, i) => [g.name, processors[i]!.log()])),
    answers: clients.answers,
    journals,
    duplicatedKeys,
    reconciliation: {
      owned: new Set(rows.payments.filter((p) => p.authorization_id !== null).map((p) => `${p.gateway} ${p.authorization_id}`)),
      remediations: await store.listRemediations(null),
      cases,
    },
    keylessEntries: keyless,
  });
  return { seed, violations, trace: world.trace, faults, events: world.events, requests: clients.requests, payments: scripts.length, reconciled };
}

/**
 * An operation made at a gateway outside Idem, as a dashboard, a retrying proxy or another
 * integration would: a second authorization of a payment Idem authorized, an authorization no
 * payment owns, or a capture of a payment's authorization.
 */
function plantAtGateway(world: World, processors: Processor[], count: (kind: string) => void): void {
  const i = world.int(0, processors.length - 1);
  const processor = processors[i]!;
  const n = world.int(1, 1_000_000);
  const idems = processor.log().filter((e) => e.operation === 'authorize' && e.status === 'succeeded' && e.idempotency_key.startsWith('pay_'));
  const pick = idems.length === 0 ? undefined : idems[world.int(0, idems.length - 1)]!;
  const kind = world.int(1, 10);
  const request = (op: 'authorize' | 'capture', key: string, amount: number, reference: string, authorizationId: string | null) =>
    processor.handle({ operation: op, idempotencyKey: key, amount, currency: 'EUR', reference, token: op === 'authorize' ? 'tok_visa' : null, authorizationId });
  if (kind <= 4 && pick) {
    const a = request('authorize', `dashboard-dup-${n}`, pick.amount, pick.reference, null);
    count('gateway.planted_duplicate');
    world.log(`dashboard@${i}`, `duplicate authorization of ${pick.reference} → ${a.status}`);
  } else if (kind <= 8 || !pick) {
    const a = request('authorize', `dashboard-orphan-${n}`, world.int(1, 50) * 100, `order-orphan-${n}`, null);
    count('gateway.planted_orphan');
    world.log(`dashboard@${i}`, `orphan authorization → ${a.status}`);
  } else {
    const a = request('capture', `dashboard-capture-${n}`, pick.amount, pick.reference, pick.authorization_id);
    count('gateway.planted_capture');
    world.log(`dashboard@${i}`, `capture of ${pick.reference} outside Idem → ${a.status}`);
  }
}

async function inFlight(store: MemoryStore, merchants: string[]): Promise<number> {
  let n = 0;
  for (const m of merchants) for (const p of await store.listViews(m, 10_000, null)) if (isInFlight(p.status)) n++;
  return n;
}

function iso(offsetMs: number): string {
  return new Date(SIM_EPOCH + offsetMs).toISOString();
}

/** Random payments: manual ones get a capture (maybe partial) or a void, some a refund. */
function paymentScripts(world: World, merchants: string[], n: number): PaymentScript[] {
  const scripts: PaymentScript[] = [];
  for (let i = 0; i < n; i++) {
    const merchantId = merchants[world.int(0, merchants.length - 1)]!;
    const amount = world.int(1, 50) * 100;
    const manual = world.chance(0.6);
    const token = world.chance(0.1) ? 'tok_decline_insufficient_funds' : 'tok_visa';
    // Keys repeat across merchants on purpose: scope is (merchant, key).
    const key = `k${i}`;
    const followUps: PaymentScript['followUps'] = [];
    if (manual) {
      if (world.chance(0.3)) followUps.push({ op: 'void', key: `${key}-void` });
      else {
        const partial = world.chance(0.3);
        followUps.push(partial ? { op: 'capture', key: `${key}-cap`, amount: amount / 2 } : { op: 'capture', key: `${key}-cap` });
      }
    }
    if (followUps[0]?.op !== 'void' && world.chance(0.5)) followUps.push({ op: 'refunds', key: `${key}-ref`, amount: world.int(1, amount / 200) * 100 });
    scripts.push({
      merchantId,
      createKey: key,
      body: { amount, currency: 'EUR', capture_method: manual ? 'manual' : 'automatic', payment_method: { type: 'card', token }, reference: `order-${i}` },
      followUps,
    });
  }
  return scripts;
}
