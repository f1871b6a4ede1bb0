import { api } from '../api.js';
import { Chart } from '../chart.js';
import { dateTime, html, Problem, StateBadge, usePoll } from '../ui.js';

/** Each gateway's samples while the page is open (the API answers the present; the page keeps the past). */
const history = new Map();
const KEEP = 300;

function remember(list) {
  const at = Date.now() / 1000;
  for (const g of list.data) {
    const h = history.get(g.name) ?? [];
    h.push({ at, success: Math.round(g.success_rate * 1000) / 10, p50: g.latency_ms.p50, p99: g.latency_ms.p99 });
    if (h.length > KEEP) h.shift();
    history.set(g.name, h);
  }
  return list;
}

const EVIDENCE = [
  ['answers', 'Answers seen'],
  ['failure_cusum', 'Failure CUSUM'],
  ['degraded_cusum', 'Degradation CUSUM'],
  ['latency_cusum', 'Latency CUSUM'],
  ['baseline_failure_rate', 'Baseline failure rate'],
  ['baseline_latency_ms', 'Baseline latency (ms)'],
  ['state_changes_last_minute', 'State changes in the last minute'],
];
const fmt = (v) => (v === null ? '—' : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v));

function Gateway({ g }) {
  const h = history.get(g.name) ?? [];
  const xs = h.map((s) => s.at);
  return html`<article class="card gateway" aria-labelledby=${`gw-${g.name}`}>
    <h3 id=${`gw-${g.name}`}>${g.name} <${StateBadge} state=${g.state} kind=${`${g.name} state`} /></h3>
    <dl class="facts">
      <dt>Breaker</dt><dd><${StateBadge} state=${g.breaker} kind=${`${g.name} breaker`} /></dd>
      <dt>Since</dt><dd>${dateTime(g.since)}</dd>
      <dt>Success rate</dt><dd>${(g.success_rate * 100).toFixed(1)} %</dd>
      <dt>Latency p50 / p99</dt><dd>${fmt(g.latency_ms.p50)} / ${fmt(g.latency_ms.p99)} ms</dd>
      <dt>Retry delay</dt><dd>${g.retry_delay_ms} ms</dd>
      <dt>Retry budget</dt><dd>${fmt(g.retry_budget.retries)} of ${fmt(g.retry_budget.allowed)} allowed</dd>
    </dl>
    <div class="charts">
      <${Chart} title=${`${g.name} success rate`} unit=" %" range=${[0, 100]} xs=${xs} series=${[{ label: 'success', values: h.map((s) => s.success) }]} />
      <${Chart} title=${`${g.name} latency`} unit=" ms" xs=${xs} series=${[
        { label: 'p50', values: h.map((s) => s.p50) },
        { label: 'p99', values: h.map((s) => s.p99) },
      ]} />
    </div>
    <table class="evidence">
      <caption>Detector evidence behind the state (${g.state} since ${dateTime(g.since)})</caption>
      <tbody>${EVIDENCE.map(([k, label]) => html`<tr><th scope="row">${label}</th><td>${fmt(g.evidence[k])}</td></tr>`)}</tbody>
    </table>
  </article>`;
}

export function Gateways() {
  const { data, error } = usePoll(() => api.gateways().then(remember), 1000);
  return html`<section>
    <h2>Gateways</h2>
    <p class="hint">Learned from every instance's traffic${data ? ` (policy: ${data.policy})` : ''}; refreshed every second.</p>
    <${Problem} error=${error} />
    ${data ? html`<div class="gateways">${data.data.map((g) => html`<${Gateway} key=${g.name} g=${g} />`)}</div>` : html`<p>Loading…</p>`}
  </section>`;
}
