/**
 * One call, sent until it has a final answer (docs/client.md, "Retries"): the idempotency key is
 * minted here, at the origin, once per call, and every retry carries the same one. What is
 * retried and how long to wait come from ./retry.ts; time, sleep, randomness and `fetch` are
 * injected, so the rules are tested deterministically.
 */
import { IdemApiError, IdemConnectionError, IdemStillProcessingError, type Problem } from './errors.js';
import { uuidv7 } from './keys.js';
import type { CallMeta } from './meta.js';
import { backoffMs, defaultRetry, retryAfterMs, verdictOf, type RetryOptions } from './retry.js';

export type { CallMeta };

/** Everything the client takes from its environment. */
export interface ClientRuntime {
  fetch: typeof globalThis.fetch;
  /** Milliseconds since the Unix epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1): jitter and the random bits of minted keys. */
  random(): number;
}

/** A call's parsed answer and what it took to get it. */
export interface CallResult<T> {
  data: T;
  meta: CallMeta;
}

/** Reported after every attempt: the answer (or error) and the wait before the next one. */
export interface AttemptReport {
  method: string;
  path: string;
  idempotencyKey: string | null;
  /** 1 for the first request. */
  attempt: number;
  status: number | null;
  code: string | undefined;
  body: string | null;
  error: unknown;
  /** The answer's headers; null when no answer came. */
  headers: Headers | null;
  /** The wait before the next attempt; null when this attempt was the last. */
  retryInMs: number | null;
}

export interface ClientHooks {
  /** Before each request goes out. */
  beforeAttempt?(a: { method: string; path: string; idempotencyKey: string | null; attempt: number }): void;
  afterAttempt?(a: AttemptReport): void;
}

/** Per-call options of every method. */
export interface CallOptions {
  /** The key to send (a POST); absent: one is minted for this call (UUIDv7). */
  idempotencyKey?: string;
  /** Ends the call at once, retries included. */
  signal?: AbortSignal;
  /** This call's retry limits, over the client's. */
  retry?: RetryOptions;
}

export interface Request extends CallOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, unknown> | undefined;
  body?: unknown;
  /** The route answers 202 while an outcome is unknown: retry it (the payment POSTs). */
  pendingOn202?: boolean;
}

export interface TransportOptions {
  baseUrl: string | (() => string | Promise<string>);
  apiKey: string;
  runtime: ClientRuntime;
  retry: RetryOptions;
  /** One attempt's limit (default 30 s). */
  timeoutMs: number;
  hooks: ClientHooks;
}

export class Transport {
  constructor(private readonly o: TransportOptions) {}

  get runtime(): ClientRuntime {
    return this.o.runtime;
  }

  async call<T>(req: Request): Promise<CallResult<T>> {
    const { runtime, hooks } = this.o;
    const retry = { ...defaultRetry, ...this.o.retry, ...req.retry };
    const started = runtime.now();
    const key = req.method === 'POST' ? (req.idempotencyKey ?? uuidv7(started, () => runtime.random())) : null;
    const meta: CallMeta = { method: req.method, path: req.path, idempotencyKey: key, attempts: 0, status: null, requestId: null, replayed: false, rawBody: '' };
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.apiKey}`, accept: 'application/json, application/problem+json' };
    if (key !== null) headers['idempotency-key'] = key;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    for (;;) {
      req.signal?.throwIfAborted();
      meta.attempts++;
      hooks.beforeAttempt?.({ method: req.method, path: req.path, idempotencyKey: key, attempt: meta.attempts });
      const url = joinUrl(await this.baseUrl(), req.path, req.query);
      const timeout = AbortSignal.timeout(this.o.timeoutMs);
      let res: Response | null = null;
      let error: unknown;
      try {
        res = await runtime.fetch(url, { method: req.method, headers, body, signal: req.signal ? AbortSignal.any([req.signal, timeout]) : timeout });
        meta.rawBody = await res.text();
      } catch (err) {
        if (req.signal?.aborted) throw err;
        res = null;
        error = err;
      }
      meta.status = res?.status ?? null;
      meta.requestId = res?.headers.get('request-id') ?? null;
      meta.replayed = res?.headers.get('idempotent-replayed') === 'true';
      if (!res) meta.rawBody = '';
      const parsed = res ? parseJson(meta.rawBody) : undefined;
      const code = codeOf(parsed);
      const verdict = res ? verdictOf(res.status, code, req.pendingOn202 === true) : 'retry';
      let wait: number | null = null;
      if (verdict === 'retry') {
        const floor = res ? retryAfterMs(res.headers.get('retry-after'), runtime.now()) : 0;
        const next = backoffMs(retry, meta.attempts - 1, runtime.random(), floor);
        if (meta.attempts < retry.maxAttempts && runtime.now() + next - started <= retry.deadlineMs) wait = next;
      }
      hooks.afterAttempt?.({ method: req.method, path: req.path, idempotencyKey: key, attempt: meta.attempts, status: meta.status, code, body: res ? meta.rawBody : null, error, headers: res?.headers ?? null, retryInMs: wait });
      if (wait !== null) {
        await runtime.sleep(wait);
        continue;
      }
      const done = { ...meta };
      if (!res) throw new IdemConnectionError(`${req.method} ${req.path}: no answer after ${done.attempts} attempts (${String(error)})`, done, error);
      if (res.status >= 200 && res.status < 300 && verdict === 'final') return { data: parsed as T, meta: done };
      if (verdict === 'retry' && res.status < 500) {
        throw new IdemStillProcessingError(`${req.method} ${req.path}: still in progress after ${done.attempts} attempts (key ${key})`, done, parsed);
      }
      throw new IdemApiError(res.status, isProblem(parsed) ? parsed : null, done);
    }
  }

  private async baseUrl(): Promise<string> {
    const b = this.o.baseUrl;
    return typeof b === 'string' ? b : await b();
  }
}

export function joinUrl(base: string, path: string, query?: Record<string, unknown>): string {
  const url = base.replace(/\/+$/, '') + path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) params.append(k, Array.isArray(v) ? v.join(',') : String(v));
  const q = params.toString();
  return q ? `${url}?${q}` : url;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function codeOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
}

function isProblem(body: unknown): body is Problem {
  return codeOf(body) !== undefined;
}
