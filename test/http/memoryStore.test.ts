import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { Value } from 'typebox/value';
import { NAMED_SCHEMAS, Payment, Problem } from '../../src/api/schemas.js';
import { loadConfig } from '../../src/config/config.js';
import { createIdem, type Idem } from '../../src/idem.js';
import { createMerchant, type NewMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { MemoryStore } from '../../src/store/memory/index.js';

/**
 * The HTTP API in-process (`app.inject`) over the in-memory store: no database, no Redis. The
 * answers Idem stores for replay must be what the routes' response schemas allow
 * (src/api/schemas.ts), since a replay sends the stored bytes without serializing them again.
 */
describe('HTTP API on MemoryStore', () => {
  let idem: Idem;
  let store: MemoryStore;
  let merchant: NewMerchant;

  beforeAll(async () => {
    store = new MemoryStore();
    idem = await createIdem(loadConfig({}), { store, relay: false, sweeper: false });
    merchant = await createMerchant(store, cryptoRandom, 'memory');
  });
  afterAll(async () => {
    await idem?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown>) =>
    idem.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${merchant.apiKey}`, 'idempotency-key': key }, payload });
  /** The answer stored under the key, as a replay will send it. */
  const stored = async (key: string) => {
    const row = await store.readKey(merchant.id, key);
    expect(row?.state).toBe('completed');
    return row!.response!;
  };
  const expectReplay = async (res: LightMyRequestResponse, url: string, key: string, payload: Record<string, unknown>) => {
    const again = await post(url, key, payload);
    expect(again.statusCode).toBe(res.statusCode);
    expect(again.body).toBe(res.body);
    const answer = await stored(key);
    expect(answer.status).toBe(res.statusCode);
    expect(answer.body).toBe(res.body);
    return JSON.parse(answer.body) as unknown;
  };

  it('creates, captures and replays a payment; the stored 201 and 200 bodies are Payments', async () => {
    expect(idem.db).toBeNull();
    const create = { amount: 2500, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } };
    const created = await post('/v1/payments', 'create-1', create);
    expect(created.statusCode, created.body).toBe(201);
    const createdBody = await expectReplay(created, '/v1/payments', 'create-1', create);
    expect(Value.Errors(NAMED_SCHEMAS, Payment, createdBody)).toEqual([]);
    expect(Value.Check(NAMED_SCHEMAS, Payment, createdBody)).toBe(true);
    expect(createdBody).toMatchObject({ status: 'authorized', amount_authorized: 2500 });

    const id = (createdBody as { id: string }).id;
    const captured = await post(`/v1/payments/${id}/capture`, 'capture-1', {});
    expect(captured.statusCode, captured.body).toBe(200);
    const capturedBody = await expectReplay(captured, `/v1/payments/${id}/capture`, 'capture-1', {});
    expect(Value.Check(NAMED_SCHEMAS, Payment, capturedBody)).toBe(true);
    expect(capturedBody).toMatchObject({ id, status: 'captured', amount_captured: 2500 });
  });

  it('stores a decline as a 402 Problem and replays it', async () => {
    const create = { amount: 900, currency: 'EUR', capture_method: 'automatic', payment_method: { type: 'card', token: 'tok_decline_insufficient_funds' } };
    const declined = await post('/v1/payments', 'decline-1', create);
    expect(declined.statusCode, declined.body).toBe(402);
    expect(declined.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = await expectReplay(declined, '/v1/payments', 'decline-1', create);
    expect(Value.Errors(Problem, problem)).toEqual([]);
    expect(Value.Check(Problem, problem)).toBe(true);
    expect(problem).toMatchObject({ status: 402, code: 'PAYMENT_DECLINED' });
  });
});
