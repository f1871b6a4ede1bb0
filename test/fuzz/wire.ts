import http from 'node:http';
import net from 'node:net';

/**
 * Two ways onto a real socket for the hostile-input fuzzer: `node:http` for everything it is
 * willing to send, and plain bytes on a `net` socket for what it refuses to (control characters
 * in headers, broken request lines, smuggling attempts, invalid UTF-8 in the path).
 */

export interface Origin {
  host: string;
  port: number;
}

export interface WireRequest {
  method: string;
  /** The request-target exactly as it goes on the wire (path and query). */
  target: string;
  /** In order; a name may repeat (a duplicated header). */
  headers: Array<[name: string, value: string]>;
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
}

export interface WireAnswer {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface WireResult {
  /** Every response read from the connection (more than one when requests were pipelined). */
  answers: WireAnswer[];
  /** How the exchange went wrong on the client side (reset, timeout), if it did. */
  error?: string;
  /** Whether `node:http` refused the request, so it went out as raw bytes. */
  viaRawBytes: boolean;
  /** Every status line seen on the connection, even in a response that could not be read whole. */
  statusLines: number[];
}

/**
 * Sends one request with `node:http` (a fresh connection each time). When `node:http` will not
 * build it (characters it refuses in a header, the method or the path), the same request is
 * written by hand and sent as raw bytes instead.
 */
export async function sendRequest(origin: Origin, request: WireRequest, timeoutMs = 10_000): Promise<WireResult> {
  let req: http.ClientRequest | undefined;
  try {
    req = http.request({ host: origin.host, port: origin.port, method: request.method, path: request.target, agent: false, timeout: timeoutMs });
    const byName = new Map<string, string[]>();
    for (const [name, value] of request.headers) byName.set(name, [...(byName.get(name) ?? []), value]);
    for (const [name, values] of byName) req.setHeader(name, values.length === 1 ? values[0]! : values);
    if (request.body !== undefined && !request.chunked && !byName.has('content-length')) req.setHeader('content-length', request.body.length);
    if (request.chunked) req.setHeader('transfer-encoding', 'chunked');
  } catch {
    // Not sent yet, but its connection may be open: close it rather than leave it to the server.
    req?.on('error', () => {});
    req?.destroy();
    return sendBytes(origin, serialize(request, origin), { timeoutMs, head: request.method === 'HEAD' });
  }
  const sending = req;
  return new Promise<WireResult>((resolve) => {
    let settled = false;
    const done = (r: WireResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    sending.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => done({ answers: [], error: `response: ${err.message}`, viaRawBytes: false, statusLines: [res.statusCode ?? 0] }));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        const status = res.statusCode ?? 0;
        done({ answers: [{ status, headers, body: Buffer.concat(chunks) }], viaRawBytes: false, statusLines: [status] });
      });
    });
    sending.on('timeout', () => sending.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    sending.on('error', (err) => done({ answers: [], error: err.message, viaRawBytes: false, statusLines: [] }));
    if (request.body === undefined) sending.end();
    else if (request.chunked) {
      // Several chunks, so the server's body limit is enforced while streaming, not on one piece.
      const piece = Math.max(1, Math.ceil(request.body.length / 4));
      for (let at = 0; at < request.body.length; at += piece) sending.write(request.body.subarray(at, at + piece));
      sending.end();
    } else sending.end(request.body);
  });
}

/** The request as HTTP/1.1 bytes (UTF-8 for anything outside ASCII), closing the connection after. */
export function serialize(request: WireRequest, origin: Origin): Buffer {
  const names = new Set(request.headers.map(([n]) => n.toLowerCase()));
  let head = `${request.method} ${request.target} HTTP/1.1\r\n`;
  if (!names.has('host')) head += `Host: ${origin.host}:${origin.port}\r\n`;
  for (const [name, value] of request.headers) head += `${name}: ${value}\r\n`;
  if (request.body !== undefined && !names.has('content-length')) head += `Content-Length: ${request.body.length}\r\n`;
  head += 'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'utf8'), request.body ?? Buffer.alloc(0)]);
}

/**
 * Writes `bytes` to a new connection and reads until the server closes it (or `timeoutMs`).
 * `end` half-closes after writing, for requests the server could otherwise wait on forever.
 */
export function sendBytes(origin: Origin, bytes: Buffer, options: { timeoutMs?: number; end?: boolean; head?: boolean } = {}): Promise<WireResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<WireResult>((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = net.connect(origin.port, origin.host);
    const timer = setTimeout(() => {
      error = `connection still open after ${timeoutMs} ms`;
      socket.destroy();
    }, timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.end) socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => (error ??= err.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const answers = parseAnswers(raw, options.head === true);
      const statusLines = [...raw.toString('latin1').matchAll(/(?:^|\r?\n)HTTP\/\d\.\d (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ answers, viaRawBytes: true, statusLines, ...(error !== undefined && answers.length === 0 ? { error } : {}) });
    });
  });
}

/** Every HTTP/1.x response in `raw`, in order; stops at the first thing it cannot read. */
export function parseAnswers(raw: Buffer, head: boolean): WireAnswer[] {
  const answers: WireAnswer[] = [];
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = raw.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let bodyStart = end + 4;
    let body: Buffer;
    if (head) body = Buffer.alloc(0);
    else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) break;
        const size = parseInt(raw.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        bodyStart = lineEnd + 2;
        if (!(size > 0)) {
          bodyStart += 2;
          break;
        }
        parts.push(raw.subarray(bodyStart, bodyStart + size));
        bodyStart += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      body = raw.subarray(bodyStart, bodyStart + Number(headers['content-length']));
      bodyStart += body.length;
    } else {
      body = raw.subarray(bodyStart);
      bodyStart = raw.length;
    }
    answers.push({ status: Number(m[1]), headers, body });
    at = bodyStart;
  }
  return answers;
}

/** A connection that sends `bytes` (perhaps nothing) and then stalls, as a slow or idle client does. */
export async function openStalledConnection(origin: Origin, bytes: string): Promise<net.Socket> {
  const socket = net.connect(origin.port, origin.host);
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (bytes.length > 0) socket.write(bytes);
  return socket;
}
