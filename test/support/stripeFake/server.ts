/**
 * A local Stripe on loopback, enough of its API for the `stripe` library as Idem uses it
 * (docs/gateways.md, "Stripe: the local fake"): PaymentIntents (create + confirm, capture,
 * cancel, retrieve, search), Refunds, Charges, balance transactions and events (lists). It keeps Stripe's idempotency
 * semantics — same key and same parameters: the first answer again (a saved 500 too); same key,
 * other parameters: 400 `idempotency_error`; a key still running: 409 — and takes faults on
 * command: answers lost after executing, 429, saved 500s, latency, outage (the port refuses
 * connections), search lag. `log()` is its own record of what it executed, for I1.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createBank, type FakeAnswer, type FakeLogEntry } from './bank.js';

export type { FakeLogEntry } from './bank.js';

/** What the fake does wrong, on command. */
export interface StripeFakeFaults {
  /** Every answer waits this long (ms) after executing. */
  latencyMs: number;
  /** Operations execute, are saved under their key, and the connection is dropped before the answer. */
  loseAnswers: boolean;
  /** Operations are refused with 429 `rate_limit` (nothing executed, nothing saved). */
  rateLimit: boolean;
  /** `Retry-After` (seconds) on a 429; none when undefined (Stripe usually sends none). */
  retryAfterSeconds: number | undefined;
  /** Operations execute (`'after'`) or not (`'before'`), and 500 is the answer saved under the key. */
  error500: false | 'before' | 'after';
  /** PaymentIntents written within this many ms are not found by search yet. */
  searchLagMs: number;
}

export interface StripeFake {
  url: string;
  /** The key the fake accepts (`Authorization: Bearer …`). */
  secretKey: string;
  log(): FakeLogEntry[];
  /** Requests received, by route, for tests that count lookups. */
  requests(): Array<{ method: string; path: string; idempotencyKey: string | undefined }>;
  setFaults(faults: Partial<StripeFakeFaults>): void;
  /** On: the port refuses connections. Off: it listens again on the same port. */
  outage(on: boolean): Promise<void>;
  close(): Promise<void>;
}

const NO_FAULTS: StripeFakeFaults = { latencyMs: 0, loseAnswers: false, rateLimit: false, retryAfterSeconds: undefined, error500: false, searchLagMs: 0 };

type Stored = { fingerprint: string; answer: FakeAnswer | 'running' };

