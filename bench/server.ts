/**
 * The server under test, in a process of its own so the load generator never shares its event
 * loop. Forked by `bench/idempotency.ts` with one mode:
 *
 * - `idem` (`--in-process`; by default the bench runs the `idem serve` binary instead): Idem as
 *   `idem serve` composes it (PostgreSQL + Redis, in-process simulated gateway with zero
 *   latency, its logger into a file or off), plus one merchant to send requests as.
 * - `redis-get`: the replay baseline: a bare fastify route doing one Redis GET and sending the
 *   value.
 * - `powertools`: the peer: AWS Powertools idempotency (`@aws-lambda-powertools/idempotency`
 *   with its Redis persistence layer and the `@redis/client` it documents) guarding a fastify
 *   route on the Idempotency-Key header, with the JSON body as the validated payload (another
 *   body under the same key is refused 422, as Idem refuses it).
 * - `pg-insert`: the first-request baseline: a bare fastify route doing one PostgreSQL INSERT
 *   (autocommit, so one commit) through a pg Pool as large as Idem's.
 * - `same-writes`: the data model's floor (docs/performance.md, "What is measured"): a bare fastify route writing exactly the
 *   rows a first request writes in Idem's schema — the key, the payment, its authorization
 *   attempt and outbox row, two events; then the attempt's result, the outbox row closed, the
 *   journal entry and its postings, the payment authorized, two events, the key completed with
 *   the response — in the fewest statements a payment allows: one before the gateway call
 *   (which must find the attempt committed) and one after, built from Idem's own statement
 *   fragments (src/store/sql/). No gate, no Redis, no validation, no gateway.
 *
 * Protocol (IPC): child → `{ type: 'ready', url, ... }`; parent → `{ type: 'snapshot' }` →
 * child → `{ type: 'snapshot', cpu, counts }`; parent → `{ type: 'stop' }` → child closes and
 * exits 0 (which is when `--cpu-prof` writes its profile).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { serveLoggerOptions } from '../src/cli/serveLogger.js';
import { IdempotencyConfig, IdempotencyValidationError, makeIdempotent, PERSISTENCE_ATTRIBUTE_KEY_MAPPINGS as ATTR } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { createClient } from '@redis/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import type { Database, Queryable } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { openPostgres } from '../src/db/postgres.js';
import { createIdem } from '../src/idem.js';
import { createMerchant } from '../src/merchants/merchants.js';
import { cryptoRandom } from '../src/ports/clock.js';
import { newId } from '../src/ports/ids.js';
import { newAttempt } from '../src/payments/round.js';
import { changedPayment, newAttemptRow, newPaymentRow, recordedAttempt, toView, type NewPayment, type PaymentRow } from '../src/payments/rows.js';
import { paymentEvent, paymentSnapshot } from '../src/payments/timeline.js';
import { SqlStore } from '../src/store/sql/index.js';
import { insertEventsWrite } from '../src/store/sql/events.js';
import { completeKeyWrite } from '../src/store/sql/keys.js';
import { postEntryWrite } from '../src/store/sql/ledger.js';
import { insertAttemptWrite, recordAttemptWrite, updatePaymentWrite } from '../src/store/sql/payments.js';
import { Statement } from '../src/store/sql/statement.js';
import { BASELINE_TABLE, idemEnv, POOL_MAX, type ParentMessage, type QueryCounts, type ServerEnv, type ServerMessage } from './protocol.js';

function send(message: ServerMessage): void {
  process.send!(message);
}

/** Wraps the pool Idem would open itself, counting what goes over the wire. */
function counting(db: Database, counts: QueryCounts): Database {
  const count = (sql: string, inTx: boolean) => {
    if (inTx) counts.inTransaction++;
    else counts.autocommit++;
    const label = (inTx ? 'tx:   ' : 'auto: ') + sql.replace(/\s+/g, ' ').trim().slice(0, 72);
    counts.byText[label] = (counts.byText[label] ?? 0) + 1;
  };
  const tracked = (q: Queryable, inTx: boolean): Queryable => ({
    query<T>(sql: string, params?: readonly unknown[]) {
      count(sql, inTx);
      return q.query<T>(sql, params);
    },
    exec(sql: string) {
      count(sql, inTx);
      return q.exec(sql);
    },
  });
  return {
    kind: db.kind,
    ...tracked(db, false),
    transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      counts.transactions++;
      return db.transaction((tx) => fn(tracked(tx, true)));
    },
    close: () => db.close(),
  };
}

