/**
 * Hostile-input fuzzing of the real HTTP server: one `idem serve` child process (embedded
 * PGlite in a temporary folder, request logs on), attacked over real sockets with malformed,
 * oversized, mis-encoded and card-number-bearing requests, valid ones mixed in.
 *
 * Properties: no 5xx; every 4xx is `application/problem+json` with a registered code whose
 * status matches the registry; each request gets what its kind promises (a valid request still
 * succeeds, a card number is refused); the process survives (same pid answers /healthz); and
 * afterwards no card number is in the database or in anything the process wrote (I6).
 *
 * Replay a run: FUZZ_SEED=<printed seed>. More or fewer random requests: FUZZ_RUNS=<n> (default
 * 400, plus a concurrent burst of a quarter as many, plus the ~480-case catalogue).
 * FUZZ_KEEP_GOING=1 reports every failing request instead of stopping (and shrinking) at the first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../src/db/pglite.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { cardNumberIn, cardNumbersInOutput, luhnRuns } from './cardNumbers.js';
import { catalogue, hostileRequest, type Hostile, type Run } from './hostileRequests.js';
import { describeSent, judge } from './verdict.js';
import { openStalledConnection, sendBytes, sendRequest, type Origin, type WireAnswer, type WireRequest } from './wire.js';

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const runs = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : 400;
const burstSize = Math.ceil(runs / 4);
const keepGoing = process.env.FUZZ_KEEP_GOING === '1';
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(runs)) throw new Error('FUZZ_SEED and FUZZ_RUNS must be integers');

let server: IdemServer;
let dataDir: string;
let origin: Origin;
let apiKey: string;
let exited = false;
let sentCount = 0;
let fresh = 0;
/** Ids of payments created so far; hostile requests aim at them. */
const payments: string[] = [];
/** Successful valid creates, to replay. */
const creates: Array<{ sent: WireRequest; answer: WireAnswer }> = [];

const run: Run = {
  get apiKey() {
    return apiKey;
  },
  fresh: () => ++fresh,
  payment: (n) => payments[n % payments.length]!,
};

beforeAll(async () => {
  console.log(`HTTP fuzz: FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`);
  dataDir = mkdtempSync(join(tmpdir(), 'idem-fuzz-'));
  // The per-address limit on failed authentication is off: the fuzzer sends hundreds of bad
  // Authorization headers on purpose, and judges each answer on its own (security.test.ts tests the limit).
  server = await startIdemServer({ env: { LOG_LEVEL: 'info', IDEM_AUTH_FAILURES_PER_MINUTE: '0' }, args: ['--data-dir', dataDir], startTimeoutMs: 120_000 });
  void server.exited.then(() => (exited = true));
  const m = /API key, shown once: (sk_\S+)/.exec(server.output());
  if (!m) throw new Error(`idem serve printed no API key:\n${server.output()}`);
  apiKey = m[1]!;
  const url = new URL(server.url);
  origin = { host: url.hostname, port: Number(url.port) };
  // A few payments in each state that hostile captures, voids and refunds can aim at.
  for (const capture of ['manual', 'automatic', 'manual']) {
    const answer = await createPayment({ amount: 5000, currency: 'EUR', capture_method: capture, payment_method: { type: 'card', token: 'tok_seed' } });
    expect(answer.status, answer.body.toString()).toBe(201);
  }
});

