// Contact-form entries (GET /admin/contacts): read, and delete once handled.

import { h, replace, t } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

export class ContactsView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.list = h('ul.cards#contact-list');
    replace(container, heading(t('contacts.title'), h('button.chip', { type: 'button', onclick: () => this.load() }, t('common.reload'))), this.list);
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', '/admin/contacts?limit=100'));
    if (!res) return;
    if (!res.contacts.length) {
      replace(this.list, h('li.empty-list.muted', t('contacts.empty')));
      return;
    }
    replace(this.list, res.contacts.map((c) => this.item(c)));
  }

  item(c) {
    const li = h(
      'li.card.contact',
      { dataset: { id: c.id } },
      h('div.card-head', h('strong', c.name), h('a.small', { href: `mailto:${c.email}` }, c.email), h('time.small.muted', { datetime: c.created_at }, dateTime(c.created_at))),
      h('p.contact-message', c.message),
      h(
        'div.card-actions',
        h('button.chip.danger', {
          type: 'button',
          'aria-label': t('contacts.delete_from', { name: c.name }),
          onclick: async () => {
            const done = await attempt(() => this.ctx.client.api('DELETE', `/admin/contacts/${c.id}`));
            if (done !== undefined) {
              li.remove();
              if (!this.list.children.length) this.load();
            }
          },
        }, t('contacts.delete')),
      ),
    );
    return li;
  }

  stop() {}
}