function emptyCounts(): QueryCounts {
  return { autocommit: 0, inTransaction: 0, transactions: 0, byText: {}, redis: {} };
}

/** Counts every command written on this connection (pipelined ones included). */
function countRedis(redis: Redis, counts: QueryCounts): void {
  const write = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    counts.redis[command.name] = (counts.redis[command.name] ?? 0) + 1;
    return write(command, stream);
  };
}

async function startIdem(env: ServerEnv): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const config = loadConfig(idemEnv(env), { host: '127.0.0.1', port: 0 });
  let counts: QueryCounts | null = null;
  let db: Database | undefined;
  if (env.BENCH_COUNT_QUERIES === '1') {
    counts = emptyCounts();
    db = counting(openPostgres(env.BENCH_DATABASE_URL, { max: config.pgPoolMax }), counts);
  }
  // As `idem serve` runs it: its logger at its default level, a line per request, written
  // where a service's output goes (a file here, removed when the server stops); `--logger-off`
  // measures without it.
  const logFile = env.BENCH_IDEM_LOG_FILE;
  const logging = logFile ? { logger: serveLoggerOptions(config, false), logDestination: pino.destination({ dest: logFile, sync: false }) } : { logger: false as const };
  const idem = await createIdem(config, { ...logging, ...(db ? { db } : {}) });
  const url = await idem.listen();
  const merchant = await createMerchant(idem.store, cryptoRandom, 'bench');
  if (counts) {
    // On one server: a cluster's commands go over one connection per node.
    if (idem.redis instanceof Redis) countRedis(idem.redis, counts);
    Object.assign(counts, emptyCounts());
  }
  send({ type: 'ready', url, apiKey: merchant.apiKey, merchantId: merchant.id });
  return {
    counts,
    close: async () => {
      await idem.close();
      await db?.close();
      if (logFile) await rm(logFile, { force: true });
    },
  };
}

/** Listens on a free loopback port, tells the parent, and closes the route then its client on stop. */
async function serveBare(app: FastifyInstance, counts: QueryCounts | null, closeClient: () => Promise<unknown> | void): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  send({ type: 'ready', url });
  return {
    counts,
    close: async () => {
      await app.close();
      await closeClient();
    },
  };
}

async function startRedisGet(env: ServerEnv): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const key = env.BENCH_REDIS_KEY;
  if (!key) throw new Error('BENCH_REDIS_KEY is required for redis-get');
  // The same client options Idem's fast path uses.
  const redis = new Redis(env.BENCH_REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000, enableAutoPipelining: true });
  await redis.connect();
  const counts = env.BENCH_COUNT_QUERIES === '1' ? emptyCounts() : null;
  if (counts) countRedis(redis, counts);
  const app = Fastify({ logger: false });
  app.post('/v1/payments', async (_request, reply) => {
    const value = await redis.get(key);
    if (value === null) return reply.code(500).send('missing');
    return reply.code(201).header('content-type', 'application/json; charset=utf-8').send(value);
  });
  return serveBare(app, counts, () => redis.disconnect());
}

/** What the fix below needs of the `@redis/client` connection Powertools is given. */
interface RedisClient {
  set(key: string, value: string, options: { EX: number }): Promise<unknown>;
}

/**
 * Powertools' Redis persistence as released (2.35.0), with the upstream fix for
 * aws-powertools/powertools-lambda-typescript#5705 (merged in #5706, not released yet): its
 * `_updateRecord` rewrites the record without the payload hash, so with payload validation on
 * every replay of a completed record is refused. The fix writes the same record plus its
 * `validation` field, in the same single SET.
 */
class CachePersistenceLayerKeepingValidation extends CachePersistenceLayer {
  constructor(private readonly redis: RedisClient) {
    // Powertools types its client loosely (any RESP version, modules); this is the client it documents.
    super({ client: redis as ConstructorParameters<typeof CachePersistenceLayer>[0]['client'] });
  }

