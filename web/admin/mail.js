// The outgoing mail queue (GET /admin/mail): what waits, what went out, what was given up and why.
// Bodies are never shown (a reset mail holds a live link).

import { h, replace, t } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

export class MailView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.status = h(
      'select#mail-status',
      { 'aria-label': t('admin.mail.filter'), onchange: () => this.load() },
      h('option', { value: 'all' }, t('admin.mail.all')),
      h('option', { value: 'queued' }, t('admin.mail.queued')),
      h('option', { value: 'failed' }, t('admin.mail.failed')),
      h('option', { value: 'sent' }, t('admin.mail.sent')),
    );
    this.list = h('ul.cards#mail-list');
    replace(
      container,
      heading(t('admin.nav.mail'), h('button.chip', { type: 'button', onclick: () => this.load() }, t('common.reload'))),
      h('div.filters', this.status),
      this.list,
    );
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/mail?status=${this.status.value}&limit=100`));
    if (!res) return;
    if (!res.mails.length) {
      replace(this.list, h('li.empty-list.muted', t('admin.mail.none')));
      return;
    }
    replace(this.list, res.mails.map((m) => this.item(m)));
  }

  item(m) {
    const when = m.sent_at ?? m.failed_at ?? m.next_attempt_at;
    const state = t(`admin.mail.state_${m.status}`, { when: dateTime(when) });
    return h(
      `li.card.mail.mail-${m.status}`,
      { dataset: { id: m.id, status: m.status } },
      h('div.card-head', h('strong', m.recipient), h('span.small', m.subject), h('span.small.muted', `${m.kind} · ${m.language}`)),
      h('p.small', `${state} · ${t('admin.mail.tries', { count: m.attempts })}`),
      m.last_error ? h('p.small.mail-error', m.last_error) : null,
    );
  }

  stop() {}
}
