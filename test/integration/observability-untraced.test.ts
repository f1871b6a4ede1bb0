/**
 * Tracing off (no `OTEL_EXPORTER_OTLP_ENDPOINT`; docs/metadata.md): no span is opened, yet a
 * client's `traceparent` still names the request (`trace_id` on its log line) and travels to the
 * gateway unchanged with the attempt's metadata headers; without one, no `traceparent` is
 * invented. Idem on the in-memory store, the simulator's HTTP server as its gateway, real sockets.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { noopTracer } from '../../src/ports/tracing.js';
import { MemoryStore } from '../../src/store/memory/index.js';
import { paymentBody, waitUntil } from '../support/payments.js';

const CLIENT_TP = '00-5bf92f3577b34da6a3ce929d0e0e4737-10f067aa0ba902b8-01';

let sim: SimulatorServer;
let idem: Idem;
let url: string;
let apiKey: string;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  sim = await startSimulatorServer({ seed: 3 });
  const config = loadConfig({ IDEM_GATEWAYS: JSON.stringify([{ name: 'sim', kind: 'http', base_url: sim.url, timeout_ms: 2000 }]) });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  idem = await createIdem({ ...config, port: 0 }, { store: new MemoryStore(), relay: false, sweeper: false, logger: { level: 'info' }, logDestination: sink });
  expect(idem.tracer).toBe(noopTracer);
  url = await idem.listen();
  apiKey = (await createMerchant(idem.store, cryptoRandom, 'untraced')).apiKey;
});

afterAll(async () => {
  await idem?.close();
  await sim?.close();
});

async function create(key: string, headers: Record<string, string>): Promise<{ id: string; requestId: string }> {
  const res = await fetch(`${url}/v1/payments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': key, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(paymentBody()),
  });
  expect(res.status).toBe(201);
  return { id: ((await res.json()) as { id: string }).id, requestId: res.headers.get('request-id')! };
}

describe('untraced', () => {
  it("passes the client's traceparent to the gateway unchanged, and names the request with its trace id", async () => {
    const { id, requestId } = await create('untraced-1', { traceparent: CLIENT_TP });
    const calls = sim.calls().filter((c) => c.metadata.payment_id === id);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.traceparent).toBe(CLIENT_TP);
    expect(calls[0]!.metadata).toMatchObject({ request_id: requestId, trace_id: CLIENT_TP.slice(3, 35), idempotency_key: 'untraced-1', attempt_no: 1, operation: 'authorize', gateway: 'sim' });
    await waitUntil('the request line', () => lines.some((l) => l.request_id === requestId && l.msg === 'request completed'));
    expect(lines.find((l) => l.request_id === requestId && l.msg === 'request completed')).toMatchObject({ trace_id: CLIENT_TP.slice(3, 35), payment_id: id });
  });

  it('invents no traceparent when the client sent none', async () => {
    const { id, requestId } = await create('untraced-2', {});
    const calls = sim.calls().filter((c) => c.metadata.payment_id === id);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.traceparent).toBeUndefined();
    expect(calls[0]!.metadata.trace_id).toBeUndefined();
    expect(calls[0]!.metadata.request_id).toBe(requestId);
    await waitUntil('the request line', () => lines.some((l) => l.request_id === requestId && l.msg === 'request completed'));
    expect(lines.find((l) => l.request_id === requestId && l.msg === 'request completed')!.trace_id).toBeUndefined();
  });
});
