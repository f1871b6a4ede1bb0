/**
 * One load run with autocannon, every response checked: a benchmark whose requests fail is
 * measuring the wrong thing, so each response is compared with what it should be and the
 * failures are counted and sampled.
 */
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
