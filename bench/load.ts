/**
 * One load run with autocannon, every response checked: a benchmark whose requests fail is
 * measuring the wrong thing, so each response is compared with what it should be and the
 * failures are counted and sampled.
 */
import autocannon from 'autocannon';
import { IdemClient, type CreatePaymentParams } from '../src/client/index.js';

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
 * The same load from clients that honour `Retry-After`, as Idem's own clients do: each of
 * `connections` clients is `idem/client` (docs/client.md) sending one `POST /v1/payments` at a
 * time; a response `shed` accepts is sent again with the same key after the SDK's default
 * backoff (jittered, capped, never shorter than its `Retry-After`), anything else ends that key and the
 * next one starts. Counted as `load` counts (only answers that arrive within `durationS`); a
 * request without an answer within 10 s is a timeout, as in autocannon.
 */
export async function politeLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.path !== '/v1/payments') throw new Error(`politeLoad sends POST /v1/payments, not ${spec.path}`);
  const apiKey = (spec.headers.authorization ?? '').replace(/^Bearer /, '');
  const body = JSON.parse(spec.body) as CreatePaymentParams;
  const started = performance.now();
  const end = started + spec.durationS * 1000;
  const r = { responses: 0, ok: 0, wrong: 0, shed: 0, non2xx: 0, errors: 0, timeouts: 0 };
  const samples: string[] = [];
  const all: number[] = [];
  const admitted: number[] = [];
  const client = async () => {
    let t0 = 0;
    let stop = new AbortController();
    const idem = new IdemClient({
      baseUrl: spec.url,
      apiKey,
      timeoutMs: 10_000,
      // The SDK's own backoff (docs/client.md, "Retries"): capped exponential with jitter,
      // never shorter than Retry-After — what Idem's clients do, not a wait of exactly Retry-After.
      retry: { maxAttempts: Infinity, deadlineMs: spec.durationS * 1000 + 15_000 },
      hooks: {
        beforeAttempt: () => (t0 = performance.now()),
        afterAttempt: (a) => {
          const t1 = performance.now();
          if (a.status === null) {
            // As autocannon counts them: a timeout is an error too. Either ends the key.
            if (t1 < end) {
              r.errors++;
              if ((a.error as { name?: string } | undefined)?.name === 'TimeoutError') r.timeouts++;
            }
            return stop.abort();
          }
          if (t1 > end) return stop.abort();
          r.responses++;
          all.push(t1 - t0);
          if (a.status < 200 || a.status > 299) r.non2xx++;
          const answer: CheckedResponse = { status: a.status, body: a.body ?? '', headers: Object.fromEntries(a.headers?.entries() ?? []), key: a.idempotencyKey ?? undefined };
          if (spec.shed?.(answer)) {
            r.shed++;
            if (a.retryInMs === null || t1 + a.retryInMs >= end) stop.abort();
            return;
          }
          const why = spec.check(answer);
          if (why === null) {
            r.ok++;
            admitted.push(t1 - t0);
          } else {
            r.wrong++;
            if (samples.length < 3) samples.push(`${why} (status ${answer.status}: ${answer.body.slice(0, 300)})`);
          }
          if (a.retryInMs !== null) stop.abort(); // checked as final: not sent again
        },
      },
    });
    while (performance.now() < end) {
      const key = spec.uniqueKeyPrefix === undefined ? undefined : `${spec.uniqueKeyPrefix}${++keySeq}`;
      stop = new AbortController();
      await idem.payments.create(body, { ...(key !== undefined ? { idempotencyKey: key } : {}), signal: stop.signal }).catch(() => {});
    }
  };
  let giveUp: NodeJS.Timeout | undefined;
  try {
    // Clients still waiting past the end (a request up to its 10 s timeout) are not waited for long.
    await Promise.race([Promise.all(Array.from({ length: spec.connections }, client)), new Promise((resolve) => (giveUp = setTimeout(resolve, spec.durationS * 1000 + 15_000)))]);
  } finally {
    clearTimeout(giveUp);
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
