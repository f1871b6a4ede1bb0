import { expect } from 'vitest';
import { IdemClient, IdemClientError, type CallMeta, type CreatePaymentParams } from '../../src/client/index.js';
import type { SimulatorLogEntry } from '../../src/gateways/simulator/processor.js';
import type { HttpAnswer, HttpClient } from './httpClient.js';
import { scaled } from './timeScale.js';

/** A `POST /v1/payments` body the simulator approves; manual capture, so one gateway call each. */
export function paymentBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    amount: 1250,
    currency: 'EUR',
    capture_method: 'manual',
    payment_method: { type: 'card', token: 'tok_visa' },
    ...overrides,
  };
}

/** One `POST /v1/payments` with an Idempotency-Key, over the client's real sockets. */
export function postPayment(
  client: HttpClient,
  baseUrl: string,
  apiKey: string,
  idempotencyKey: string,
  body: Record<string, unknown> = paymentBody(),
): Promise<HttpAnswer> {
  return client.request('POST', `${baseUrl}/v1/payments`, {
    headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': idempotencyKey },
    body: JSON.stringify(body),
  });
}

/**
 * `POST /v1/payments` as a well-behaved client sends it: through `idem/client` (docs/client.md),
 * which sends a `503` (an instance shedding load, or its database away), any other 5xx, a
 * connection error, a `202` or a `409 IDEM_IN_PROGRESS` again with the same key and body,
 * waiting at least the `Retry-After` asked, up to `tries` requests. Answers the final answer and
 * how many 503s came before it.
 */
export async function postPaymentRetrying(
  baseUrl: string,
  apiKey: string,
  idempotencyKey: string,
  body: Record<string, unknown> = paymentBody(),
  tries = 30,
): Promise<{ status: number; replayed: boolean; text: string; unavailable: number }> {
  let unavailable = 0;
  const idem = new IdemClient({
    baseUrl,
    apiKey,
    retry: { maxAttempts: tries, deadlineMs: 120_000, baseMs: 100, capMs: 1_000 },
    hooks: { afterAttempt: (a) => void (a.status === 503 && a.retryInMs !== null && unavailable++) },
  });
  let meta: CallMeta;
  try {
    meta = (await idem.payments.create(body as CreatePaymentParams, { idempotencyKey }).withMeta()).meta;
  } catch (err) {
    if (!(err instanceof IdemClientError)) throw err;
    meta = err.meta;
  }
  return { status: meta.status ?? 0, replayed: meta.replayed, text: meta.rawBody, unavailable };
}

/**
 * What a client of one (merchant, key) must see, however many duplicates it sent: one status,
 * one body byte for byte, and exactly one answer that says it was not a replay. Returns the
 * parsed body.
 */
export function expectOneAnswer(answers: HttpAnswer[], status = 201): { id: string; status: string } & Record<string, unknown> {
  expect(answers.length).toBeGreaterThan(0);
  const statuses = count(answers.map((a) => a.status));
  expect(statuses, `statuses, first body: ${answers[0]!.text}`).toEqual({ [status]: answers.length });
  const first = answers[0]!.bytes;
  const different = answers.filter((a) => !a.bytes.equals(first));
  expect(different.map((a) => a.text), 'bodies that differ from the first one').toEqual([]);
  const replayed = count(answers.map((a) => String(a.headers['idempotent-replayed'])));
  expect(replayed).toEqual(answers.length === 1 ? { false: 1 } : { false: 1, true: answers.length - 1 });
  return JSON.parse(answers[0]!.text) as { id: string; status: string } & Record<string, unknown>;
}

/** The gateway's own log entries for one payment (Idem sends the payment id as reference). */
export function gatewayEntries(log: SimulatorLogEntry[], paymentId: string, operation = 'authorize'): SimulatorLogEntry[] {
  return log.filter((e) => e.reference === paymentId && e.operation === operation);
}

/** `{ value: occurrences }`, for assertions that show the whole distribution when they fail. */
export function count<T extends string | number>(values: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** Resolves once `check` returns true, polling every `everyMs`; rejects after `timeoutMs` (scaled by IDEM_TEST_TIME_SCALE), naming what it waited for. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const limit = scaled(timeoutMs);
  const end = Date.now() + limit;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Idem's `idem_gate_events_total` counters from `GET /metrics`, by event. */
export async function gateEvents(client: HttpClient, baseUrl: string): Promise<Record<string, number>> {
  const { text } = await client.request('GET', `${baseUrl}/metrics`);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^idem_gate_events_total\{event="([a-z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Sums the gate counters of several instances. */
export async function clusterGateEvents(client: HttpClient, baseUrls: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const url of baseUrls) for (const [k, v] of Object.entries(await gateEvents(client, url))) out[k] = (out[k] ?? 0) + v;
  return out;
}