  protected override async _updateRecord(record: IdempotencyRecord): Promise<void> {
    const item: Record<string, unknown> = {
      [ATTR.statusAttr]: record.getStatus(),
      [ATTR.expiryAttr]: record.expiryTimestamp,
      [ATTR.dataAttr]: record.responseData,
    };
    if (this.isPayloadValidationEnabled() && record.payloadHash !== undefined) item[ATTR.validationKeyAttr] = record.payloadHash;
    const ttl = record.expiryTimestamp ? record.expiryTimestamp - Math.floor(Date.now() / 1000) : this.expiresAfterSeconds;
    await this.redis.set(record.idempotencyKey, JSON.stringify(item), { EX: ttl });
  }
}

async function startPowertools(env: ServerEnv): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const stored = env.BENCH_RESPONSE_BODY;
  if (!stored) throw new Error('BENCH_RESPONSE_BODY is required for powertools');
  const client = createClient({ url: env.BENCH_REDIS_URL });
  await client.connect();
  const persistenceStore = new CachePersistenceLayerKeepingValidation(client as unknown as RedisClient & ConstructorParameters<typeof CachePersistenceLayer>[0]['client']);
  // Defaults otherwise: no local in-memory cache (every request asks Redis), MD5 hashes, one hour.
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', payloadValidationJmesPath: 'body', expiresAfterSeconds: 3600 });
  // Outside Lambda there is no invocation deadline: say 30 s are left, so an in-progress record
  // expires as it would under a 30 s Lambda timeout (and Powertools does not print a warning
  // for every request, which would cost it CPU it does not cost in Lambda).
  config.registerLambdaContext({ getRemainingTimeInMillis: () => 30_000 } as Parameters<IdempotencyConfig['registerLambdaContext']>[0]);
  const create = makeIdempotent(async (_event: { key: string; body: unknown }) => JSON.parse(stored) as unknown, {
    persistenceStore,
    config,
    keyPrefix: env.BENCH_REDIS_KEY ?? 'idem-bench-powertools',
  });
  const app = Fastify({ logger: false });
  app.post('/v1/payments', async (request, reply) => {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') return reply.code(400).send({ error: 'Idempotency-Key required' });
    try {
      return reply.code(201).send(await create({ key, body: request.body }));
    } catch (err) {
      if (err instanceof IdempotencyValidationError) return reply.code(422).send({ error: 'Idempotency-Key reused with another body' });
      throw err;
    }
  });
  return serveBare(app, null, () => client.quit());
}

async function startPgInsert(env: ServerEnv): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const pool = new pg.Pool({ connectionString: env.BENCH_DATABASE_URL, max: POOL_MAX, application_name: 'idem-bench-baseline' });
  pool.on('error', () => {});
  const counts = env.BENCH_COUNT_QUERIES === '1' ? emptyCounts() : null;
  const app = Fastify({ logger: false });
  app.post('/v1/payments', async (request, reply) => {
    const id = String(request.headers['idempotency-key'] ?? randomBytes(12).toString('hex'));
    if (counts) counts.autocommit++;
    await pool.query(`INSERT INTO ${BASELINE_TABLE} (id, body) VALUES ($1, $2)`, [id, JSON.stringify(request.body)]);
    return reply.code(201).send({ id });
  });
  return serveBare(app, counts, () => pool.end());
}

