// The dashboard's shell (docs/dashboard.md): sign-in, the operator's merchant picker, the
// navigation, the live event stream, and the screen the hash names. The hash carries a screen and
// at most a payment id; never a key.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, followEvents, session } from './api.js';
import { html } from './ui.js';
import { SignIn } from './screens/signin.js';
import { Overview } from './screens/overview.js';
import { Gateways } from './screens/gateways.js';
import { Payments } from './screens/payments.js';
import { Payment } from './screens/payment.js';
import { Cases } from './screens/cases.js';
import { Webhooks } from './screens/webhooks.js';

const SCREENS = [
  ['overview', 'Overview'],
  ['gateways', 'Gateways'],
  ['payments', 'Payments'],
  ['cases', 'Reconciliation'],
  ['webhooks', 'Webhooks'],
];

function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, '').split('/');
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Bumps a number on every event of the stream, so screens refetch what changed; shows the last one. */
function useLive(enabled, scopeKey) {
  const [live, setLive] = useState({ n: 0, last: null });
  useEffect(() => {
    if (!enabled) return undefined;
    let stop = () => {};
    let cancelled = false;
    api.overview().then(
      (o) => {
        if (cancelled) return;
        stop = followEvents(o.last_event_id, (e) => setLive((l) => ({ n: l.n + 1, last: e })));
      },
      () => {},
    );
    return () => {
      cancelled = true;
      stop();
    };
  }, [enabled, scopeKey]);
  return live;
}

function Shell({ who, onSignOut }) {
  const [screen, id] = useRoute();
  const [merchant, setMerchant] = useState(session.merchant());
  const operator = who.viewer === 'operator';
  const scoped = !operator || merchant !== '';
  const live = useLive(scoped, merchant);
  const pick = (e) => {
    session.setMerchant(e.currentTarget.value);
    setMerchant(e.currentTarget.value);
  };
  const current = SCREENS.some(([k]) => k === screen) ? screen : 'overview';
  const needsMerchant = !scoped && (current === 'payments' || current === 'webhooks');
  const view = needsMerchant
    ? html`<section><h2>${current === 'payments' ? 'Payments' : 'Webhooks'}</h2><p>Pick a merchant above: the operator key reads one merchant's payments and webhooks at a time.</p></section>`
    : current === 'payments' && id ? html`<${Payment} id=${id} live=${live.n} />`
    : current === 'gateways' ? html`<${Gateways} />`
    : current === 'payments' ? html`<${Payments} live=${live.n} />`
    : current === 'cases' ? html`<${Cases} live=${live.n} readOnly=${operator} />`
    : current === 'webhooks' ? html`<${Webhooks} live=${live.n} readOnly=${operator} />`
    : html`<${Overview} live=${live.n} />`;
  return html`<div class="shell">
    <header>
      <strong class="brand">Idem</strong>
      <nav aria-label="Screens">
        <ul>${SCREENS.map(([k, label]) => html`<li><a href=${`#/${k}`} aria-current=${current === k ? 'page' : undefined}>${label}</a></li>`)}</ul>
      </nav>
      <div class="who">
        ${operator
          ? html`<label for="merchant">Merchant</label>
              <select id="merchant" value=${merchant} onChange=${pick}>
                <option value="">All merchants</option>
                ${who.data.map((m) => html`<option value=${m.id}>${m.name} (${m.id})</option>`)}
              </select>
              <span class="badge badge-operator">operator, read-only</span>`
          : html`<span>Merchant ${who.data[0]?.name ?? ''}</span>`}
        <span class="live" role="status" aria-label=${scoped ? 'live events' : 'live events off'}>${scoped ? `live · ${live.n} events` : 'pick a merchant for live events'}</span>
        <button type="button" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main">${view}</main>
  </div>`;
}

function App() {
  const [who, setWho] = useState(null);
  const [checking, setChecking] = useState(session.key() !== null);
  useEffect(() => {
    if (session.key() === null) return;
    api.merchants().then(setWho, () => session.signOut()).finally(() => setChecking(false));
  }, []);
  const signOut = () => {
    session.signOut();
    setWho(null);
  };
  if (checking) return html`<p>Checking your key…</p>`;
  return who ? html`<${Shell} who=${who} onSignOut=${signOut} />` : html`<${SignIn} onSignedIn=${setWho} />`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
