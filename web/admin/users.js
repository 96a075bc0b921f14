// Users (GET /admin/users): search by name, filter by role and ban state, change a role, ban with
// a reason (the server closes the user's sockets with 4003 at once) and unban.

import { h, replace, toast } from '../app/dom.js';
import { attempt, dateTime, debounce, heading, userLabel } from './common.js';

const PAGE = 50;
const ROLES = ['user', 'moderator', 'admin'];

export class UsersView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.offset = 0;
    this.q = h('input#user-search', { type: 'search', placeholder: 'Search by name', 'aria-label': 'Search users', oninput: debounce(() => this.load(false), 250) });
    this.role = h(
      'select#user-role-filter',
      { 'aria-label': 'Role', onchange: () => this.load(false) },
      h('option', { value: '' }, 'Any role'),
      [...ROLES, 'guest'].map((r) => h('option', { value: r }, r)),
    );
    this.banned = h(
      'select#user-banned-filter',
      { 'aria-label': 'Ban state', onchange: () => this.load(false) },
      h('option', { value: '' }, 'Banned or not'),
      h('option', { value: 'true' }, 'Banned'),
      h('option', { value: 'false' }, 'Not banned'),
    );
    this.total = h('span.small.muted#user-total');
    this.list = h('ul.cards#user-list');
    this.more = h('button.chip', { type: 'button', hidden: true, onclick: () => this.load(true) }, 'More');
    replace(container, heading('Users', this.total), h('div.filters', this.q, this.role, this.banned), this.list, this.more);
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
    if (!res.users.length && !more) this.list.append(h('li.empty-list.muted', 'No users match.'));
    this.total.textContent = `${res.total ?? res.users.length} in all`;
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
        'aria-label': `Role of ${u.username}`,
        disabled: self || u.role === 'guest',
        onchange: () => update({ role: role.value }, `@${u.username} is now ${role.value}.`),
      },
      (u.role === 'guest' ? ['guest'] : ROLES).map((r) => h('option', { value: r, selected: r === u.role }, r)),
    );
    const actions = h('div.card-actions');
    if (u.banned) {
      actions.append(h('button.chip.unban', { type: 'button', onclick: () => update({ banned: false }, `@${u.username} is unbanned.`) }, 'Unban'));
    } else if (!self) {
      actions.append(h('button.chip.danger.ban', { type: 'button', onclick: () => banForm() }, 'Ban…'));
    }
    if (u.role !== 'guest' && u.email) {
      actions.append(
        h('button.chip.reset-password', {
          type: 'button',
          onclick: async () => {
            const done = await attempt(() => this.ctx.client.api('POST', `/admin/users/${u.id}/password-reset`));
            if (done) toast(`A reset link is on its way to ${u.email}.`);
          },
        }, 'Send reset link'),
      );
    }
    const banForm = () => {
      const reason = h('input.ban-reason', { name: 'reason', required: true, maxlength: 500, placeholder: 'Reason (shown in the audit log)', 'aria-label': `Reason to ban ${u.username}` });
      replace(
        actions,
        h(
          'form.ban-form',
          {
            onsubmit: (e) => {
              e.preventDefault();
              update({ banned: true, ban_reason: reason.value.trim() }, `@${u.username} is banned.`);
            },
            onkeydown: (e) => {
              if (e.key === 'Escape') this.fill(li, u);
            },
          },
          reason,
          h('button.chip.danger', { type: 'submit' }, 'Ban'),
          h('button.chip', { type: 'button', onclick: () => this.fill(li, u) }, 'Cancel'),
        ),
      );
      reason.focus();
    };
    replace(
      li,
      h(
        'div.card-head',
        h('strong', userLabel(u)),
        u.banned ? h('span.pill.danger', 'banned') : null,
        h('span.small.muted', u.last_seen_at ? `seen ${dateTime(u.last_seen_at)}` : `joined ${dateTime(u.created_at)}`),
      ),
      u.banned && u.ban_reason ? h('p.small.ban-note', `Reason: ${u.ban_reason}`) : null,
      h('div.user-controls', h('label.inline', h('span.small.muted', 'Role'), role), actions),
    );
  }

  stop() {}
}
