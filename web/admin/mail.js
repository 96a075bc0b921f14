// The outgoing mail queue (GET /admin/mail): what waits, what went out, what was given up and why.
// Bodies are never shown (a reset mail holds a live link).

import { h, replace } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

export class MailView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.status = h(
      'select#mail-status',
      { 'aria-label': 'Which mails', onchange: () => this.load() },
      h('option', { value: 'all' }, 'All'),
      h('option', { value: 'queued' }, 'Waiting'),
      h('option', { value: 'failed' }, 'Given up'),
      h('option', { value: 'sent' }, 'Sent'),
    );
    this.list = h('ul.cards#mail-list');
    replace(
      container,
      heading('Mail', h('button.chip', { type: 'button', onclick: () => this.load() }, 'Reload')),
      h('div.filters', this.status),
      this.list,
    );
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/mail?status=${this.status.value}&limit=100`));
    if (!res) return;
    if (!res.mails.length) {
      replace(this.list, h('li.empty-list.muted', 'No mails.'));
      return;
    }
    replace(this.list, res.mails.map((m) => this.item(m)));
  }

  item(m) {
    const when = m.sent_at ?? m.failed_at ?? m.next_attempt_at;
    const label = { queued: 'waiting, next try', sent: 'sent', failed: 'given up' }[m.status];
    return h(
      `li.card.mail.mail-${m.status}`,
      { dataset: { id: m.id, status: m.status } },
      h('div.card-head', h('strong', m.recipient), h('span.small', m.subject), h('span.small.muted', `${m.kind} · ${m.language}`)),
      h('p.small', `${label} ${dateTime(when)} · ${m.attempts} ${m.attempts === 1 ? 'try' : 'tries'}`),
      m.last_error ? h('p.small.mail-error', m.last_error) : null,
    );
  }

  stop() {}
}
