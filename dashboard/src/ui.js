// Small shared pieces: htm bound to Preact, formatting, the state badge, tables.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

export const money = (amount, currency) => `${(amount / 100).toFixed(2)}${currency ? ` ${currency}` : ''}`;
export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '—');
export const dateTime = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) : '—');

/** A card token shown by its last four characters: the page never prints one whole. */
export const maskToken = (token) => (token ? `tok_…${token.slice(-4)}` : '—');

/** A key shown by its first characters, enough to tell two apart. */
export const maskKey = (key) => (key ? `${key.slice(0, 6)}…` : '—');

/** A state with its colour and its name spoken: the colour is never the only signal. */
export function StateBadge({ state, kind = 'state' }) {
  return html`<span class=${`badge badge-${state}`} role="status" aria-label=${`${kind}: ${state}`}>${state}</span>`;
}

export function Problem({ error }) {
  return error ? html`<p class="problem" role="alert">${error.message}${error.code ? ` (${error.code})` : ''}</p>` : null;
}

/** Calls `load` now and every `ms`, keeping the last answer and error; stops when the view goes. */
export function usePoll(load, ms, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let live = true;
    const tick = () =>
      load().then(
        (data) => live && setState({ data, error: null }),
        (error) => live && setState((s) => ({ data: s.data, error })),
      );
    tick();
    const timer = ms > 0 ? setInterval(tick, ms) : null;
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, deps);
  return state;
}
