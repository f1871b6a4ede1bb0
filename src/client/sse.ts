/**
 * `GET /v1/events/stream` read as Server-Sent Events (docs/events.md, "Feed and stream"): each
 * event is `id:`, `event:`, `data:` (JSON); lines starting with `:` keep the connection alive.
 * A dropped connection or a 5xx is retried with the client's backoff and `Last-Event-ID`, so
 * the stream resumes right after the last event it yielded; any other 4xx ends it with an
 * {@link IdemApiError}.
 */
import { IdemApiError, type Problem } from './errors.js';
import { backoffMs, defaultRetry, retryAfterMs, type RetryOptions } from './retry.js';
import { joinUrl, type CallMeta, type ClientRuntime } from './transport.js';
import type { Event, EventStreamQuery } from './types.js';

export interface EventStream extends AsyncIterable<Event> {
  /** Ends the stream (the open connection too). */
  close(): void;
  /** The id of the last event yielded: where a reconnect resumes. */
  readonly lastEventId: string | undefined;
}

interface StreamOptions {
  runtime: ClientRuntime;
  baseUrl: string | (() => string | Promise<string>);
  apiKey: string;
  query: EventStreamQuery;
  signal: AbortSignal | undefined;
  retry: RetryOptions;
}

export function streamEvents(o: StreamOptions): EventStream {
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const state: { lastEventId: string | undefined } = { lastEventId: o.query.starting_after };
  const retry = { ...defaultRetry, ...o.retry };

  async function* run(): AsyncGenerator<Event> {
    let failures = 0;
    while (!signal.aborted) {
      const base = typeof o.baseUrl === 'string' ? o.baseUrl : await o.baseUrl();
      const query = { ...o.query, starting_after: undefined };
      const headers: Record<string, string> = { authorization: `Bearer ${o.apiKey}`, accept: 'text/event-stream' };
      if (state.lastEventId !== undefined) headers['last-event-id'] = state.lastEventId;
      let floor = 0;
      try {
        const res = await o.runtime.fetch(joinUrl(base, '/v1/events/stream', query), { headers, signal });
        if (res.status >= 400 && res.status < 500) {
          const text = await res.text();
          const meta: CallMeta = { method: 'GET', path: '/v1/events/stream', idempotencyKey: null, attempts: failures + 1, status: res.status, requestId: res.headers.get('request-id'), replayed: false, rawBody: text };
          throw new IdemApiError(res.status, problemOf(text), meta);
        }
        if (res.status === 200 && res.body) {
          failures = 0;
          for await (const e of parse(res.body)) {
            state.lastEventId = e.id;
            yield e.event;
          }
        } else floor = retryAfterMs(res.headers.get('retry-after'), o.runtime.now());
      } catch (err) {
        if (signal.aborted || err instanceof IdemApiError) throw err;
      }
      if (signal.aborted) return;
      await o.runtime.sleep(backoffMs(retry, failures++, o.runtime.random(), floor));
    }
  }

  const iterator = run();
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => iterator.next().catch((err: unknown) => (signal.aborted ? { done: true as const, value: undefined } : Promise.reject(err))),
      return: async () => {
        stop.abort();
        return iterator.return(undefined);
      },
    }),
    close: () => stop.abort(),
    get lastEventId() {
      return state.lastEventId;
    },
  };
}

/** The events of one connection, as they arrive. */
async function* parse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ id: string | undefined; event: Event }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length > 0) yield { id, event: JSON.parse(data.join('\n')) as Event };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function problemOf(text: string): Problem | null {
  try {
    const p = JSON.parse(text) as Problem;
    return typeof p.code === 'string' ? p : null;
  } catch {
    return null;
  }
}
