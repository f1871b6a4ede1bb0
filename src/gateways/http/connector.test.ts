import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Timers, systemRuntime, systemTimers } from '../../ports/clock.js';
import { type GatewayRequest, gatewayKey } from '../port.js';
import type { SimulatorFaults } from '../simulator/processor.js';
import { type SimulatorServer, startSimulatorServer } from '../simulator/server.js';
import { createHttpConnector } from './connector.js';

// These tests run the simulator on a real socket on 127.0.0.1: the socket is what matters here
// (dropped answers, refused connections, close() with requests held open).

const TIMEOUT_MS = 200;
let servers: SimulatorServer[] = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** Generous enough that a loaded machine never turns an answer into a timeout. */
const ANSWER_TIMEOUT_MS = 10_000;

async function start(faults: Partial<SimulatorFaults> = {}, extra: { timers?: Timers; timeoutMs?: number } = {}) {
  const sim = await startSimulatorServer({
    seed: 11,
    faults,
    ...(extra.timers ? { runtime: { ...systemRuntime, timers: extra.timers } } : {}),
  });
  servers.push(sim);
  const gateway = createHttpConnector({ name: 'sim', baseUrl: sim.url, timeoutMs: extra.timeoutMs ?? ANSWER_TIMEOUT_MS, timers: systemTimers });
  return { sim, gateway };
}

function authorizeRequest(paymentId: string, token = 'tok_visa', attempt = 1): GatewayRequest {
  return {
    operation: 'authorize',
    gatewayKey: gatewayKey(paymentId, 'authorize', attempt),
    amount: 1500,
    currency: 'EUR',
    reference: paymentId,
    token,
  };
}

