// Bots and API tokens: create bot accounts (their first token is shown once), give a bot more
// tokens or revoke them (GET/POST /admin/bots, /admin/bots/{id}/tokens), and manage the admin's own
// personal tokens (/users/me/tokens). A token's value is shown only in the answer that made it.

import { h, replace, toast } from '../app/dom.js';
import { attempt, dateTime, heading, userLabel } from './common.js';

const SCOPES = ['read', 'write', 'admin'];

/** The one-time display of a new token's value, with a copy button. */
function secretBox(label, value) {
  const input = h('input.secret-value', { readonly: true, value, 'aria-label': label });
  return h(
    'div.card.secret#new-secret',
    { role: 'status' },
    h('strong', label),
    h('p.small.muted', 'Copy it now: it is not shown again.'),
    h('div.inline-form', input, h('button.chip', { type: 'button', onclick: () => { input.select(); navigator.clipboard?.writeText(value).catch(() => {}); } }, 'Copy')),
  );
}

/** A table row per token, with a revoke button unless revoked. */
function tokenRows(tokens, revoke) {
  if (!tokens.length) return h('p.small.muted', 'No tokens.');
  return h(
    'ul.token-list',
    tokens.map((t) =>
      h(
        'li.token',
        { dataset: { id: t.id, name: t.name } },
        h('code', `${t.hint}…`),
        h('span', t.name),
        h('span.small.muted', t.scopes.join(', ')),
        h('span.small.muted', t.expires_at ? `expires ${dateTime(t.expires_at)}` : 'no expiry'),
        h('span.small.muted', t.last_used_at ? `used ${dateTime(t.last_used_at)}` : 'never used'),
        t.revoked_at
          ? h('span.small.badge-revoked', 'revoked')
          : h('button.chip.danger', { type: 'button', 'aria-label': `Revoke token ${t.name}`, onclick: () => revoke(t) }, 'Revoke'),
      ),
    ),
  );
}

/** A form for a token's name, scopes and expiry; `submit` gets the request body. */
function tokenForm(id, allowAdmin, submit) {
  const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: 'Token name', 'aria-label': 'Token name' });
  const days = h('input', { name: 'expires_in_days', type: 'number', min: 1, max: 3650, placeholder: 'Days (empty: never)', 'aria-label': 'Expires in days' });
  const boxes = SCOPES.filter((s) => allowAdmin || s !== 'admin').map((s) =>
    h('label.small', h('input', { type: 'checkbox', name: 'scope', value: s, checked: s === 'read' }), ` ${s}`),
  );
  return h(
    `form.inline-form#${id}`,
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const scopes = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
        const body = { name: name.value.trim(), scopes };
        if (days.value) body.expires_in_days = Number(days.value);
        if (await submit(body)) name.value = '';
      },
    },
    name,
    boxes,
    days,
    h('button.chip', { type: 'submit' }, 'Create token'),
  );
}

export class BotsView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.secret = h('div#secret-slot');
    this.bots = h('ul.cards#bot-list');
    this.mine = h('div#my-tokens');
    const username = h('input', { name: 'username', required: true, placeholder: 'bot username', 'aria-label': 'Bot username' });
    const display = h('input', { name: 'display_name', placeholder: 'Display name (optional)', 'aria-label': 'Bot display name' });
    const createBot = h(
      'form.inline-form#create-bot-form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          const body = { username: username.value.trim() };
          if (display.value.trim()) body.display_name = display.value.trim();
          const res = await attempt(() => ctx.client.api('POST', '/admin/bots', body));
          if (!res) return;
          username.value = '';
          display.value = '';
          toast(`Bot @${res.user.username} created`);
          this.show(`Token of @${res.user.username}`, res.token.token);
          this.load();
        },
      },
      username,
      display,
      h('button.primary', { type: 'submit' }, 'Create bot'),
    );
    replace(
      container,
      heading('Bots and API tokens', h('button.chip', { type: 'button', onclick: () => this.load() }, 'Reload')),
      this.secret,
      h('h3', 'Bots'),
      h('p.small.muted', 'Accounts for programs: no password, a "bot" badge, the same rate limits and room rules as people. Add them to rooms like any user.'),
      createBot,
      this.bots,
      h('h3', 'Your API tokens'),
      h('p.small.muted', 'Use as "Authorization: Bearer <token>" on the API and the WebSocket.'),
      tokenForm('create-token-form', true, async (body) => {
        const res = await attempt(() => ctx.client.api('POST', '/users/me/tokens', body));
        if (!res) return false;
        this.show(`Token "${res.name}"`, res.token);
        this.load();
        return true;
      }),
      this.mine,
    );
    this.load();
  }

  show(label, value) {
    replace(this.secret, secretBox(label, value));
  }

  async load() {
    const [bots, mine] = await Promise.all([
      attempt(() => this.ctx.client.api('GET', '/admin/bots')),
      attempt(() => this.ctx.client.api('GET', '/users/me/tokens')),
    ]);
    if (bots) {
      if (!bots.bots.length) replace(this.bots, h('li.empty-list.muted', 'No bots yet.'));
      else replace(this.bots, bots.bots.map((b) => this.bot(b)));
    }
    if (mine) {
      replace(this.mine, tokenRows(mine.tokens, async (t) => {
        if ((await attempt(() => this.ctx.client.api('DELETE', `/users/me/tokens/${t.id}`))) !== undefined) this.load();
      }));
    }
  }

  bot(b) {
    return h(
      'li.card.bot',
      { dataset: { id: b.id, username: b.username } },
      h('div.card-head', h('strong', userLabel(b)), h('span.badge-bot', 'bot'), h('time.small.muted', { datetime: b.created_at }, dateTime(b.created_at))),
      tokenRows(b.tokens, async (t) => {
        if ((await attempt(() => this.ctx.client.api('DELETE', `/admin/bots/${b.id}/tokens/${t.id}`))) !== undefined) this.load();
      }),
      tokenForm(`bot-token-form-${b.username}`, false, async (body) => {
        const res = await attempt(() => this.ctx.client.api('POST', `/admin/bots/${b.id}/tokens`, body));
        if (!res) return false;
        this.show(`Token "${res.name}" of @${b.username}`, res.token);
        this.load();
        return true;
      }),
    );
  }

  stop() {}
}
