/**
 * `idem/client` over real sockets against `idem serve`, through a proxy that resets a share of
 * connections before Idem sees the request and drops a share of answers after Idem answered
 * (test/support/faultProxy.ts): embedded (PGlite, one process) and PostgreSQL + Redis (two
 * instances behind the proxy, round-robin). 300 checkouts (create → capture → refund), every
 * key minted by the SDK. Then:
 *
 * - every call ended final: a 2xx, or the 4xx the plan asked for (a declined card, an
 *   over-refund) — never "no answer" or "still processing";
 * - the gateways' own logs (the simulators' transaction logs) hold exactly one authorization per
 *   intent, one capture per captured payment, one refund per refund asked, and pass the I1
 *   checks of src/ledger/gatewayLog.ts;
 * - every call's key, sent again, replays the exact status and bytes the client got (an
 *   over-refund, refused before its key is claimed, is refused again with the same bytes);
 * - the proxy saw each call's key exactly `attempts` times, and no key after a 4xx it delivered
 *   (other than 409 IDEM_IN_PROGRESS).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IdemClient } from '../../src/client/index.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { gatewayLogDifferences } from '../../src/ledger/gatewayLog.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { startIdemServer, stopIdemServers, type IdemServer } from '../support/idemServer.js';
import { countRetries, planIntents, replayCall, runCheckouts, type CallRecord, type Intent } from '../support/sdkCheckouts.js';
import { REDIS_URL, createTestDatabase, postgresAvailable, redisAvailable } from '../support/services.js';

const SEED = Number(process.env.IDEM_SDK_FAULT_SEED ?? 20_261_207);
const CHECKOUTS = 300;
const CONCURRENCY = 12;
const GATEWAYS = ['sim-a', 'sim-b'];
const FAULTS = { resetRate: 0.1, dropRate: 0.1 };

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function startSimulators(seed: number): Promise<SimulatorServer[]> {
  const sims = await Promise.all(GATEWAYS.map((_g, i) => startSimulatorServer({ seed: seed + i, faults: { latency: { minMs: 0, maxMs: 5 } } })));
  cleanups.push(() => Promise.all(sims.map((s) => s.close())).then(() => {}));
  return sims;
}

const codeOf = (body: string) => (JSON.parse(body) as { code?: string }).code;

const gatewaysEnv = (sims: SimulatorServer[]) => JSON.stringify(sims.map((s, i) => ({ name: GATEWAYS[i], kind: 'http', base_url: s.url, priority: i })));

/** Runs the checkouts through the proxy, checks everything, logs the figures. */
async function checkoutsUnderFaults(mode: string, servers: IdemServer[], apiKey: string, sims: SimulatorServer[], seed: number): Promise<void> {
  const proxy: FaultProxy = await startFaultProxy({ targets: servers.map((s) => s.url), seed, ...FAULTS });
  cleanups.push(() => proxy.close());
  const retries = countRetries();
  const client = new IdemClient({ baseUrl: proxy.url, apiKey, retry: { maxAttempts: 40, deadlineMs: 90_000, baseMs: 20, capMs: 500 }, timeoutMs: 20_000, hooks: retries });
  const intents: Intent[] = planIntents(seed, CHECKOUTS);
  const started = Date.now();
  const calls: CallRecord[] = await runCheckouts(client, intents, CONCURRENCY, seed);
  const trafficMs = Date.now() - started;

  const problems: string[] = [];
  // Every call ended final, as planned.
  for (const c of calls) if (c.outcome === 'failed') problems.push(`intent ${c.intent} ${c.op}: ${c.error}`);

  // The proxy's count: each key seen at least once and at most `attempts` times (an attempt on a
  // kept-alive socket the proxy had just reset fails before the proxy reads it), none after a
  // delivered 4xx.
  for (const c of calls) {
    const seen = proxy.byKey.get(c.meta.idempotencyKey ?? '')?.length ?? 0;
    if (seen < 1 || seen > c.meta.attempts) problems.push(`intent ${c.intent} ${c.op}: the proxy saw its key ${seen} times, the client says ${c.meta.attempts} attempts`);
  }
  if (proxy.byKey.size !== calls.length) problems.push(`${proxy.byKey.size} keys through the proxy for ${calls.length} calls`);
  problems.push(...proxy.retriedAfterFinal4xx().map((d) => `4xx retried: ${d}`));

  // The gateways' own logs: one authorization per intent, one capture, one refund as asked.
  const log = sims.flatMap((s) => s.processor.log());
  for (const intent of intents) {
    const mine = log.filter((e) => e.reference === intent.paymentId);
    const ops = (op: string) => mine.filter((e) => e.operation === op).length;
    const want = { authorize: 1, capture: intent.declined ? 0 : 1, refund: intent.declined || intent.overRefund ? 0 : 1 };
    const got = { authorize: ops('authorize'), capture: ops('capture'), refund: ops('refund') };
    if (intent.paymentId === null || JSON.stringify(got) !== JSON.stringify(want)) problems.push(`intent ${intent.index} (${intent.paymentId}): gateway log ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  const authorized = new Set(log.filter((e) => e.operation === 'authorize').map((e) => e.reference));
  if (authorized.size !== CHECKOUTS || log.filter((e) => e.operation === 'authorize').length !== CHECKOUTS) {
    problems.push(`the gateways authorized ${authorized.size} payments in ${log.filter((e) => e.operation === 'authorize').length} entries for ${CHECKOUTS} intents`);
  }
  problems.push(...gatewayLogDifferences(log, intents.filter((i) => i.paymentId).map((i) => ({ id: i.paymentId!, amount: i.amount }))).map((d) => `I1: ${d.detail}`));

  // Replays, straight to Idem: the same status and bytes the client got.
  const direct = new IdemClient({ baseUrl: servers[0]!.url, apiKey, retry: { maxAttempts: 5 } });
  const queue = [...calls];
  let replayed = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const again = await replayCall(direct, c);
        replayed++;
        // An over-refund is refused before the key is claimed (the key stays free, docs/payments.md):
        // sent again it is refused again with the same code, as a new answer (its own Request-Id).
        const same =
          c.op === 'refund' && c.outcome === 'refused'
            ? !again.replayed && again.status === c.meta.status && codeOf(again.rawBody) === codeOf(c.meta.rawBody)
            : again.replayed && again.status === c.meta.status && again.rawBody === c.meta.rawBody;
        if (!same) {
          problems.push(`intent ${c.intent} ${c.op}: replay ${again.status} replayed=${again.replayed} differs from the final ${c.meta.status}`);
        }
      }
    }),
  );

  const retried = calls.filter((c) => c.meta.attempts > 1).length;
  const clientReplays = calls.filter((c) => c.meta.replayed).length;
  const refused = calls.filter((c) => c.outcome === 'refused');
  console.log(
    `[client-faults ${mode}] seed=${seed} checkouts=${CHECKOUTS} calls=${calls.length} (refused as planned: ${refused.length}) | proxy: requests=${proxy.counts.requests} ` +
      `reset=${proxy.counts.reset} dropped_after_answer=${proxy.counts.dropped} relayed=${proxy.counts.relayed} | client: calls_retried=${retried} ` +
      `retries=${JSON.stringify(retries.counts)} final_answers_replayed=${clientReplays} max_attempts=${Math.max(...calls.map((c) => c.meta.attempts))} | ` +
      `gateway_ops=${log.length} replays_checked=${replayed} traffic=${trafficMs}ms`,
  );
  expect(problems.slice(0, 20), `${problems.length} problems`).toEqual([]);
  // The run exercised what it claims to.
  expect(calls).toHaveLength(intents.reduce((n, i) => n + (i.declined ? 1 : 3), 0));
  expect(proxy.counts.reset).toBeGreaterThan(0);
  expect(proxy.counts.dropped).toBeGreaterThan(0);
  expect(retries.counts.connection).toBeGreaterThanOrEqual(proxy.counts.reset + proxy.counts.dropped);
  expect(clientReplays).toBeGreaterThan(0);
  expect(refused.some((c) => c.op === 'create') && refused.some((c) => c.op === 'refund')).toBe(true);
}

describe('idem/client under faults: embedded (PGlite), one instance', () => {
  it(`${CHECKOUTS} checkouts through resets and dropped answers: every call final, one payment per intent in the gateway log, replays identical, no 4xx retried`, async () => {
    const sims = await startSimulators(SEED);
    const dir = mkdtempSync(join(tmpdir(), 'idem-sdk-faults-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const server = await startIdemServer({ env: { IDEM_GATEWAYS: gatewaysEnv(sims) }, args: ['--data-dir', dir], startTimeoutMs: 300_000 });
    cleanups.push(() => stopIdemServers([server]));
    const m = /API key, shown once: (sk_\S+)/.exec(server.output());
    if (!m) throw new Error(`embedded serve printed no API key:\n${server.output()}`);
    await checkoutsUnderFaults('embedded', [server], m[1]!, sims, SEED);
  }, 600_000);
});

const pgReady = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!pgReady)('idem/client under faults: PostgreSQL + Redis, two instances', () => {
  it(`${CHECKOUTS} checkouts through resets and dropped answers, round-robin over two instances: every call final, one payment per intent, replays identical, no 4xx retried`, async () => {
    const database = await createTestDatabase('idem_sdk_faults');
    cleanups.push(() => database.drop());
    const sims = await startSimulators(SEED + 100);
    const env = { DATABASE_URL: database.url, REDIS_URL, IDEM_GATEWAYS: gatewaysEnv(sims) };
    const servers: IdemServer[] = [];
    cleanups.push(() => stopIdemServers(servers));
    // One first, so the other does not race it through the migrations.
    for (let i = 0; i < 2; i++) servers.push(await startIdemServer({ env, startTimeoutMs: 300_000 }));
    const db = openPostgres(database.url, { max: 2 });
    cleanups.push(() => db.close());
    const merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'sdk-faults');
    await checkoutsUnderFaults('postgres+redis, 2 instances', servers, merchant.apiKey, sims, SEED + 100);
  }, 600_000);
});