/** Starts the fake on 127.0.0.1 on a free port. */
export async function startStripeFake(options: { secretKey?: string; now?: () => number } = {}): Promise<StripeFake> {
  const secretKey = options.secretKey ?? 'sk_test_idemfake0000000000000000';
  const now = options.now ?? Date.now;
  const bank = createBank(now);
  const keys = new Map<string, Stored>();
  const seen: Array<{ method: string; path: string; idempotencyKey: string | undefined }> = [];
  const sockets = new Set<Socket>();
  let faults = { ...NO_FAULTS };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    const key = header(req, 'idempotency-key');
    seen.push({ method: req.method ?? '', path: url.pathname, idempotencyKey: key });
    if (header(req, 'authorization') !== `Bearer ${secretKey}`) {
      return send(res, { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } } });
    }
    if (req.method === 'GET') return send(res, read(url));
    const params = parseForm(body);
    const route = operationOf(url.pathname);
    if (route === undefined) return send(res, { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${url.pathname})` } } });
    if (faults.rateLimit) {
      const headers: Record<string, string> = faults.retryAfterSeconds === undefined ? {} : { 'retry-after': String(faults.retryAfterSeconds) };
      return send(res, { status: 429, body: { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly.' } } }, headers);
    }
    // Stripe's idempotency: the key, the route and the parameters.
    const fingerprint = `${req.method} ${url.pathname} ${canonical(params)}`;
    const stored = key === undefined ? undefined : keys.get(key);
    if (stored !== undefined) {
      if (stored.fingerprint !== fingerprint) {
        return send(res, {
          status: 400,
          body: { error: { type: 'idempotency_error', message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.` } },
        });
      }
      if (stored.answer === 'running') {
        return send(res, { status: 409, body: { error: { type: 'invalid_request_error', code: 'idempotency_key_in_use', message: 'There is currently another in-progress request using this Idempotency Key.' } } });
      }
      return answer(res, stored.answer, { 'idempotent-replayed': 'true' });
    }
    const record: Stored = { fingerprint, answer: 'running' };
    if (key !== undefined) keys.set(key, record);
    let result: FakeAnswer;
    if (faults.error500 === 'before') result = serverError();
    else {
      result = route.run(key ?? '', params);
      if (faults.error500 === 'after') result = serverError();
    }
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    record.answer = result;
    return answer(res, result, {});
  }

  function answer(res: ServerResponse, result: FakeAnswer, headers: Record<string, string>): void {
    if (faults.loseAnswers) {
      res.socket?.destroy();
      return;
    }
    send(res, result, headers);
  }

  function operationOf(path: string): { run: (key: string, p: Record<string, any>) => FakeAnswer } | undefined {
    if (path === '/v1/payment_intents') return { run: (key, p) => bank.authorize(key, p) };
    if (path === '/v1/refunds') return { run: (key, p) => bank.refund(key, p) };
    const m = /^\/v1\/payment_intents\/([^/]+)\/(capture|cancel)$/.exec(path);
    if (m === null) return undefined;
    return { run: (key, p) => (m[2] === 'capture' ? bank.capture(key, decodeURIComponent(m[1]!), p) : bank.cancel(key, decodeURIComponent(m[1]!))) };
  }

  function read(url: URL): FakeAnswer {
    const q = parseForm(url.search.slice(1));
    if (url.pathname === '/v1/payment_intents/search') return bank.search(String(q.query ?? ''), faults.searchLagMs);
    if (url.pathname === '/v1/refunds') return bank.refundsOf(String(q.payment_intent ?? ''));
    if (url.pathname === '/v1/balance_transactions') return bank.balanceTransactions(q);
    if (url.pathname === '/v1/charges') return bank.charges(q);
    if (url.pathname === '/v1/events') return bank.events(q);
    const m = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
    if (m !== null) return bank.retrieve(decodeURIComponent(m[1]!));
    return { status: 404, body: { error: { type: 'invalid_request_error', message: `Unrecognized request URL (GET: ${url.pathname})` } } };
  }

  let server = await listen(0);
  const port = (server.address() as AddressInfo).port;

  function listen(on: number): Promise<Server> {
    const s = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => send(res, { status: 500, body: { error: { type: 'api_error', message: String(err) } } }));
    });
    s.keepAliveTimeout = 1000;
    s.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(on, '127.0.0.1', () => resolve(s));
    });
  }

  async function stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    log: () => bank.log.map((e) => ({ ...e })),
    requests: () => [...seen],
    setFaults(partial) {
      faults = { ...faults, ...partial };
    },
    async outage(on) {
      if (on && server.listening) await stop();
      else if (!on && !server.listening) server = await listen(port);
    },
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

function serverError(): FakeAnswer {
  return { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
}

function send(res: ServerResponse, result: FakeAnswer, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, { 'content-type': 'application/json', 'request-id': `req_fake${Math.floor(Math.random() * 1e9)}`, ...headers });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Stripe's form encoding: `a[b][c]=v`, `list[]=v` or `list[0]=v`. */
export function parseForm(text: string): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const path = name.split('[').map((part, i) => (i === 0 ? part : part.replace(/\]$/, '')));
    let node: any = out;
    for (let i = 0; i < path.length; i++) {
      const part = path[i]!;
      const last = i === path.length - 1;
      const nextIsList = !last && (path[i + 1] === '' || /^\d+$/.test(path[i + 1]!));
      if (Array.isArray(node)) {
        if (last) node.push(value);
        else {
          const child = nextIsList ? [] : {};
          node.push(child);
          node = child;
        }
        continue;
      }
      if (last) node[part] = value;
      else node = node[part] ??= nextIsList ? [] : {};
    }
  }
  return out;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}
