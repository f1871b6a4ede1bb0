/**
 * Events end to end, over real sockets (docs/events.md): one `idem serve` on PostgreSQL, a
 * webhook receiver that answers 503 to the first arrival of one event in eight, an SSE reader,
 * and 200 payments (create, capture, refund) sent by 16 clients that retry with the same key.
 * Midway the server is killed with SIGKILL and restarted on the same database.
 *
 *   clients   create/capture/refund ×200 ───╳ (connection refused) ··· retry same key ──── done
 *   idem A    serves ── positions ── delivers ╳ SIGKILL
 *   idem B                                     start ── recovers, positions, delivers ─────
 *   receiver  verifies every signature with `standardwebhooks`; 503 to 1 in 8 first arrivals
 *   stream    reads ─────────────────────────╳ reconnects with Last-Event-ID ─────────────
 *
 * Then: every event of GET /v1/events reached the receiver (within 30 s of the last answer),
 * in per-payment order of first arrival, duplicates only under the same webhook-id; the stream
 * saw exactly the feed, in order, with no gap and no repeat.
 */
import { EVENT_TYPES } from '../../src/events/catalogue.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdemProcess } from '../../src/cli/idemProcess.js';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { createHttpClient, type HttpClient } from '../support/httpClient.js';
import { IDEM_BIN } from '../support/idemServer.js';
import { paymentBody, waitUntil } from '../support/payments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsServerInstalled, startNatsServer, type NatsServer } from '../support/natsServer.js';
import { followEventStream, startWebhookReceiver, type StreamedEvent, type WebhookReceiver } from '../support/webhookReceiver.js';

const PAYMENTS = 200;
const CLIENTS = 16;
const ready = (await postgresAvailable()) && natsServerInstalled();
if (!ready && process.env.CI === 'true') throw new Error('PostgreSQL and nats-server are required in CI');
if (!ready) console.warn('SKIPPED: the events test needs PostgreSQL on 127.0.0.1:5432 and /usr/sbin/nats-server');

interface FeedEvent {
  id: string;
  type: string;
  payment_id: string | null;
  sequence: number | null;
}

