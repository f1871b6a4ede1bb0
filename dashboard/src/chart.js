// A time-series chart on uPlot. Its points are also on the element (`data-points`) and summed up
// in its accessible name, so a person using a screen reader, and a test, read what it draws.
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './ui.js';

const COLOURS = ['#1b6ac9', '#2e8540', '#b3261e', '#9a6700', '#6f42c1', '#00838f', '#5d4037'];

/**
 * @param {{ title: string, xs: number[], series: Array<{ label: string, values: Array<number|null> }>, unit?: string, range?: [number, number] }} props
 *   xs in seconds since the epoch.
 */
export function Chart({ title, xs, series, unit = '', range }) {
  const box = useRef(null);
  const plot = useRef(null);
  const data = [xs, ...series.map((s) => s.values)];
  const shape = series.map((s) => s.label).join('|');
  const drawn = xs.length >= 2;
  useEffect(() => {
    if (!drawn) return undefined;
    const width = Math.max(260, box.current.clientWidth || 360);
    plot.current = new uPlot(
      {
        width,
        height: 160,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: true }, ...(range ? { y: { range } } : {}) },
        axes: [{ stroke: '#333' }, { stroke: '#333', size: 64, values: (_u, ticks) => ticks.map((t) => `${t}${unit}`) }],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true, points: { show: true, size: 4 } }))],
      },
      data,
      box.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, drawn]);
  useEffect(() => plot.current?.setData(data), [JSON.stringify(data)]);
  const last = series.map((s) => `${s.label} ${s.values.length ? (s.values[s.values.length - 1] ?? '—') : '—'}${unit}`).join(', ');
  const points = JSON.stringify(Object.fromEntries(series.map((s) => [s.label, s.values])));
  if (!drawn) {
    return html`<figure class="chart"><figcaption>${title}</figcaption><p class="hint" data-chart=${title} data-points=${points}>Collecting samples…</p></figure>`;
  }
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} role="img" aria-label=${`${title}: ${xs.length} points; latest ${last}`} data-points=${points} data-chart=${title}></div>
  </figure>`;
}
