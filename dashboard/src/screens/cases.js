import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { dateTime, html, money, Problem, StateBadge, usePoll } from '../ui.js';

/** Idem's side of a case: the attempt it names, from the payment (null when Idem has none). */
function idemSide(c, payment) {
  const attempt = payment?.attempts.find((a) => a.id === c.evidence.idem_attempt_id) ?? null;
  if (!payment) return null;
  return {
    operation: attempt?.operation ?? '—',
    status: attempt?.status ?? payment.status,
    amount: attempt ? money(attempt.amount, payment.currency) : money(payment.amount, payment.currency),
    gateway: attempt?.gateway ?? payment.gateway ?? '—',
    gateway_key: attempt?.gateway_key ?? '—',
    reference: payment.id,
  };
}

function gatewaySide(c) {
  const r = c.evidence.gateway_record;
  if (!r) return null;
  return {
    operation: r.operation,
    status: r.status,
    amount: money(r.amount, r.currency),
    gateway: r.gateway,
    gateway_key: r.gatewayKey ?? '—',
    reference: r.reference ?? '—',
  };
}

const FIELDS = ['operation', 'status', 'amount', 'gateway', 'gateway_key', 'reference'];

function SideBySide({ c, payment }) {
  const idem = idemSide(c, payment);
  const gw = gatewaySide(c);
  return html`<table class="compare">
    <caption>Idem's record and the gateway's, side by side (differences marked)</caption>
    <thead><tr><th scope="col">Field</th><th scope="col">Idem</th><th scope="col">Gateway</th></tr></thead>
    <tbody>
      ${FIELDS.map((f) => {
        const a = idem?.[f] ?? 'no record';
        const b = gw?.[f] ?? 'no record';
        const differs = a !== b;
        return html`<tr class=${differs ? 'differs' : ''}>
          <th scope="row">${f}${differs ? html` <span class="diff-mark">differs</span>` : null}</th>
          <td class="mono">${a}</td><td class="mono">${b}</td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function CaseDetail({ c, onResolved, readOnly }) {
  const { data: payment } = usePoll(() => (c.payment_id ? api.payment(c.payment_id).catch(() => null) : Promise.resolve(null)), 0, [c.id]);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const text = new FormData(e.currentTarget).get('resolution').trim();
    if (text === '') return setError(new Error('Write what was done: the resolution is required.'));
    try {
      setDone(await api.resolveCase(c.id, text));
      setError(null);
      onResolved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<article class="card" aria-labelledby="case-title">
    <h3 id="case-title">Case ${c.id} <${StateBadge} state=${done?.status ?? c.status} kind="case status" /></h3>
    <dl class="facts">
      <dt>Class</dt><dd>${c.class}</dd>
      <dt>Team</dt><dd>${c.team}</dd>
      <dt>Gateway</dt><dd>${c.gateway}</dd>
      <dt>Payment</dt><dd>${c.payment_id ? html`<a href=${`#/payments/${c.payment_id}`}>${c.payment_id}</a>` : 'none at Idem'}</dd>
      <dt>Why</dt><dd>${c.evidence.why ?? '—'}</dd>
      <dt>Action taken</dt><dd>${c.action}${c.action_result ? ` (${c.action_result})` : ''}</dd>
      <dt>Opened</dt><dd>${dateTime(c.opened_at)}</dd>
    </dl>
    <${SideBySide} c=${c} payment=${payment} />
    ${done
      ? html`<p role="status">Resolved: ${done.resolution}</p>`
      : c.status === 'open' && !readOnly
        ? html`<form onSubmit=${submit} novalidate>
            <label for="resolution">Resolution (required)</label>
            <textarea id="resolution" name="resolution" rows="3" maxlength="2000" aria-required="true"></textarea>
            <button type="submit">Resolve case</button>
            <${Problem} error=${error} />
          </form>`
        : null}
  </article>`;
}

export function Cases({ live, readOnly }) {
  const [version, setVersion] = useState(0);
  const { data, error } = usePoll(() => api.cases('open'), 5000, [live, version]);
  const [selected, setSelected] = useState(null);
  const byClass = new Map();
  for (const c of data?.data ?? []) byClass.set(c.class, [...(byClass.get(c.class) ?? []), c]);
  return html`<section>
    <h2>Reconciliation cases</h2>
    <${Problem} error=${error} />
    ${data && data.data.length === 0 ? html`<p>No open cases.</p>` : null}
    ${[...byClass].map(
      ([cls, cases]) => html`<h3>${cls} (${cases.length} open)</h3>
        <ul class="cases">${cases.map((c) => html`<li key=${c.id}><button type="button" aria-pressed=${selected?.id === c.id} onClick=${() => setSelected(c)}>${c.id}: ${c.gateway}, ${c.payment_id ?? 'no payment'}, opened ${dateTime(c.opened_at)}</button></li>`)}</ul>`,
    )}
    ${selected ? html`<${CaseDetail} key=${selected.id} c=${selected} readOnly=${readOnly} onResolved=${() => setVersion((v) => v + 1)} />` : null}
  </section>`;
}