describe.skipIf(!ready)('events across a SIGKILL: webhooks, feed and stream', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let sim: SimulatorServer;
  let receiver: WebhookReceiver;
  let client: HttpClient;
  let idem: IdemProcess | undefined;
  let merchant: { id: string; apiKey: string };
  let nats: NatsServer;

  beforeAll(async () => {
    database = await createTestDatabase('idem_events');
    nats = await startNatsServer();
    sim = await startSimulatorServer({ seed: 11 });
    receiver = await startWebhookReceiver({ failOneIn: 8 });
    client = createHttpClient(64);
    idem = await IdemProcess.start({
      bin: IDEM_BIN,
      env: {
        LOG_LEVEL: 'warn',
        DATABASE_URL: database.url,
        IDEM_LEASE_MS: '2000',
        IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 5_000 }]),
        IDEM_WEBHOOK_ALLOW_PRIVATE: '1',
        IDEM_NATS_URL: nats.url,
        IDEM_WEBHOOK_TIMEOUT_MS: '3000',
        IDEM_EVENT_STREAM_HEARTBEAT_MS: '1000',
      },
      args: [],
      maxOutputChars: 20_000,
    });
    db = openPostgres(database.url, { max: 2 });
    merchant = await createMerchant(new SqlStore(db), cryptoRandom, 'events');
  }, 60_000);

  afterAll(async () => {
    await idem?.stop();
    client?.close();
    await receiver?.close();
    await sim?.close();
    await db?.close();
    await database?.drop();
    await nats?.remove();
  });

  const auth = () => ({ authorization: `Bearer ${merchant.apiKey}` });

  /** POSTs until a final answer, with the same key, to whichever server is up. */
  async function until(path: string, key: string, body: Record<string, unknown>, want: number): Promise<Record<string, unknown>> {
    for (let tries = 0; ; tries++) {
      try {
        const res = await client.request('POST', `${idem!.url}${path}`, { headers: { ...auth(), 'idempotency-key': key }, body: JSON.stringify(body), timeoutMs: 15_000 });
        if (res.status === want) return JSON.parse(res.text);
        if (res.status !== 202 && res.status !== 409 && res.status !== 503) throw new Error(`${path}: ${res.status} ${res.text}`);
      } catch (err) {
        if ((err as Error).message.startsWith(path)) throw err;
      }
      if (tries > 400) throw new Error(`${path} (${key}) never answered ${want}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function feed(): Promise<FeedEvent[]> {
    const out: FeedEvent[] = [];
    for (;;) {
      const after = out.at(-1)?.id;
      const res = await client.request('GET', `${idem!.url}/v1/events?limit=100${after ? `&starting_after=${after}` : ''}`, { headers: auth() });
      expect(res.status).toBe(200);
      const page = JSON.parse(res.text) as { data: FeedEvent[]; has_more: boolean };
      out.push(...page.data);
      if (!page.has_more) return out;
    }
  }

  it('every event reaches the endpoint and the stream, in per-payment order, across a SIGKILL and restart', async () => {
    const created = await client.request('POST', `${idem!.url}/v1/webhook_endpoints`, {
      headers: { ...auth(), 'idempotency-key': 'endpoint-1' },
      // Every type, named: without `event_types` an endpoint gets no `attempt.*` (docs/events.md).
      body: JSON.stringify({ url: receiver.url, event_types: Object.keys(EVENT_TYPES) }),
    });
    expect(created.status, created.text).toBe(201);
    const endpoint = JSON.parse(created.text) as { id: string; secret: string };
    expect(endpoint.secret).toMatch(/^whsec_/);
    receiver.secret = endpoint.secret;

    const streamed: StreamedEvent[] = [];
    const stream = followEventStream(() => idem!.url, merchant.apiKey, (e) => streamed.push(e));

    let done = 0;
    let killed = false;
    let natsKilled = false;
    const restart = (async () => {
      await waitUntil('a third of the payments are done', () => done >= PAYMENTS / 3, 120_000, 20);
      await idem!.kill('SIGKILL');
      killed = true;
      idem = await idem!.restart();
      // And NATS crashes too, later, while events are still being published.
      await waitUntil('two thirds of the payments are done', () => done >= (PAYMENTS * 2) / 3, 120_000, 20);
      await nats.kill('SIGKILL');
      natsKilled = true;
      nats = await startNatsServer({ port: nats.port, storeDir: nats.storeDir });
    })();
    let next = 0;
    const worker = async () => {
      while (next < PAYMENTS) {
        const i = next++;
        const p = await until('/v1/payments', `pay-${i}`, paymentBody({ amount: 1000 + i }), 201);
        await until(`/v1/payments/${p.id}/capture`, `cap-${i}`, {}, 200);
        await until(`/v1/payments/${p.id}/refunds`, `ref-${i}`, { amount: 400 }, 200);
        done++;
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, worker));
    await restart;
    expect(killed).toBe(true);
    const answeredAt = Date.now();

    // Every event the feed shows has been accepted by the receiver (a 200 under its id).
    const events = await feed();
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM payment_events WHERE merchant_id = $1', [merchant.id]);
    await waitUntil('the feed shows every event', async () => (await feed()).length === rows[0]!.n, 10_000, 100);
    const all = await feed();
    expect(all.length).toBeGreaterThanOrEqual(events.length);
    expect(all.filter((e) => e.type === 'payment.partially_refunded')).toHaveLength(PAYMENTS);
    const accepted = () => new Set(receiver.arrivals.filter((a) => a.status === 200).map((a) => a.webhookId));
    await waitUntil('every event was delivered', () => {
      const ok = accepted();
      return all.every((e) => ok.has(e.id));
    }, Math.max(1, 30_000 - (Date.now() - answeredAt)), 100).catch(async (err) => {
      // Say what is still pending, and how.
      const ok = accepted();
      const missing = all.filter((e) => !ok.has(e.id)).map((e) => e.id);
      const { rows: pending } = await db.query(
        `SELECT event_id, state, attempts, last_status, last_error, next_attempt_at, lease_until FROM webhook_deliveries WHERE event_id = ANY($1::text[]) LIMIT 10`,
        [missing],
      );
      throw new Error(`${(err as Error).message}: ${missing.length} of ${all.length} not accepted, e.g. ${JSON.stringify(pending)}; now ${new Date().toISOString()}\n${idem!.output().slice(-2000)}`);
    });

    expect(receiver.badSignatures).toBe(0);
    // Duplicates only as retries of one event: one webhook-id per (payment, sequence), id = event id.
    const idOf = new Map<string, string>();
    for (const a of receiver.arrivals) {
      expect(a.eventId).toBe(a.webhookId);
      const k = `${a.paymentId}#${a.sequence}`;
      expect(idOf.get(k) ?? a.webhookId, k).toBe(a.webhookId);
      idOf.set(k, a.webhookId);
    }
    expect(new Set(receiver.arrivals.map((a) => a.webhookId)).size).toBe(all.length);
    expect(receiver.arrivals.some((a) => a.status === 503)).toBe(true);
    // Per payment, first arrivals come in sequence order.
    const firsts = new Map<string, number[]>();
    const seen = new Set<string>();
    for (const a of receiver.arrivals) {
      if (seen.has(a.webhookId) || a.paymentId === null) continue;
      seen.add(a.webhookId);
      firsts.set(a.paymentId, [...(firsts.get(a.paymentId) ?? []), a.sequence!]);
    }
    for (const [payment, seqs] of firsts) expect(seqs, payment).toEqual(seqs.map((_, i) => i + 1));

    // The stream resumed after the kill and saw the feed exactly: same ids, same order, no gap, no repeat.
    await waitUntil('the stream caught up', () => streamed.length >= all.length, 20_000, 100);
    stream.stop();
    expect(stream.reconnects()).toBeGreaterThanOrEqual(1);
    expect(streamed.map((e) => e.id)).toEqual(all.map((e) => e.id));

    // JetStream holds every event exactly once, across Idem's SIGKILL and NATS's.
    expect(natsKilled).toBe(true);
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      // The stream also carries system events (a gateway's learned health, `idem._system.*`):
      // on a loaded machine the simulator's latency can make one; the merchant's are counted.
      const ours = async () => {
        const info = await jsm.streams.info('IDEM_EVENTS', { subjects_filter: `idem.${merchant.id}.>` });
        return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
      };
      await waitUntil('JetStream has every event', async () => (await ours()) >= all.length, 30_000, 200);
      expect(await ours()).toBe(all.length);
      const info = await jsm.streams.info('IDEM_EVENTS');
      const published: string[] = [];
      const merchants: string[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = (await jsm.streams.getMessage('IDEM_EVENTS', { seq }))!;
        const body = m.json<{ id: string; merchant_id: string | null; type: string }>();
        expect(m.subject).toBe(`idem.${body.merchant_id ?? '_system'}.${body.type}`);
        expect(m.header?.get('Nats-Msg-Id')).toBe(body.id);
        published.push(body.id);
        if (body.merchant_id === merchant.id) merchants.push(body.id);
        else expect(body.merchant_id, body.type).toBeNull();
      }
      expect(new Set(published).size).toBe(published.length);
      expect([...merchants].sort()).toEqual(all.map((e) => e.id).sort());
    } finally {
      await nc.close();
    }
  }, 300_000);
});
