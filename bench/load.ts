/**
 * One load run with autocannon, every response checked: a benchmark whose requests fail is
 * measuring the wrong thing, so each response is compared with what it should be and the
 * failures are counted and sampled.
 */
import http from 'node:http';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  path: string;
  connections: number;
  durationS: number;
  headers: Record<string, string>;
  body: string;
  /** Requests per second offered in total (autocannon's overallRate); absent: as fast as answered. */
  rate?: number;
  /** When set, every request carries `Idempotency-Key: <prefix><n>` with a fresh n. */
  uniqueKeyPrefix?: string;
  /** Checks one response; returns why it is wrong, or null when it is right. */
  check: (response: CheckedResponse) => string | null;
  /**
   * A response the server shed as it should (the overload row: 503 `UNAVAILABLE` with
   * `Retry-After`): counted apart, neither right nor wrong. Absent: nothing is shed.
   */
  shed?: (response: CheckedResponse) => boolean;
}

export interface CheckedResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
  key: string | undefined;
}

export interface LoadResult {
  /** Responses per second over the run (every response, right or wrong). */
  rps: number;
  responses: number;
  /** Responses that passed `check`. */
  ok: number;
  durationS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  timeouts: number;
  /** Responses that failed `check` (non-2xx included). */
  wrong: number;
  samples: string[];
  /** Responses `shed` accepted. */
  shed: number;
  /**
   * Latency of the right responses alone (from the request being written to its answer), when
   * `shed` is given: what an admitted request took while others were shed.
   */
  admitted?: { p50Ms: number; p99Ms: number };
}

/** Keys stay unique across every run of one process (warm-ups included). */
let keySeq = 0;

export async function load(spec: LoadSpec): Promise<LoadResult> {
  let ok = 0;
  let wrong = 0;
  let shed = 0;
  const admittedMs: number[] = [];
  const samples: string[] = [];
  const headers = { 'content-type': 'application/json', ...spec.headers };
  const request: autocannon.Request = {
    method: 'POST',
    path: spec.path,
    headers,
    body: spec.body,
    onResponse(status, body, context, responseHeaders) {
      const lower: Record<string, string> = {};
      for (const [k, v] of Object.entries(responseHeaders ?? {})) lower[k.toLowerCase()] = String(v);
      const response = { status, body, headers: lower, key: (context as { key?: string }).key };
      if (spec.shed?.(response)) {
        shed++;
        return;
      }
      const why = spec.check(response);
      if (why === null) {
        ok++;
        const sentAt = (context as { sentAt?: number }).sentAt;
        if (spec.shed && sentAt !== undefined) admittedMs.push(performance.now() - sentAt);
        return;
      }
      wrong++;
      if (samples.length < 3) samples.push(`${why} (status ${status}: ${body.slice(0, 300)})`);
    },
  };
  const prefix = spec.uniqueKeyPrefix;
  if (prefix !== undefined) {
    // Runs before every request is written: a new key each time, remembered in the
    // per-request context so the check can see that the answer is for this request.
    request.setupRequest = (req, context) => {
      const key = `${prefix}${++keySeq}`;
      (context as { key?: string }).key = key;
      // One request per connection at a time: it is written as soon as it is set up.
      (context as { sentAt?: number }).sentAt = performance.now();
      return { ...req, headers: { ...headers, 'idempotency-key': key } };
    };
  }
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    ...(spec.rate ? { overallRate: spec.rate } : {}),
    requests: [request],
  });
  const responses = result.requests.total;
  return {
    rps: responses / result.duration,
    responses,
    ok,
    durationS: result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    wrong,
    samples,
    shed,
    ...(spec.shed ? { admitted: { p50Ms: percentile(admittedMs, 0.5), p99Ms: percentile(admittedMs, 0.99) } } : {}),
  };
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** True when the run saw nothing but right answers. */
export function clean(r: LoadResult): boolean {
  return r.errors === 0 && r.timeouts === 0 && r.non2xx === r.shed && r.wrong === 0 && r.ok > 0;
}

/**
 * The same load from clients that honour `Retry-After`, as Idem's own clients do (the demo's
 * traffic, docs/errors.md): each of `connections` clients sends one request at a time over
 * its own kept-alive socket; a response `shed` accepts is sent again with the same key after
 * the seconds its `Retry-After` asks, anything else ends that key and the next one starts.
 * Counted as `load` counts (only answers that arrive within `durationS`); a request without an
 * answer within 10 s is a timeout, as in autocannon.
 */
export async function politeLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
  const target = new URL(spec.path, spec.url);
  const started = performance.now();
  const end = started + spec.durationS * 1000;
  const r = { responses: 0, ok: 0, wrong: 0, shed: 0, non2xx: 0, errors: 0, timeouts: 0 };
  const samples: string[] = [];
  const all: number[] = [];
  const admitted: number[] = [];
  const send = (key: string | undefined) =>
    new Promise<CheckedResponse>((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(spec.body)), ...spec.headers };
      if (key !== undefined) headers['idempotency-key'] = key;
      const req = http.request(target, { method: 'POST', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const lower: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) lower[k] = String(v);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: lower, key });
        });
      });
      req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', reject);
      req.end(spec.body);
    });
  const client = async () => {
    while (performance.now() < end) {
      const key = spec.uniqueKeyPrefix === undefined ? undefined : `${spec.uniqueKeyPrefix}${++keySeq}`;
      for (;;) {
        const t0 = performance.now();
        let answer: CheckedResponse;
        try {
          answer = await send(key);
        } catch (err) {
          // As autocannon counts them: a timeout is an error too.
          if (performance.now() < end) {
            r.errors++;
            if ((err as { code?: string }).code === 'TIMEOUT') r.timeouts++;
          }
          break;
        }
        const t1 = performance.now();
        if (t1 > end) return;
        r.responses++;
        all.push(t1 - t0);
        if (answer.status < 200 || answer.status > 299) r.non2xx++;
        if (spec.shed?.(answer)) {
          r.shed++;
          const waitMs = Number(answer.headers['retry-after']) * 1000;
          if (t1 + waitMs >= end) return;
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          continue;
        }
        const why = spec.check(answer);
        if (why === null) {
          r.ok++;
          admitted.push(t1 - t0);
        } else {
          r.wrong++;
          if (samples.length < 3) samples.push(`${why} (status ${answer.status}: ${answer.body.slice(0, 300)})`);
        }
        break;
      }
    }
  };
  let giveUp: NodeJS.Timeout | undefined;
  try {
    // Clients still waiting past the end (a request up to its 10 s timeout) are not waited for long.
    await Promise.race([Promise.all(Array.from({ length: spec.connections }, client)), new Promise((resolve) => (giveUp = setTimeout(resolve, spec.durationS * 1000 + 15_000)))]);
  } finally {
    clearTimeout(giveUp);
    agent.destroy();
  }
  const durationS = spec.durationS;
  return {
    rps: r.responses / durationS,
    responses: r.responses,
    ok: r.ok,
    durationS,
    latencyP50Ms: percentile(all, 0.5),
    latencyP99Ms: percentile(all, 0.99),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    wrong: r.wrong,
    samples,
    shed: r.shed,
    admitted: { p50Ms: percentile(admitted, 0.5), p99Ms: percentile(admitted, 0.99) },
  };
}
