import http, { type IncomingHttpHeaders } from 'node:http';

/**
 * A small HTTP client over real sockets, with a socket pool wide enough that a burst of
 * requests is in flight at once rather than queued behind a few connections.
 *
 * It uses `node:http` rather than `fetch` because the pool size has to be set: undici (behind
 * `fetch`) is not a dependency of this project, so its `Agent({ connections })` cannot be
 * imported, while `http.Agent({ maxSockets })` states the same thing with the standard library.
 */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body exactly as received. */
  bytes: Buffer;
  /** The body as UTF-8 text. */
  text: string;
}

export interface HttpClient {
  request(method: string, url: string, options?: { headers?: Record<string, string>; body?: string; timeoutMs?: number }): Promise<HttpAnswer>;
  /** How many sockets the pool has opened so far (to check the burst was really concurrent). */
  socketsOpened(): number;
  close(): void;
}

/** @param maxSockets per origin (host:port); at least 64 for the concurrency tests. */
export function createHttpClient(maxSockets = 128): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const seen = new WeakSet<object>();
  let opened = 0;

  return {
    request(method, url, options = {}) {
      return new Promise<HttpAnswer>((resolve, reject) => {
        const headers: Record<string, string> = { ...options.headers };
        if (options.body !== undefined) {
          headers['content-type'] ??= 'application/json';
          headers['content-length'] = String(Buffer.byteLength(options.body));
        }
        const req = http.request(url, { method, headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const bytes = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text: bytes.toString('utf8') });
          });
        });
        req.on('socket', (socket) => {
          if (seen.has(socket)) return;
          seen.add(socket);
          opened++;
        });
        req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error(`${method} ${url}: no answer within ${options.timeoutMs ?? 60_000} ms`)));
        req.on('error', reject);
        req.end(options.body);
      });
    },
    socketsOpened: () => opened,
    close: () => agent.destroy(),
  };
}