async function startSameWrites(env: ServerEnv): Promise<{ close: () => Promise<void>; counts: QueryCounts | null }> {
  const db = openPostgres(env.BENCH_DATABASE_URL, { max: POOL_MAX });
  // Idem's schema, as `idem serve` migrates it (idempotent: a migrated database is left as it is).
  await migrate(db);
  const merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'bench-same-writes');
  const app = Fastify({ logger: false });
  app.post('/v1/payments', async (request, reply) => {
    const key = String(request.headers['idempotency-key'] ?? randomBytes(12).toString('hex'));
    const body = request.body as { amount: number; currency: string; payment_method: { token: string } };
    const now = new Date();
    const id = newId(cryptoRandom, 'pay');
    const payment: NewPayment = {
      id, merchant_id: merchant.id, amount: body.amount, currency: body.currency, capture_method: 'manual', status: 'processing', token: body.payment_method.token,
      reference: null, metadata: {}, preferred_gateway: null, gateway: 'sim-a', idempotency_key: key, created_at: now, updated_at: now,
    };
    const row = newPaymentRow(payment);
    const attempt = newAttempt(cryptoRandom, row, { operation: 'authorize', attemptNo: 1, gateway: 'sim-a', amount: body.amount, idempotencyKey: key }, now);
    const event = (type: string, p: PaymentRow) => paymentEvent(cryptoRandom, p, newAttemptRow(attempt), {}, type, { payment: paymentSnapshot(p) }, now);

    // Before the gateway call: the key (claimed, bound to the payment), the payment, its attempt and outbox row, two events.
    const first = new Statement();
    const claimed = first.cte(
      `INSERT INTO idempotency_keys (merchant_id, key, fingerprint, method, path, state, fence, lease_until, created_at, operation, resource_id)
       VALUES (${first.p(merchant.id)}, ${first.p(key)}, 'f', 'POST', '/v1/payments', 'in_progress', nextval('idempotency_fence_seq'), ${first.p(new Date(now.getTime() + 30_000))}, ${first.p(now)}, 'create', ${first.p(id)})
       RETURNING fence`,
    );
    first.cte(
      `INSERT INTO payments (id, merchant_id, amount, currency, capture_method, status, token, reference, metadata, preferred_gateway, gateway, idempotency_key, created_at, updated_at)
       VALUES (${[id, merchant.id, payment.amount, payment.currency, 'manual', 'processing', payment.token, null, '{}', null, 'sim-a', key, now, now].map((v) => first.p(v)).join(', ')})
       RETURNING 1`,
    );
    insertAttemptWrite(first, attempt, new Date(now.getTime() + 30_000));
    insertEventsWrite(first, [event('payment.created', row), event('attempt.started', row)]);
    // Every data-modifying CTE runs whatever the last SELECT reads.
    const [{ fence }] = (await first.rows<{ fence: string }>(db, claimed)) as [{ fence: string }];

    // After it: the result, the outbox row closed, the journal, the payment authorized, two events, the key completed.
    const authorized = changedPayment(row, { status: 'authorized', amount_authorized: body.amount, amount_requested: null }, now);
    const answer = JSON.stringify(toView(authorized, [recordedAttempt(newAttemptRow(attempt), { status: 'succeeded', gatewayReference: 'ref' }, now)]));
    const second = new Statement();
    recordAttemptWrite(second, newAttemptRow(attempt), { status: 'succeeded', gatewayReference: 'ref' }, now);
    postEntryWrite(second, id, payment.currency, { kind: 'authorize', amount: body.amount }, now);
    updatePaymentWrite(second, row, { status: 'authorized', amount_authorized: body.amount, amount_requested: null }, now);
    insertEventsWrite(second, [event('attempt.succeeded', row), event('payment.authorized', authorized)]);
    const done = completeKeyWrite(second, { merchantId: merchant.id, key, fence: Number(fence), response: { status: 201, contentType: 'application/json', body: answer }, now: now.getTime(), ttlMs: 86_400_000 });
    if ((await second.count(db, done)) !== 1) throw new Error(`key ${key} was not completed`);
    return reply.code(201).header('content-type', 'application/json; charset=utf-8').send(answer);
  });
  return serveBare(app, null, () => db.close());
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/server.js is forked by bench/idempotency.js; run that instead');
  const env = process.env as unknown as ServerEnv;
  const started =
    env.BENCH_MODE === 'idem'
      ? await startIdem(env)
      : env.BENCH_MODE === 'redis-get'
        ? await startRedisGet(env)
        : env.BENCH_MODE === 'powertools'
          ? await startPowertools(env)
          : env.BENCH_MODE === 'same-writes'
            ? await startSameWrites(env)
            : await startPgInsert(env);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await started.close().catch(() => {});
    process.exit(code);
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'snapshot') {
      const cpu = process.cpuUsage();
      send({ type: 'snapshot', cpuMicros: cpu.user + cpu.system, counts: started.counts ? { ...started.counts, byText: { ...started.counts.byText }, redis: { ...started.counts.redis } } : null });
    } else if (m.type === 'stop') {
      void stop(0);
    }
  });
  // The parent went away: don't linger.
  process.on('disconnect', () => void stop(1));
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (!process.send) {
    console.error(error);
    process.exit(1);
  }
  process.send({ type: 'failed', error } satisfies ServerMessage, () => process.exit(1));
});
