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
}

/** Keys stay unique across every run of one process (warm-ups included). */
let keySeq = 0;

export async function load(spec: LoadSpec): Promise<LoadResult> {
  let ok = 0;
  let wrong = 0;
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
      const why = spec.check({ status, body, headers: lower, key: (context as { key?: string }).key });
      if (why === null) {
        ok++;
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
  };
}

/** True when the run saw nothing but right answers. */
export function clean(r: LoadResult): boolean {
  return r.errors === 0 && r.timeouts === 0 && r.non2xx === 0 && r.wrong === 0 && r.ok > 0;
}
