import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { dateTime, html, Problem, StateBadge, usePoll } from '../ui.js';

const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

function Deliveries({ endpoint, live, readOnly }) {
  const [version, setVersion] = useState(0);
  const { data, error } = usePoll(() => api.endpointDeliveries(endpoint.id), 3000, [endpoint.id, live, version]);
  const [replayed, setReplayed] = useState(null);
  const [replayError, setReplayError] = useState(null);
  const replay = async (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const from = new Date(form.get('from')).toISOString();
    const to = new Date(form.get('to')).toISOString();
    try {
      setReplayed(await api.replay(endpoint.id, from, to));
      setReplayError(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setReplayError(err);
    }
  };
  // The range offered first, fixed when the screen opens: the refresh every 3 s keeps what a person typed.
  const [range] = useState(() => ({ from: local(Date.now() - 60 * 60_000), to: local(Date.now() + 60_000) }));
  return html`<article class="card" aria-labelledby="deliveries-title">
    <h3 id="deliveries-title">Deliveries to ${endpoint.url}</h3>
    <${Problem} error=${error} />
    ${readOnly
      ? null
      : html`<form onSubmit=${replay} class="replay">
          <h4>Replay a time range</h4>
          <label for="replay-from">From</label>
          <input id="replay-from" name="from" type="datetime-local" required defaultValue=${range.from} />
          <label for="replay-to">To</label>
          <input id="replay-to" name="to" type="datetime-local" required defaultValue=${range.to} />
          <button type="submit">Replay events</button>
          ${replayed ? html`<p role="status">Queued ${replayed.queued} events again.</p>` : null}
          <${Problem} error=${replayError} />
        </form>`}
    <table class="list">
      <caption class="visually-hidden">Delivery attempts, newest first</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">Payment</th><th scope="col">State</th><th scope="col">Sends</th><th scope="col">Last status</th><th scope="col">Took</th><th scope="col">Queued</th></tr></thead>
      <tbody>${(data?.data ?? []).map(
        (d) => html`<tr key=${d.id}>
          <td>${d.event_type}</td>
          <td>${d.payment_id ? html`<a href=${`#/payments/${d.payment_id}`}>${d.payment_id}</a>` : '—'}</td>
          <td><${StateBadge} state=${d.state} kind="delivery" /></td>
          <td class="num">${d.attempts}</td>
          <td class="num">${d.last_status ?? '—'}${d.last_error ? ` (${d.last_error})` : ''}</td>
          <td class="num">${d.duration_ms === null ? '—' : `${d.duration_ms} ms`}</td>
          <td>${dateTime(d.created_at)}</td>
        </tr>`,
      )}</tbody>
    </table>
  </article>`;
}

export function Webhooks({ live, readOnly }) {
  const { data, error } = usePoll(api.endpoints, 10000, [live]);
  const [selected, setSelected] = useState(null);
  const endpoint = selected ?? data?.data[0] ?? null;
  return html`<section>
    <h2>Webhooks</h2>
    <${Problem} error=${error} />
    ${data && data.data.length === 0 ? html`<p>No webhook endpoints.</p>` : null}
    <ul class="endpoints">
      ${(data?.data ?? []).map(
        (w) => html`<li key=${w.id}>
          <button type="button" aria-pressed=${endpoint?.id === w.id} onClick=${() => setSelected(w)}>${w.url}</button>
          <${StateBadge} state=${w.status} kind=${`endpoint ${w.id}`} /> <span class="hint">${w.event_types ? w.event_types.join(', ') : 'every event'}; since ${dateTime(w.created_at)}</span>
        </li>`,
      )}
    </ul>
    ${endpoint ? html`<${Deliveries} key=${endpoint.id} endpoint=${endpoint} live=${live} readOnly=${readOnly} />` : null}
  </section>`;
}