describe('HTTP connector against the simulator server', () => {
  it('authorizes: success carries the ids the gateway logged', async () => {
    const { sim, gateway } = await start();
    const outcome = await gateway.execute(authorizeRequest('pay_1'));
    const [entry] = sim.processor.log();
    expect(outcome).toEqual({ class: 'success', transactionId: entry!.id, authorizationId: entry!.authorization_id });
  });

  it('captures against the authorization it got', async () => {
    const { sim, gateway } = await start();
    const auth = await gateway.execute(authorizeRequest('pay_1'));
    if (auth.class !== 'success') throw new Error(`expected success, got ${auth.class}`);
    const capture = await gateway.execute({
      operation: 'capture',
      gatewayKey: gatewayKey('pay_1', 'capture', 1),
      amount: 1500,
      currency: 'EUR',
      reference: 'pay_1',
      authorizationId: auth.authorizationId!,
    });
    expect(capture.class).toBe('success');
    expect(sim.processor.log().map((e) => [e.operation, e.status])).toEqual([
      ['authorize', 'succeeded'],
      ['capture', 'succeeded'],
    ]);
  });

  it('declines with the code from the token', async () => {
    const { gateway } = await start();
    expect(await gateway.execute(authorizeRequest('pay_1', 'tok_decline_insufficient_funds'))).toMatchObject({
      class: 'decline',
      declineCode: 'insufficient_funds',
    });
  });

  it('error before processing → not_processed with retryAfterMs, and nothing in the log', async () => {
    const { sim, gateway } = await start({ errorBeforeProcessingRate: 1, retryAfterSeconds: 2 });
    expect(await gateway.execute(authorizeRequest('pay_1'))).toEqual({
      class: 'not_processed',
      reason: 'unavailable',
      retryAfterMs: 2000,
    });
    expect(sim.processor.log()).toEqual([]);
    expect(await gateway.status(gatewayKey('pay_1', 'authorize', 1))).toEqual({ found: false });
  });

  it('timeout after processing → unknown; the log shows it ran; status reports success; a re-send does not run it again', async () => {
    const { sim, gateway } = await start({ timeoutAfterProcessingRate: 1 }, { timeoutMs: TIMEOUT_MS });
    const request = authorizeRequest('pay_1');

    expect(await gateway.execute(request)).toEqual({ class: 'unknown', reason: 'timeout' });
    const log = sim.processor.log();
    expect(log).toMatchObject([{ idempotency_key: request.gatewayKey, status: 'succeeded' }]);

    expect(await gateway.status(request.gatewayKey)).toEqual({
      found: true,
      outcome: { class: 'success', transactionId: log[0]!.id, authorizationId: log[0]!.authorization_id },
    });

    sim.processor.setFaults({ timeoutAfterProcessingRate: 0 });
    expect(await gateway.execute(request)).toEqual({
      class: 'success',
      transactionId: log[0]!.id,
      authorizationId: log[0]!.authorization_id,
    });
    expect(sim.processor.log()).toHaveLength(1);
    expect(sim.processor.stats()).toMatchObject({ executed: 1, replayed: 1, dropped: 1 });
  });

  it('re-sending with the same key never executes twice, even concurrently', async () => {
    const { sim, gateway } = await start();
    const request = authorizeRequest('pay_1');
    const outcomes = await Promise.all([gateway.execute(request), gateway.execute(request), gateway.execute(request)]);
    expect(new Set(outcomes.map((o) => JSON.stringify(o))).size).toBe(1);
    expect(outcomes[0]!.class).toBe('success');
    expect(sim.processor.log()).toHaveLength(1);
  });

  it('a different request under the same key is refused, not executed', async () => {
    const { sim, gateway } = await start();
    await gateway.execute(authorizeRequest('pay_1'));
    const reused = await gateway.execute({ ...authorizeRequest('pay_1'), amount: 1 });
    expect(reused).toMatchObject({ class: 'decline', declineCode: 'idempotency_key_reused' });
    expect(sim.processor.log()).toHaveLength(1);
  });

  it('ambiguous 500 → unknown', async () => {
    const { sim, gateway } = await start({ ambiguousErrorRate: 1 });
    expect((await gateway.execute(authorizeRequest('pay_1'))).class).toBe('unknown');
    expect(sim.processor.log()).toHaveLength(1);
  });

  it('outage → not_processed, and status is unknown during it', async () => {
    const { sim, gateway } = await start();
    await gateway.execute(authorizeRequest('pay_1'));
    sim.processor.setFaults({ outage: true });
    expect(await gateway.execute(authorizeRequest('pay_2'))).toMatchObject({ class: 'not_processed' });
    expect(await gateway.status(gatewayKey('pay_1', 'authorize', 1))).toEqual({ found: 'unknown', reason: 'unavailable', refused: true });
    expect(sim.processor.log()).toHaveLength(1);
  });

  it('connection refused on a closed port → not_processed', async () => {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : -1));
      });
    });
    const gateway = createHttpConnector({
      name: 'nowhere',
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: ANSWER_TIMEOUT_MS,
      timers: systemTimers,
    });
    expect(await gateway.execute(authorizeRequest('pay_1'))).toEqual({ class: 'not_processed', reason: 'ECONNREFUSED' });
    expect(await gateway.status('pay_1.authorize.1')).toEqual({ found: 'unknown', reason: 'ECONNREFUSED', refused: true });
  });

  it('a caller abort after sending → unknown; before sending → not_processed', async () => {
    const { sim, gateway } = await start({ latency: { minMs: 5_000, maxMs: 5_000 } }, { timeoutMs: TIMEOUT_MS });
    const controller = new AbortController();
    const pending = gateway.execute(authorizeRequest('pay_1'), controller.signal);
    await vi.waitFor(() => expect(sim.processor.stats().received).toBe(1));
    controller.abort();
    expect(await pending).toEqual({ class: 'unknown', reason: 'aborted' });

    expect(await gateway.execute(authorizeRequest('pay_2'), AbortSignal.abort())).toEqual({
      class: 'not_processed',
      reason: 'aborted_before_sending',
    });
    expect(sim.processor.stats().received).toBe(1);
  });

  it('applies latency with the injected timers', async () => {
    const requested: number[] = [];
    const timers: Timers = {
      after(ms, fn) {
        requested.push(ms);
        return systemTimers.after(0, fn);
      },
      every: (ms, fn) => systemTimers.every(ms, fn),
    };
    const { gateway } = await start({ latency: { minMs: 5_000, maxMs: 5_000 } }, { timers, timeoutMs: TIMEOUT_MS });
    // The server would take 5 s on real timers; the injected ones make it immediate.
    expect((await gateway.execute(authorizeRequest('pay_1'))).class).toBe('success');
    expect(requested).toEqual([5_000]);
  });

  it('close() finishes promptly while a dropped answer holds a socket open', async () => {
    const sim = await startSimulatorServer({ seed: 3, faults: { timeoutAfterProcessingRate: 1 } });
    const patient = createHttpConnector({ name: 'sim', baseUrl: sim.url, timeoutMs: 60_000, timers: systemTimers });
    const pending = patient.execute(authorizeRequest('pay_1'));
    await vi.waitFor(() => expect(sim.processor.log()).toHaveLength(1));
    await sim.close();
    // The held socket was destroyed: the client sees a reset after sending.
    expect((await pending).class).toBe('unknown');
  }, 3_000);
});

