// Overview: the server's numbers (GET /admin/stats), polled every few seconds while shown and
// reloaded at once when the WebSocket reports activity (a new message or support chat).

import { h, replace, t } from '../app/dom.js';
import { number, timeOfDay } from '../i18n/i18n.js';
import { debounce, duration, heading } from './common.js';

const POLL_MS = 5000;

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
    replace(container, heading(t('admin.nav.overview'), this.updated), this.grid);
    this.load();
    this.timer = setInterval(() => this.load(), POLL_MS);
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
      this.updated.textContent = t('overview.load_failed', { reason: err.message });
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
  }

  stop() {
    clearInterval(this.timer);
    this.stopped.abort();
  }
}
