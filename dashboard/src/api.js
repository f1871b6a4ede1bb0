// Every call the dashboard makes to Idem, in one place (docs/dashboard.md): the public API over
// fetch, the key in an Authorization header only. The key lives in sessionStorage for this tab;
// it never goes in a URL, a cookie or localStorage. Each request carries a Request-Id starting
// `dash_` so the server's log lines of the dashboard's requests can be told apart.

const KEY = 'idem.apiKey';
const MERCHANT = 'idem.merchant';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? 'UNKNOWN';
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  /** The merchant the operator looks at ('' : all); a merchant key is always its own. */
  merchant: () => sessionStorage.getItem(MERCHANT) ?? '',
  setMerchant: (id) => sessionStorage.setItem(MERCHANT, id),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(MERCHANT);
  },
};

let requests = 0;
const tab = Math.random().toString(36).slice(2, 10);

function headers(extra = {}) {
  const h = { authorization: `Bearer ${session.key()}`, 'request-id': `dash_${tab}_${++requests}`, accept: 'application/json', ...extra };
  const merchant = session.merchant();
  if (merchant !== '') h['idem-merchant'] = merchant;
  return h;
}

const init = (method, extra, body) => ({
  method,
  headers: headers(extra),
  credentials: 'omit',
  cache: 'no-store',
  referrerPolicy: 'no-referrer',
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

async function call(method, path, body, extra) {
  const res = await fetch(path, init(method, extra, body));
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

const get = (path) => call('GET', path);
/** Every POST carries a fresh Idempotency-Key (docs/idempotency.md): a retried click runs once. */
const post = (path, body) => call('POST', path, body, { 'content-type': 'application/json', 'idempotency-key': `dash_${crypto.randomUUID()}` });
const enc = encodeURIComponent;

export const api = {
  merchants: () => get('/v1/merchants'),
  overview: () => get('/v1/overview'),
  gateways: () => get('/v1/gateways'),
  payments: (cursor) => get(`/v1/payments?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`),
  payment: (id) => get(`/v1/payments/${enc(id)}`),
  paymentEvents: (id) => get(`/v1/payments/${enc(id)}/events`),
  ledger: (id) => get(`/v1/payments/${enc(id)}/ledger`),
  paymentDeliveries: (id) => get(`/v1/payments/${enc(id)}/webhook_deliveries`),
  gatewayRecords: (id) => get(`/v1/payments/${enc(id)}/gateway_records`),
  cases: (status) => get(`/v1/reconciliation/cases${status ? `?status=${enc(status)}` : ''}`),
  resolveCase: (id, resolution) => post(`/v1/reconciliation/cases/${enc(id)}/resolve`, { resolution }),
  endpoints: () => get('/v1/webhook_endpoints'),
  endpointDeliveries: (id) => get(`/v1/webhook_endpoints/${enc(id)}/deliveries`),
  replay: (id, from, to) => post(`/v1/webhook_endpoints/${enc(id)}/replay`, { from, to }),
};

/**
 * Follows `/v1/events/stream` (Server-Sent Events) over fetch, so the key travels in a header
 * (EventSource cannot send one). Resumes after `afterId`, and after the last event seen when the
 * connection drops. Returns a function that stops it.
 */
export function followEvents(afterId, onEvent) {
  const stop = new AbortController();
  let last = afterId;
  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const query = last ? `?starting_after=${enc(last)}` : '';
        const res = await fetch(`/v1/events/stream${query}`, { ...init('GET', { accept: 'text/event-stream' }), signal: stop.signal });
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (data === '') continue;
            const event = JSON.parse(data);
            last = event.id;
            onEvent(event);
          }
        }
      } catch {
        if (stop.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
  return () => stop.abort();
}
