/**
 * Embedded mode (no DATABASE_URL, PGlite in a data folder): one `idem serve` process, bursts of
 * duplicates over real sockets, then `kill -9` and a restart on the same folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createHttpClient, type HttpAnswer, type HttpClient } from '../support/httpClient.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { expectOneAnswer, gatewayEntries, gateEvents, postPayment } from '../support/payments.js';

let sim: SimulatorServer;
let client: HttpClient;
let dataDir: string;
let idem: IdemServer | undefined;
let apiKey: string;

function start(): Promise<IdemServer> {
  return startIdemServer({
    env: { IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 10_000 }]) },
    args: ['--data-dir', dataDir],
  });
}

beforeAll(async () => {
  sim = await startSimulatorServer({ faults: { latency: { minMs: 50, maxMs: 100 } } });
  client = createHttpClient(128);
  dataDir = mkdtempSync(join(tmpdir(), 'idem-embedded-'));
  idem = await start();
  const m = /API key, shown once: (sk_\S+)/.exec(idem.output());
  if (!m) throw new Error(`embedded serve printed no API key:\n${idem.output()}`);
  apiKey = m[1]!;
});

afterAll(async () => {
  await idem?.stop();
  client?.close();
  await sim?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Every payment of the (only) merchant, through the API. */
async function listPayments(): Promise<Array<{ id: string; status: string }>> {
  const out: Array<{ id: string; status: string }> = [];
  let cursor: string | null = null;
  do {
    const page: HttpAnswer = await client.request('GET', `${idem!.url}/v1/payments?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(page.status).toBe(200);
    const body = JSON.parse(page.text) as { data: Array<{ id: string; status: string }>; next_cursor: string | null };
    out.push(...body.data);
    cursor = body.next_cursor;
  } while (cursor !== null);
  return out;
}

describe('embedded mode (PGlite), one process', () => {
  let first: { id: string; body: Buffer };

  it('200 concurrent duplicates of one key: one payment, one gateway authorization, one answer', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, () => postPayment(client, idem!.url, apiKey, 'order-1')));

    const payment = expectOneAnswer(answers, 201);
    expect(payment.status).toBe('authorized');
    expect((await listPayments()).map((p) => p.id)).toEqual([payment.id]);
    expect(gatewayEntries(sim.processor.log(), payment.id)).toHaveLength(1);
    expect(sim.processor.stats().byOperation.authorize.received).toBe(1);
    expect(client.socketsOpened()).toBeGreaterThanOrEqual(64);
    const gate = await gateEvents(client, idem!.url);
    expect(gate.executed).toBe(1);
    expect(gate.held).toBeGreaterThan(0);
    first = { id: payment.id, body: answers[0]!.bytes };
  });

  it('50 keys x 20 duplicates at once: 50 payments, 50 gateway authorizations, one answer per key', async () => {
    const keys = Array.from({ length: 1000 }, (_v, i) => `cart-${i % 50}`);
    const answers = await Promise.all(keys.map((k) => postPayment(client, idem!.url, apiKey, k)));

    const ids = new Set<string>();
    for (let k = 0; k < 50; k++) {
      const group = answers.filter((_a, i) => i % 50 === k);
      expect(group).toHaveLength(20);
      ids.add(expectOneAnswer(group, 201).id);
    }
    expect(ids.size).toBe(50);
    const listed = (await listPayments()).map((p) => p.id);
    expect(listed).toHaveLength(51);
    expect(listed).toEqual(expect.arrayContaining([...ids, first.id]));
    const log = sim.processor.log();
    for (const id of ids) expect(gatewayEntries(log, id), `gateway authorizations of ${id}`).toHaveLength(1);
    expect(sim.processor.stats().byOperation.authorize.received).toBe(51);
  });

  it('after kill -9 and a restart on the same folder: the payment is there and the key replays the same bytes', async () => {
    const killed = idem!;
    await killed.kill('SIGKILL');
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' });

    idem = await start();
    expect(idem.output()).not.toMatch(/API key/); // same merchant, same key: nothing new to show

    const got = await client.request('GET', `${idem.url}/v1/payments/${first.id}`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(got.status).toBe(200);
    expect(JSON.parse(got.text)).toMatchObject({ id: first.id, status: 'authorized' });

    const replay = await postPayment(client, idem.url, apiKey, 'order-1');
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.bytes.equals(first.body)).toBe(true);
    expect((await listPayments()).length).toBe(51);
    expect(sim.processor.stats().byOperation.authorize.received).toBe(51);
  });
});