afterAll(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function createPayment(body: Record<string, unknown>): Promise<WireAnswer> {
  const sent: WireRequest = {
    method: 'POST',
    target: '/v1/payments',
    headers: [['authorization', `Bearer ${apiKey}`], ['idempotency-key', `setup-${++fresh}`], ['content-type', 'application/json']],
    body: Buffer.from(JSON.stringify(body)),
  };
  const result = await sendRequest(origin, sent);
  const answer = result.answers[0];
  if (!answer) throw new Error(`no answer to a valid create: ${result.error}`);
  if (answer.status === 201) {
    payments.push((JSON.parse(answer.body.toString()) as { id: string }).id);
    creates.push({ sent, answer });
  }
  return answer;
}

/** Sends one hostile request and returns a failure report, or null if the answer is acceptable. */
async function exchange(h: Hostile): Promise<string | null> {
  if (h.replayOf !== undefined) return replay(h.replayOf);
  const sent = h.build(run);
  sentCount++;
  const result = 'method' in sent ? await sendRequest(origin, sent) : await sendBytes(origin, sent.bytes, { end: sent.end, head: sent.head === true, timeoutMs: 5_000 });
  const violations = judge(h, sent, result);
  const answer = result.answers[0];
  if (h.validCreate && 'method' in sent && answer?.status === 201) violations.push(...acceptCreate(h.validCreate, sent, answer));
  if (exited) violations.push(`the server process exited:\n${server.output().slice(-3000)}`);
  return violations.length === 0 ? null : `${h.kind}\n  sent: ${describeSent(sent)}\n${violations.map((v) => `  - ${v}`).join('\n')}`;
}

function acceptCreate(expected: NonNullable<Hostile['validCreate']>, sent: WireRequest, answer: WireAnswer): string[] {
  const out: string[] = [];
  const p = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
  if (p.status !== 'authorized' && p.status !== 'captured') out.push(`a valid create ended ${String(p.status)}`);
  if (p.amount !== expected.amount || p.currency !== expected.currency) out.push(`amount or currency changed: ${p.amount} ${String(p.currency)}`);
  if ((p.reference ?? undefined) !== expected.reference) out.push(`reference changed: sent ${JSON.stringify(expected.reference)}, got ${JSON.stringify(p.reference)}`);
  if (canonical(p.metadata) !== canonical(expected.metadata ?? {})) out.push(`metadata changed: sent ${JSON.stringify(expected.metadata)}, got ${JSON.stringify(p.metadata)}`);
  if (answer.headers['idempotent-replayed'] !== 'false') out.push(`first answer has Idempotent-Replayed ${answer.headers['idempotent-replayed']}`);
  if (out.length === 0) {
    payments.push(p.id as string);
    creates.push({ sent, answer });
  }
  return out;
}

/**
 * SHA-256 digests Idem stores (request fingerprints, API-key hashes): 64 hex characters of which
 * a run of 13–19 digits passes Luhn for about one row in a hundred. A digest is not card data,
 * and no client chooses its text; a value in these columns that is not a digest is scanned.
 */
const DIGEST_COLUMNS = new Set(['idempotency_keys.fingerprint', 'api_keys.key_hash']);

/** Card numbers in one database row: every column, and inside JSON columns every key, string and integer. */
function cardNumbersInRow(table: string, row: Record<string, unknown>): string[] {
  const found: string[] = [];
  for (const [column, value] of Object.entries(row)) {
    if (DIGEST_COLUMNS.has(`${table}.${column}`) && typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) continue;
    const pending: unknown[] = [value];
    while (pending.length > 0) {
      const v = pending.pop();
      const why = typeof v === 'string' ? cardNumberIn(v) : typeof v === 'number' && Number.isInteger(v) ? cardNumberIn(String(v)) : null;
      if (why) found.push(`${table}.${column}: ${why}: ${JSON.stringify(row).slice(0, 300)}`);
      if (v !== null && typeof v === 'object') {
        for (const [k, inner] of Object.entries(v)) {
          if (!Array.isArray(v) && cardNumberIn(k)) found.push(`${table}.${column} key: ${cardNumberIn(k)}: ${JSON.stringify(row).slice(0, 300)}`);
          pending.push(inner);
        }
      }
    }
  }
  return found;
}

/** JSON with keys sorted (PostgreSQL's jsonb does not keep key order). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The same request again: the same status and bytes, marked as a replay (docs/idempotency.md). */
async function replay(n: number): Promise<string | null> {
  const first = creates[n % creates.length];
  if (!first) return null;
  sentCount++;
  const result = await sendRequest(origin, first.sent);
  const again = result.answers[0];
  const problems: string[] = [];
  if (!again) problems.push(`no answer (${result.error})`);
  else {
    if (again.status !== first.answer.status) problems.push(`status ${again.status}, first was ${first.answer.status}`);
    if (!again.body.equals(first.answer.body)) problems.push(`body differs from the first answer: ${again.body.toString().slice(0, 200)}`);
    if (again.headers['idempotent-replayed'] !== 'true') problems.push(`Idempotent-Replayed is ${again.headers['idempotent-replayed']}`);
  }
  return problems.length === 0 ? null : `replay of a valid create\n  sent: ${describeSent(first.sent)}\n${problems.map((v) => `  - ${v}`).join('\n')}`;
}

describe(`hostile HTTP input (FUZZ_SEED=${seed})`, () => {
  it('the card-number detectors find what they must (so the I6 scans below can fail)', () => {
    expect(cardNumberIn('ref 4111111111111111')).not.toBeNull();
    expect(cardNumberIn('5500-0000-0000-0004')).not.toBeNull();
    expect(luhnRuns('order 12 4111111111111111')).toEqual(['4111111111111111']);
    expect(cardNumberIn('pay_7zswef9qh8se9vr3g3bq917w 2026-11-24T02:17:53.644Z 99999999999')).toBeNull();
    expect(cardNumbersInOutput('{"time":1795486335318,"req":{"url":"/v1/payments/%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31"}}')).toHaveLength(1);
    expect(cardNumbersInOutput('{"time":4111111111111111,"msg":"request completed","responseTime":1.4111111111111111}\nplain text')).toEqual([]);
  });

  it('answers every catalogued edge case as it must', async () => {
    const failures: string[] = [];
    for (const h of catalogue(apiKey)) {
      const failure = await exchange(h);
      if (failure) failures.push(failure);
    }
    expect(failures, `${failures.length} catalogued cases failed (FUZZ_SEED=${seed}):\n${failures.join('\n')}`).toEqual([]);
  });

  it('answers random hostile requests, valid ones mixed in, with no 5xx and only registered problems', async () => {
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(hostileRequest(apiKey), async (h) => {
        const failure = await exchange(h);
        if (failure === null) return;
        if (!keepGoing) throw new Error(failure);
        failures.push(failure);
      }),
      { seed, numRuns: runs, endOnFailure: keepGoing },
    );
    expect(failures, `${failures.length} random requests failed (FUZZ_SEED=${seed}):\n${failures.join('\n')}`).toEqual([]);
  });

  it('answers a concurrent burst of the same mix (16 connections at once) just as well', async () => {
    const burst = fc.sample(hostileRequest(apiKey), { seed: seed + 1, numRuns: burstSize });
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < burst.length) {
          const failure = await exchange(burst[next++]!);
          if (failure) failures.push(failure);
        }
      }),
    );
    expect(failures, `${failures.length} requests of the burst failed (FUZZ_SEED=${seed}):\n${failures.join('\n')}`).toEqual([]);
  });

  it('still serves a whole valid payment lifecycle afterwards', async () => {
    const created = await createPayment({ amount: 10_000, currency: 'USD', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_after' }, reference: 'after the storm' });
    expect(created.status, created.body.toString()).toBe(201);
    const id = (JSON.parse(created.body.toString()) as { id: string }).id;
    const step = async (op: string, body: object) => {
      const r = await sendRequest(origin, {
        method: 'POST',
        target: `/v1/payments/${id}/${op}`,
        headers: [['authorization', `Bearer ${apiKey}`], ['idempotency-key', `after-${op}-${++fresh}`], ['content-type', 'application/json']],
        body: Buffer.from(JSON.stringify(body)),
      });
      return r.answers[0];
    };
    expect((await step('capture', { amount: 6_000 }))?.status).toBe(200);
    expect((await step('refunds', { amount: 2_500 }))?.status).toBe(200);
    const view = await sendRequest(origin, { method: 'GET', target: `/v1/payments/${id}`, headers: [['authorization', `Bearer ${apiKey}`]] });
    const p = JSON.parse(view.answers[0]!.body.toString()) as Record<string, unknown>;
    expect({ status: p.status, captured: p.amount_captured, refunded: p.amount_refunded }).toEqual({ status: 'partially_refunded', captured: 6_000, refunded: 2_500 });
  });

  it('survived: the same process still answers /healthz and wrote every log line', async () => {
    expect(exited, server.output().slice(-3000)).toBe(false);
    expect(() => process.kill(server.pid, 0)).not.toThrow();
    const health = await sendRequest(origin, { method: 'GET', target: '/healthz', headers: [] });
    expect(health.answers[0]?.status).toBe(200);
    const pids = new Set(
      server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { pid?: number }).pid),
    );
    expect([...pids]).toEqual([server.pid]);
    console.log(`HTTP fuzz: ${sentCount} requests sent, ${payments.length} payments created`);
  });

  it('I6: no card number in the database or in anything the process wrote (each column of each table, each output line)', async () => {
    // Hostile to the shutdown too: clients that connect and stall (nothing sent, half the
    // headers, half a body) must not hold SIGTERM's graceful stop open until a SIGKILL.
    const stalled = await Promise.all(
      ['', 'GET /v1/payments HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'].map(
        (bytes) => openStalledConnection(origin, bytes),
      ),
    );
    const stopping = Date.now();
    await server.stop(30_000);
    const took = Date.now() - stopping;
    for (const s of stalled) s.destroy();
    // A graceful stop (exit 0) within serve's 10 s grace for in-flight requests, not a SIGKILL.
    expect({ ...(await server.exited), withinGrace: took < 15_000 }, `stopped in ${took} ms\n${server.output().slice(-2000)}`).toEqual({ code: 0, signal: null, withinGrace: true });

    const output = server.output();
    expect(output).toContain('"msg":"request completed"'); // request logging was on: the scan below means something
    const inOutput = cardNumbersInOutput(output);

    const db = await openPglite(dataDir);
    const inDatabase: string[] = [];
    let rowsScanned = 0;
    try {
      const { rows: tables } = await db.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
      );
      expect(tables.map((t) => t.name)).toContain('payments');
      for (const { name } of tables) {
        const { rows } = await db.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(t) AS row FROM "${name.replaceAll('"', '""')}" t`);
        rowsScanned += rows.length;
        for (const { row } of rows) inDatabase.push(...cardNumbersInRow(name, row));
      }
      const { rows: counted } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM payments');
      expect(counted[0]!.n).toBeGreaterThanOrEqual(payments.length);
    } finally {
      await db.close();
    }
    console.log(`HTTP fuzz: scanned ${rowsScanned} database rows and ${output.split('\n').length} output lines for card numbers`);
    expect(
      { inOutput: inOutput.length, inDatabase: inDatabase.length },
      `card numbers (FUZZ_SEED=${seed}) in the process output:\n${inOutput.slice(0, 20).join('\n')}\nin the database:\n${inDatabase.slice(0, 20).join('\n')}`,
    ).toEqual({ inOutput: 0, inDatabase: 0 });
  });
});
