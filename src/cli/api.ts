/**
 * The CLI's one way to read a running instance over HTTP (`idem payments`, `idem events tail`,
 * `idem gateways`): plain `fetch`, shaped like the SDK's client (`payments.get/list`,
 * `events.stream`, `gateways.list` of `idem/client`), so the commands can switch to it by
 * changing what `connectApi` returns. Reads only: nothing here retries or mints keys.
 */

/** A payment as `GET /v1/payments/{id}` answers (the fields the CLI prints; docs/payments.md). */
export interface PaymentView {
  id: string;
  status: string;
  amount: number;
  currency: string;
  capture_method: string;
  reference: string | null;
  gateway: string | null;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  amount_voided: number;
  created_at: string;
  updated_at?: string;
  attempts?: Array<{ id: string; operation: string; gateway: string; status: string; amount?: number | null; created_at?: string }>;
  [field: string]: unknown;
}

export interface PaymentPage {
  data: PaymentView[];
  has_more: boolean;
  next_cursor: string | null;
}

/** An event as the feed and the stream carry it (docs/events.md). */
export interface EventView {
  id: string;
  type: string;
  created_at: string;
  payment_id: string | null;
  sequence: number | null;
  data: Record<string, unknown>;
  [field: string]: unknown;
}

/** A problem answer (or no answer), with the stable code when the server gave one (docs/errors.md). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    /** The problem's stable `code`; absent when the instance could not be reached or did not say. */
    readonly code: string | undefined,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ApiOptions {
  baseUrl: string;
  apiKey: string;
  /** Per request, not per stream. Default 10 s. */
  timeoutMs?: number;
}

export interface StreamOptions {
  /** Resume after this event id (sent as `Last-Event-ID`). */
  startingAfter?: string;
  /** Event types, e.g. `['payment.captured']`. */
  types?: readonly string[];
  signal?: AbortSignal;
}

/** The read-only client the commands use. */
export interface IdemApi {
  payments: {
    get(id: string): Promise<PaymentView>;
    list(params?: { limit?: number; cursor?: string }): Promise<PaymentPage>;
  };
  events: {
    /** The events as they come, for ever (until `signal` aborts); reconnects from the last id when the stream drops. */
    stream(options?: StreamOptions): AsyncIterable<EventView>;
  };
  gateways: { list(): Promise<{ policy: string; data: unknown[] }> };
}

/** A client for the instance at `baseUrl`. */
export function connectApi(o: ApiOptions): IdemApi {
  const base = o.baseUrl.replace(/\/+$/, '');
  const timeoutMs = o.timeoutMs ?? 10_000;
  const get = async <T>(path: string): Promise<T> => (await request(base, path, o.apiKey, AbortSignal.timeout(timeoutMs))).json() as Promise<T>;
  return {
    payments: {
      get: (id) => get(`/v1/payments/${encodeURIComponent(id)}`),
      list: (p = {}) => get(`/v1/payments${query({ limit: p.limit, cursor: p.cursor })}`),
    },
    events: { stream: (s = {}) => eventStream(base, o.apiKey, s) },
    gateways: { list: () => get('/v1/gateways') },
  };
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

async function request(base: string, path: string, apiKey: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
  const url = base + path;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${apiKey}`, ...headers }, signal });
  } catch (err) {
    if (signal.aborted && (signal.reason as Error | undefined)?.name === 'AbortError') throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(`cannot reach ${base} (${cause?.code ?? cause?.message ?? (err as Error).message})`, undefined, undefined, { cause: err });
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  let problem: { code?: unknown; detail?: unknown; title?: unknown } = {};
  try {
    problem = JSON.parse(text) as typeof problem;
  } catch {
    // Not problem+json (a proxy's page): the status says enough.
  }
  const code = typeof problem.code === 'string' ? problem.code : undefined;
  const detail = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : res.statusText;
  throw new ApiError(`GET ${path} answered ${res.status}: ${detail}`, code, res.status);
}

/**
 * `GET /v1/events/stream` as events. Server-Sent Events: `id:`, `event:`, `data:` lines, a
 * blank line ends an event, `:` starts a comment (the heartbeat), `retry:` sets the reconnect
 * delay. A dropped stream is opened again after that delay with the last id seen.
 */
async function* eventStream(base: string, apiKey: string, s: StreamOptions): AsyncGenerator<EventView> {
  let lastId = s.startingAfter;
  let retryMs = 1_000;
  const signal = s.signal ?? new AbortController().signal;
  const path = `/v1/events/stream${query({ type: s.types?.join(',') })}`;
  while (!signal.aborted) {
    let res: Response;
    try {
      res = await request(base, path, apiKey, signal, { accept: 'text/event-stream', ...(lastId !== undefined ? { 'last-event-id': lastId } : {}) });
    } catch (err) {
      if (signal.aborted) return;
      // Refused by the instance (bad key, bad type): no point asking again. Unreachable: ask again.
      if (!(err instanceof ApiError) || err.status !== undefined) throw err;
      await pause(retryMs, signal);
      continue;
    }
    try {
      for await (const frame of frames(res.body!)) {
        if (frame.retry !== undefined) retryMs = frame.retry;
        if (frame.data === undefined) continue;
        const event = JSON.parse(frame.data) as EventView;
        lastId = frame.id ?? event.id;
        yield event;
      }
    } catch (err) {
      if (signal.aborted) return;
      if (!(err instanceof TypeError) && (err as Error).name !== 'TypeError') throw err;
      // The connection dropped mid-stream: resume from the last id.
    }
    await pause(retryMs, signal);
  }
}

interface Frame {
  id?: string;
  data?: string;
  retry?: number;
}

/** Splits a Server-Sent Events body into frames (the fields the stream uses). */
export async function* frames(body: ReadableStream<Uint8Array>): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      yield parseFrame(block);
    }
  }
}

/** One frame's fields; `data:` lines are joined with newlines, comments dropped. */
export function parseFrame(block: string): Frame {
  const frame: Frame = {};
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') frame.id = value;
    else if (field === 'data') data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  if (data.length > 0) frame.data = data.join('\n');
  return frame;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
