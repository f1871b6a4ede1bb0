import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { dateTime, html, money, Problem, StateBadge } from '../ui.js';

/** What the search box matches: id, reference, idempotency key, state, gateway, amount. */
const haystack = (p) => [p.id, p.reference ?? '', p.idempotency_key, p.status, p.gateway ?? '', String(p.amount), money(p.amount, p.currency)].join(' ').toLowerCase();

/** The newest payments, searchable in the page (the search text never leaves it), refreshed as events arrive. */
export function Payments({ live }) {
  const [pages, setPages] = useState({ data: [], next: null });
  const [error, setError] = useState(null);
  const [query, setQuery] = useState('');
  useEffect(() => {
    api.payments().then(
      (page) => {
        setPages((old) => {
          const fresh = new Set(page.data.map((p) => p.id));
          return { data: [...page.data, ...old.data.filter((p) => !fresh.has(p.id))], next: old.next ?? page.next_cursor ?? null };
        });
        setError(null);
      },
      setError,
    );
  }, [live]);
  const more = () =>
    api.payments(pages.next).then((page) => setPages((old) => ({ data: [...old.data, ...page.data], next: page.next_cursor ?? null })), setError);
  const q = query.trim().toLowerCase();
  const shown = q === '' ? pages.data : pages.data.filter((p) => haystack(p).includes(q));
  return html`<section>
    <h2>Payments</h2>
    <${Problem} error=${error} />
    <label for="search">Search</label>
    <input id="search" type="search" value=${query} onInput=${(e) => setQuery(e.currentTarget.value)} placeholder="id, reference, idempotency key, state, gateway, amount" />
    <p class="hint" aria-live="polite">${shown.length} of ${pages.data.length} loaded payments</p>
    <table class="list">
      <caption class="visually-hidden">Payments, newest first</caption>
      <thead><tr><th scope="col">Payment</th><th scope="col">Reference</th><th scope="col">Idempotency key</th><th scope="col">State</th><th scope="col">Gateway</th><th scope="col">Amount</th><th scope="col">Created</th></tr></thead>
      <tbody>
        ${shown.map(
          (p) => html`<tr key=${p.id}>
            <td><a href=${`#/payments/${p.id}`}>${p.id}</a></td>
            <td>${p.reference ?? '—'}</td>
            <td class="mono">${p.idempotency_key}</td>
            <td><${StateBadge} state=${p.status} /></td>
            <td>${p.gateway ?? '—'}</td>
            <td class="num">${money(p.amount, p.currency)}</td>
            <td>${dateTime(p.created_at)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${pages.next ? html`<button type="button" onClick=${more}>Load older payments</button>` : null}
  </section>`;
}