describe('simulator server routes', () => {
  it('GET /v1/transactions?since= returns log entries at or after since', async () => {
    const { sim, gateway } = await start();
    await gateway.execute(authorizeRequest('pay_1'));
    await gateway.execute(authorizeRequest('pay_2', 'tok_decline_do_not_honor'));
    const all = (await (await fetch(`${sim.url}/v1/transactions?since=1970-01-01T00:00:00Z`)).json()) as { data: unknown[] };
    expect(all.data).toEqual(sim.processor.log());
    expect(all.data).toHaveLength(2);
    const future = (await (await fetch(`${sim.url}/v1/transactions?since=2999-01-01T00:00:00Z`)).json()) as { data: unknown[] };
    expect(future.data).toEqual([]);
    expect((await fetch(`${sim.url}/v1/transactions?since=yesterday`)).status).toBe(400);
  });

  it('PUT /v1/faults changes faults at run time; invalid settings are refused', async () => {
    const { sim, gateway } = await start();
    const put = await fetch(`${sim.url}/v1/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ declineRate: 1 }),
    });
    expect(put.status).toBe(200);
    expect(((await (await fetch(`${sim.url}/v1/faults`)).json()) as SimulatorFaults).declineRate).toBe(1);
    expect(await gateway.execute(authorizeRequest('pay_1'))).toMatchObject({ class: 'decline', declineCode: 'card_declined' });

    const bad = await fetch(`${sim.url}/v1/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latency: { minMs: 10, maxMs: 1 } }),
    });
    expect(bad.status).toBe(400);
    expect(sim.processor.faults().latency).toEqual({ minMs: 0, maxMs: 0 });
  });

  it('GET /v1/stats counts received, executed and replayed by operation', async () => {
    const { sim, gateway } = await start();
    await gateway.execute(authorizeRequest('pay_1'));
    await gateway.execute(authorizeRequest('pay_1'));
    const stats = (await (await fetch(`${sim.url}/v1/stats`)).json()) as { byOperation: { authorize: unknown } };
    expect(stats).toMatchObject({ received: 2, executed: 1, replayed: 1 });
    expect(stats.byOperation.authorize).toEqual({ received: 2, executed: 1, replayed: 1 });
  });

  it('refuses an operation without Idempotency-Key (400) and executes nothing', async () => {
    const { sim } = await start();
    const res = await fetch(`${sim.url}/v1/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 100, currency: 'EUR', reference: 'pay_1', token: 'tok_visa' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    expect(sim.processor.stats().received).toBe(0);
  });

  it('GET /v1/operations/:key is 404 not_found for a key never received', async () => {
    const { sim } = await start();
    const res = await fetch(`${sim.url}/v1/operations/pay_x.authorize.1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found' });
  });
});
