import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Chart } from '../chart.js';
import { html, Problem, usePoll } from '../ui.js';

const FINAL = ['captured', 'authorized', 'declined', 'failed', 'voided', 'refunded'];
const REFUSED = ['payment.declined', 'payment.failed'];

/** The last 60 minutes as minute starts (seconds), with each minute's counts (empty when none). */
export function lastHour(overview, now = Date.now()) {
  const byMinute = new Map(overview.minutes.map((m) => [Date.parse(m.minute), m.counts]));
  const end = Math.floor(now / 60_000) * 60_000;
  const xs = [];
  const counts = [];
  for (let t = end - 59 * 60_000; t <= end; t += 60_000) {
    xs.push(t / 1000);
    counts.push(byMinute.get(t) ?? {});
  }
  return { xs, counts };
}

const sum = (c, types) => types.reduce((n, t) => n + (c[t] ?? 0), 0);
/** Of the payments that ended this minute approved or refused, the share approved (%). A payment authorized then captured counts once. */
const approval = (c) => {
  const approved = Math.max(c['payment.authorized'] ?? 0, c['payment.captured'] ?? 0);
  const all = approved + sum(c, REFUSED);
  return all === 0 ? null : Math.round((approved / all) * 1000) / 10;
};

/** Samples this instance's counters while the page is open: per-sample increases. */
function useInstanceSeries(instance) {
  const samples = useRef([]);
  const [, bump] = useState(0);
  useEffect(() => {
    if (!instance) return;
    samples.current = [...samples.current.slice(-59), { at: Date.now() / 1000, ...instance }];
    bump((n) => n + 1);
  }, [instance && JSON.stringify(instance), instance]);
  const s = samples.current;
  const delta = (k) => s.map((x, i) => (i === 0 ? 0 : x[k] - s[i - 1][k]));
  return { xs: s.map((x) => x.at), held: delta('held_duplicates'), replays: delta('replays'), recoveries: delta('recoveries') };
}

export function Overview({ live }) {
  const { data, error } = usePoll(api.overview, 5000, [live]);
  const instanceSeries = useInstanceSeries(data?.instance);
  if (!data) return html`<section><h2>Overview</h2><${Problem} error=${error} /><p>Loading…</p></section>`;
  const { xs, counts } = lastHour(data);
  const total = counts.reduce((acc, c) => {
    for (const [k, v] of Object.entries(c)) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }, {});
  const rate = approval(total);
  const tiles = [
    ['Approval rate', rate === null ? '—' : `${rate} %`],
    ['Payments created', total['payment.created'] ?? 0],
    ['Retries', total['attempt.retry_scheduled'] ?? 0],
    ['Failovers', total['payment.failover'] ?? 0],
    ['Remediations', sum(total, ['reconciliation.remediated', 'reconciliation.adopted'])],
    ['Open cases', data.open_cases],
    ['Held duplicates (instance)', data.instance.held_duplicates],
    ['Replays (instance)', data.instance.replays],
    ['Recoveries (instance)', data.instance.recoveries],
  ];
  return html`<section>
    <h2>Overview</h2>
    <p class="hint">${data.scope === 'all_merchants' ? 'All merchants' : 'This merchant'}, the last hour; live. Instance counters are this Idem process's since it started.</p>
    <${Problem} error=${error} />
    <ul class="tiles" aria-label="Last hour in numbers">
      ${tiles.map(([k, v]) => html`<li><span class="tile-label">${k}</span> <strong class="tile-value">${v}</strong></li>`)}
    </ul>
    <div class="charts">
      <${Chart} title="Approval rate per minute" unit=" %" range=${[0, 100]} xs=${xs} series=${[{ label: 'approved', values: counts.map(approval) }]} />
      <${Chart} title="Payments per minute by final state" xs=${xs} series=${FINAL.map((s) => ({ label: s, values: counts.map((c) => c[`payment.${s}`] ?? 0) }))} />
      <${Chart} title="Retries and failovers per minute" xs=${xs} series=${[
        { label: 'retries', values: counts.map((c) => c['attempt.retry_scheduled'] ?? 0) },
        { label: 'failovers', values: counts.map((c) => c['payment.failover'] ?? 0) },
      ]} />
      <${Chart} title="Reconciliation per minute" xs=${xs} series=${[
        { label: 'cases opened', values: counts.map((c) => c['reconciliation.case_opened'] ?? 0) },
        { label: 'cases resolved', values: counts.map((c) => c['reconciliation.case_resolved'] ?? 0) },
        { label: 'remediations', values: counts.map((c) => sum(c, ['reconciliation.remediated', 'reconciliation.adopted'])) },
      ]} />
      <${Chart} title="Held duplicates, replays, recoveries (this instance, per sample)" xs=${instanceSeries.xs} series=${[
        { label: 'held duplicates', values: instanceSeries.held },
        { label: 'replays', values: instanceSeries.replays },
        { label: 'recoveries', values: instanceSeries.recoveries },
      ]} />
    </div>
  </section>`;
}
