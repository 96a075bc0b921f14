// Small bar charts for the overview's history, drawn as inline SVG with createElementNS (no
// chart library): one bar per day, the largest value and zero on the axis, the first and last
// day below. Colours come from the theme's variables (currentColor and var(--accent-fill)), so
// the charts read the same in the light and the dark theme. Each chart is an image with a text
// alternative, and its numbers are also in a table under it (a <details>), for screen readers
// and for anyone who wants the exact values.

import { h, t } from '../app/dom.js';
import { formatDate, number } from '../i18n/i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 360;
const HEIGHT = 150;
const LEFT = 44;
const BOTTOM = 22;
const TOP = 10;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** '2 Dec' in the reader's language, from 'YYYY-MM-DD' (a UTC day). */
export function dayName(date) {
  return formatDate(`${date}T00:00:00Z`, { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

/**
 * A chart of `days` (the history's entries) by `value(day)` (a number or null), with `show(v)`
 * formatting a value; `id` names it for tests and styles, `title` is its caption.
 */
export function barChart({ id, title, days, value, show }) {
  const values = days.map(value);
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(0, ...known);
  const plotW = WIDTH - LEFT - 6;
  const plotH = HEIGHT - TOP - BOTTOM;
  const slot = plotW / Math.max(1, days.length);
  const bars = values.map((v, i) => {
    if (v === null || v === undefined) return null;
    const barH = max > 0 ? Math.max(v > 0 ? 1.5 : 0, (v / max) * plotH) : 0;
    return svg(
      'rect',
      { class: 'bar', x: (LEFT + i * slot + slot * 0.15).toFixed(1), y: (TOP + plotH - barH).toFixed(1), width: (slot * 0.7).toFixed(1), height: barH.toFixed(1), 'data-date': days[i].date, 'data-value': v },
      svg('title', {}, `${dayName(days[i].date)}: ${show(v)}`),
    );
  });
  const titleId = `${id}-title`;
  const summary = known.length
    ? t('charts.summary', { title, max: show(max), from: dayName(days[0].date), to: dayName(days[days.length - 1].date) })
    : t('charts.summary_empty', { title });
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart-svg', role: 'img', 'aria-labelledby': titleId, focusable: 'false' },
    svg('title', { id: titleId }, summary),
    svg('line', { class: 'axis', x1: LEFT, y1: TOP + plotH + 0.5, x2: WIDTH - 6, y2: TOP + plotH + 0.5 }),
    svg('line', { class: 'grid', x1: LEFT, y1: TOP + 0.5, x2: WIDTH - 6, y2: TOP + 0.5 }),
    svg('text', { class: 'tick', x: LEFT - 6, y: TOP + 4, 'text-anchor': 'end' }, known.length ? show(max) : '–'),
    svg('text', { class: 'tick', x: LEFT - 6, y: TOP + plotH + 4, 'text-anchor': 'end' }, show(0)),
    ...(days.length
      ? [
          svg('text', { class: 'tick', x: LEFT, y: HEIGHT - 5, 'text-anchor': 'start' }, dayName(days[0].date)),
          svg('text', { class: 'tick', x: WIDTH - 6, y: HEIGHT - 5, 'text-anchor': 'end' }, dayName(days[days.length - 1].date)),
        ]
      : []),
    ...bars.filter(Boolean),
  );
  const table = h(
    'table.table.chart-table',
    h('caption.sr-only', title),
    h('thead', h('tr', h('th', { scope: 'col' }, t('charts.day')), h('th', { scope: 'col' }, title))),
    h('tbody', days.map((d, i) => h('tr', h('th', { scope: 'row' }, dayName(d.date)), h('td', values[i] === null || values[i] === undefined ? '–' : show(values[i]))))),
  );
  return h(
    'figure.chart',
    { id, dataset: { max: String(max) } },
    h('figcaption.chart-title', title),
    chart,
    // The key finds the summary again when the charts are drawn anew (`redraw`).
    h('details.chart-data', h('summary', { dataset: { key: id } }, t('charts.as_table')), h('div.table-wrap', table)),
  );
}

/** A count as the charts show it. */
export function count(n) {
  return number(n);
}
