import { api } from '../api.js';
import { dateTime, html, maskToken, money, Problem, StateBadge, usePoll } from '../ui.js';

/** What a timeline entry is, for its marker and its words. */
export function kindOf(type) {
  if (type === 'payment.failover') return 'failover';
  if (type === 'attempt.retry_scheduled' || type === 'attempt.deferred') return 'retry';
  if (type === 'attempt.unknown') return 'recovery';
  if (type.startsWith('reconciliation.')) return 'remediation';
  if (type.startsWith('attempt.')) return 'attempt';
  if (type === 'webhook.delivery') return 'webhook';
  return 'state';
}

const META = ['request_id', 'attempt_no', 'operation', 'gateway', 'gateway_key', 'trace_id'];

function Entry({ e }) {
  const kind = kindOf(e.type);
  const attempt = e.data?.attempt;
  const detail =
    e.type === 'payment.failover'
      ? `from ${e.data.from} to ${e.data.to}`
      : e.type === 'webhook.delivery'
        ? `${e.delivery.event_type} to ${e.delivery.endpoint_id}: ${e.delivery.state}, ${e.delivery.attempts} send(s), last status ${e.delivery.last_status ?? '—'}${e.delivery.duration_ms === null ? '' : `, settled in ${e.delivery.duration_ms} ms`}`
        : attempt
          ? `${attempt.operation} #${attempt.attempt_no} at ${attempt.gateway}, ${money(attempt.amount, '')}${e.data.decline_code ? ` (${e.data.decline_code})` : ''}`
          : e.data?.why ?? e.data?.payment?.status ?? '';
  const meta = META.filter((k) => e.metadata?.[k] !== undefined).map((k) => [k, e.metadata[k]]);
  return html`<li class=${`saga-${kind}`}>
    <span class="saga-kind">${kind}</span>
    <time datetime=${e.created_at}>${dateTime(e.created_at)}</time>${' '}
    <strong>${e.type}</strong> <span>${detail}</span>
    ${meta.length ? html`<dl class="meta">${meta.map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${String(v)}</dd>`)}</dl>` : null}
  </li>`;
}

async function loadSaga(id) {
  const [payment, events, ledger, deliveries, records] = await Promise.all([
    api.payment(id),
    api.paymentEvents(id),
    api.ledger(id),
    api.paymentDeliveries(id),
    api.gatewayRecords(id),
  ]);
  const timeline = [
    ...events.data,
    ...deliveries.data.map((d) => ({ id: d.id, type: 'webhook.delivery', created_at: d.completed_at ?? d.created_at, delivery: d, metadata: { } })),
  ].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  return { payment, timeline, ledger: ledger.data, records: records.data };
}

export function Payment({ id, live }) {
  const { data, error } = usePoll(() => loadSaga(id), 0, [id, live]);
  if (!data) return html`<section><h2>Payment ${id}</h2><${Problem} error=${error} /><p>Loading…</p></section>`;
  const { payment: p, timeline, ledger, records } = data;
  return html`<section>
    <p><a href="#/payments">← All payments</a></p>
    <h2>Payment ${p.id} <${StateBadge} state=${p.status} kind="payment state" /></h2>
    <dl class="facts">
      <dt>Amount</dt><dd>${money(p.amount, p.currency)} (${p.capture_method} capture)</dd>
      <dt>Gateway</dt><dd>${p.gateway ?? '—'}</dd>
      <dt>Reference</dt><dd>${p.reference ?? '—'}</dd>
      <dt>Card</dt><dd>${maskToken(p.payment_method.token)}</dd>
      <dt>Idempotency key</dt><dd class="mono">${p.idempotency_key}</dd>
      <dt>Authorized / captured / refunded</dt><dd>${money(p.amount_authorized, p.currency)} / ${money(p.amount_captured, p.currency)} / ${money(p.amount_refunded, p.currency)}</dd>
    </dl>
    <h3>Saga</h3>
    <ol class="saga" aria-label="Saga timeline">${timeline.map((e) => html`<${Entry} key=${e.id} e=${e} />`)}</ol>
    <h3>Ledger</h3>
    <table class="list">
      <caption class="visually-hidden">Journal entries</caption>
      <thead><tr><th scope="col">Entry</th><th scope="col">Account</th><th scope="col">Amount</th></tr></thead>
      <tbody>${ledger.flatMap((entry) => entry.postings.map((x, i) => html`<tr><td>${i === 0 ? entry.event : ''}</td><td>${x.account}</td><td class="num">${money(x.amount, entry.currency)}</td></tr>`))}</tbody>
    </table>
    <h3>Gateway records (reconciliation)</h3>
    ${records.length === 0
      ? html`<p>No record read from the gateways' logs yet.</p>`
      : html`<table class="list">
          <caption class="visually-hidden">The gateways' own records</caption>
          <thead><tr><th scope="col">Gateway</th><th scope="col">Record</th><th scope="col">Operation</th><th scope="col">Status</th><th scope="col">Amount</th><th scope="col">Executed</th><th scope="col">Verdict</th></tr></thead>
          <tbody>${records.map((r) => html`<tr><td>${r.gateway}</td><td class="mono">${r.id}</td><td>${r.operation}</td><td>${r.status}</td><td class="num">${money(r.amount, r.currency)}</td><td>${dateTime(r.executed_at)}</td><td>${r.verdict ?? 'not settled yet'}</td></tr>`)}</tbody>
        </table>`}
  </section>`;
}
