// Overview: the server's numbers (GET /admin/stats), polled every few seconds while shown and
// reloaded at once when the WebSocket reports activity (a new message or support chat); below
// them the last 30 days (GET /admin/stats/history) as charts: messages and new support chats
// per day, and the median time to the first answer. Above them, a warning while some webhook
// endpoint is disabled (GET /admin/webhooks), linking to the webhooks view.

import { h, replace, redraw, t } from '../app/dom.js';
import { number, timeOfDay } from '../i18n/i18n.js';
import { debounce, duration, heading } from './common.js';
import { barChart, count } from './charts.js';
import { serverText } from '../errors.js';

const POLL_MS = 5000;
/** The history changes by the day: reloaded far less often than the counters. */
const HISTORY_POLL_MS = 60000;

const CARDS = [
  ['users_total', () => t('overview.users')],
  ['users_online', () => t('overview.online')],
  ['connections', () => t('overview.connections')],
  ['rooms_total', () => t('overview.rooms')],
  ['messages_total', () => t('overview.messages')],
  ['messages_today', () => t('overview.messages_today')],
  ['support_open', () => t('overview.support_open')],
  ['avg_first_response_secs', () => t('overview.first_response')],
];

export class OverviewView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.stopped = new AbortController();
    this.grid = h('div.stats#stats', { 'aria-live': 'polite' });
    this.updated = h('span.small.muted#stats-updated');
    this.notice = h('p.form-error#webhook-notice', { role: 'status' });
    this.charts = h('section.charts#charts', { 'aria-label': t('charts.title') });
    replace(container, heading(t('admin.nav.overview'), this.updated), this.notice, this.grid, h('h3.charts-head', t('charts.title')), this.charts);
    this.load();
    this.loadHistory();
    this.timer = setInterval(() => this.load(), POLL_MS);
    this.historyTimer = setInterval(() => this.loadHistory(), HISTORY_POLL_MS);
    const soon = debounce(() => this.load(), 400);
    const signal = AbortSignal.any([ctx.signal, this.stopped.signal]);
    for (const type of ['message', 'support.session_created', 'support.session_closed', 'hello']) {
      ctx.client.addEventListener(type, soon, { signal });
    }
  }

  async load() {
    let stats;
    try {
      stats = await this.ctx.client.api('GET', '/admin/stats');
    } catch (err) {
      this.updated.textContent = t('overview.load_failed', { reason: serverText(err) });
      return;
    }
    if (this.stopped.signal.aborted) return;
    replace(
      this.grid,
      CARDS.map(([key, label]) =>
        h(
          'div.stat',
          { dataset: { stat: key } },
          h('span.stat-value', key === 'avg_first_response_secs' ? duration(stats[key]) : number(stats[key] ?? 0)),
          h('span.stat-label', label()),
        ),
      ),
    );
    this.updated.textContent = t('overview.updated', { time: timeOfDay(new Date()) });
    await this.loadNotice();
  }

  /** The disabled webhook endpoints, if any: the admins' mail may go unread. */
  async loadNotice() {
    let list;
    try {
      list = await this.ctx.client.api('GET', '/admin/webhooks');
    } catch {
      // The counters' own failure message already says the server cannot be reached.
      return;
    }
    if (this.stopped.signal.aborted) return;
    const disabled = list.webhooks.filter((w) => !w.enabled).length;
    // Drawn every few seconds: `redraw` keeps a keyboard user on the link.
    redraw(this.notice, disabled ? [h('a#webhooks-notice', { href: '#webhooks' }, t('overview.webhooks_disabled', { count: disabled }))] : []);
  }

  async loadHistory() {
    let history;
    try {
      history = await this.ctx.client.api('GET', '/admin/stats/history?days=30');
    } catch (err) {
      replace(this.charts, h('p.form-error', t('charts.load_failed', { reason: serverText(err) })));
      return;
    }
    if (this.stopped.signal.aborted) return;
    const days = history.days;
    // A details element the reader opened stays open across the reload.
    const open = new Set([...this.charts.querySelectorAll('details[open]')].map((d) => d.closest('figure')?.id));
    redraw(
      this.charts,
      barChart({ id: 'chart-messages', title: t('charts.messages'), days, value: (d) => d.messages, show: count }),
      barChart({ id: 'chart-sessions', title: t('charts.sessions'), days, value: (d) => d.support_sessions, show: count }),
      barChart({ id: 'chart-response', title: t('charts.response'), days, value: (d) => d.median_first_response_secs, show: duration }),
    );
    for (const id of open) if (id) document.getElementById(id)?.querySelector('details')?.setAttribute('open', '');
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.historyTimer);
    this.stopped.abort();
  }
}
