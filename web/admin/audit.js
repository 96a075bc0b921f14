// The audit log (GET /admin/audit-log): every staff action, newest first, paged by id.

import { h, replace, t } from '../app/dom.js';
import { attempt, dateTime, heading, userLabel } from './common.js';

const PAGE = 50;

export class AuditView {
  constructor(ctx, container) {
    this.ctx = ctx;
    /** Actor names by id, looked up once each. */
    this.names = new Map();
    this.body = h('tbody#audit-rows');
    this.more = h('button.chip#audit-more', { type: 'button', hidden: true, onclick: () => this.load(true) }, t('audit.older'));
    replace(
      container,
      heading(t('admin.nav.audit'), h('button.chip', { type: 'button', onclick: () => this.load(false) }, t('common.reload'))),
      h(
        'div.table-wrap',
        h('table.table', h('thead', h('tr', [t('audit.when'), t('audit.who'), t('audit.action'), t('audit.target'), t('audit.details')].map((label) => h('th', { scope: 'col' }, label)))), this.body),
      ),
      this.more,
    );
    this.oldest = null;
    this.load(false);
  }

  async load(older) {
    const before = older && this.oldest !== null ? `&before_id=${this.oldest}` : '';
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/audit-log?limit=${PAGE}${before}`));
    if (!res) return;
    if (!older) this.body.replaceChildren();
    for (const e of res.entries) this.body.append(this.row(e));
    if (res.entries.length) this.oldest = res.entries[res.entries.length - 1].id;
    this.more.hidden = res.entries.length < PAGE;
    if (!older && !res.entries.length) this.body.append(h('tr', h('td.muted', { colspan: 5 }, t('audit.empty'))));
  }

  row(e) {
    // No actor: the operator on the command line (details.via) or an account deleted since.
    const who = h('span', e.actor_id ? e.actor_id.slice(0, 8) : e.details?.via === 'cli' ? t('audit.cli') : t('audit.deleted_account'));
    if (e.actor_id) this.name(e.actor_id).then((n) => { who.textContent = n; });
    const details = e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : '';
    return h(
      'tr',
      { dataset: { action: e.action } },
      h('td', h('time', { datetime: e.created_at }, dateTime(e.created_at))),
      h('td', who),
      h('td', h('code', e.action)),
      h('td', h('span.small', `${e.target_type} `), h('code.small', e.target_id)),
      h('td.details', details),
    );
  }

  name(id) {
    if (!this.names.has(id)) {
      this.names.set(id, this.ctx.client.api('GET', `/users/${id}`).then(userLabel, () => id.slice(0, 8)));
    }
    return this.names.get(id);
  }

  stop() {}
}
