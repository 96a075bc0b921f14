// Users (GET /admin/users): search by name, filter by role and ban state, change a role, ban with
// a reason (the server closes the user's sockets with 4003 at once) and unban.

import { h, replace, toast, t, avatar } from '../app/dom.js';
import { number } from '../i18n/i18n.js';
import { attempt, dateTime, debounce, heading, userLabel } from './common.js';

const PAGE = 50;
const ROLES = ['user', 'moderator', 'admin'];

export class UsersView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.offset = 0;
    this.q = h('input#user-search', { type: 'search', placeholder: t('users.search_placeholder'), 'aria-label': t('users.search'), oninput: debounce(() => this.load(false), 250) });
    this.role = h(
      'select#user-role-filter',
      { 'aria-label': t('users.role'), onchange: () => this.load(false) },
      h('option', { value: '' }, t('users.any_role')),
      [...ROLES, 'guest'].map((r) => h('option', { value: r }, t(`role.${r}`))),
    );
    this.banned = h(
      'select#user-banned-filter',
      { 'aria-label': t('users.ban_state'), onchange: () => this.load(false) },
      h('option', { value: '' }, t('users.banned_any')),
      h('option', { value: 'true' }, t('users.banned_yes')),
      h('option', { value: 'false' }, t('users.banned_no')),
    );
    this.total = h('span.small.muted#user-total');
    this.list = h('ul.cards#user-list');
    this.more = h('button.chip', { type: 'button', hidden: true, onclick: () => this.load(true) }, t('users.more'));
    replace(container, heading(t('admin.nav.users'), this.total), h('div.filters', this.q, this.role, this.banned), this.list, this.more);
    this.load(false);
  }

  async load(more) {
    this.offset = more ? this.offset + PAGE : 0;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(this.offset) });
    if (this.q.value.trim()) params.set('q', this.q.value.trim());
    if (this.role.value) params.set('role', this.role.value);
    if (this.banned.value) params.set('banned', this.banned.value);
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/users?${params}`));
    if (!res) return;
    if (!more) this.list.replaceChildren();
    for (const u of res.users) this.list.append(this.item(u));
    if (!res.users.length && !more) this.list.append(h('li.empty-list.muted', t('users.none')));
    this.total.textContent = t('users.total', { count: res.total ?? res.users.length });
    this.more.hidden = !res.has_more;
  }

  /** One user's card; redrawn in place after each change. */
  item(u) {
    const li = h('li.card.user', { dataset: { id: u.id, username: u.username } });
    this.fill(li, u);
    return li;
  }

  fill(li, u) {
    const self = u.id === this.ctx.me.id;
    const update = async (changes, done) => {
      const res = await attempt(() => this.ctx.client.api('PATCH', `/admin/users/${u.id}`, changes));
      if (res) {
        this.fill(li, { ...u, ...res });
        toast(done);
      } else this.fill(li, u);
    };
    const role = h(
      'select.role-select',
      {
        'aria-label': t('users.role_of', { username: u.username }),
        disabled: self || u.role === 'guest',
        onchange: () => update({ role: role.value }, t('users.role_changed', { username: u.username, role: t(`role.${role.value}`) })),
      },
      (u.role === 'guest' ? ['guest'] : ROLES).map((r) => h('option', { value: r, selected: r === u.role }, t(`role.${r}`))),
    );
    const actions = h('div.card-actions');
    if (u.banned) {
      actions.append(h('button.chip.unban', { type: 'button', onclick: () => update({ banned: false }, t('users.unbanned', { username: u.username })) }, t('users.unban')));
    } else if (!self) {
      actions.append(h('button.chip.danger.ban', { type: 'button', onclick: () => banForm() }, t('users.ban_open')));
    }
    if (u.role !== 'guest' && u.email) {
      actions.append(
        h('button.chip.reset-password', {
          type: 'button',
          onclick: async () => {
            const done = await attempt(() => this.ctx.client.api('POST', `/admin/users/${u.id}/password-reset`));
            if (done) toast(t('admin.users.reset_sent', { email: u.email }));
          },
        }, t('admin.users.send_reset')),
      );
    }
    const banForm = () => {
      const reason = h('input.ban-reason', { name: 'reason', required: true, maxlength: 500, placeholder: t('users.ban_reason'), 'aria-label': t('users.ban_reason_of', { username: u.username }) });
      replace(
        actions,
        h(
          'form.ban-form',
          {
            onsubmit: (e) => {
              e.preventDefault();
              update({ banned: true, ban_reason: reason.value.trim() }, t('users.banned_toast', { username: u.username }));
            },
            onkeydown: (e) => {
              if (e.key === 'Escape') this.fill(li, u);
            },
          },
          reason,
          h('button.chip.danger', { type: 'submit' }, t('users.ban')),
          h('button.chip', { type: 'button', onclick: () => this.fill(li, u) }, t('common.cancel')),
        ),
      );
      reason.focus();
    };
    replace(
      li,
      h(
        'div.card-head',
        avatar(u, undefined, 'small'),
        h('strong', userLabel(u)),
        u.banned ? h('span.pill.danger', t('users.banned_pill')) : null,
        u.deleting_since ? h('span.pill.danger.deleting', { title: t('users.deleting_since', { when: dateTime(u.deleting_since) }) }, t('users.deleting_pill')) : null,
        h('span.small.muted', u.last_seen_at ? t('users.seen', { when: dateTime(u.last_seen_at) }) : t('users.joined', { when: dateTime(u.created_at) })),
      ),
      u.banned && u.ban_reason ? h('p.small.ban-note', t('users.reason', { reason: u.ban_reason })) : null,
      h('div.user-controls', h('label.inline', h('span.small.muted', t('users.role')), role), actions),
    );
  }

  stop() {}
}
