// Bots and API tokens: create bot accounts (their first token is shown once), give a bot more
// tokens or revoke them (GET/POST /admin/bots, /admin/bots/{id}/tokens), and manage the admin's own
// personal tokens (/users/me/tokens). A token's value is shown only in the answer that made it.

import { h, replace, t, toast } from '../app/dom.js';
import { attempt, dateTime, heading, userLabel } from './common.js';

const SCOPES = ['read', 'write', 'admin'];

/** The one-time display of a new token's value, with a copy button. */
function secretBox(label, value) {
  const input = h('input.secret-value', { readonly: true, value, 'aria-label': label });
  return h(
    'div.card.secret#new-secret',
    { role: 'status' },
    h('strong', label),
    h('p.small.muted', t('bots.copy_now')),
    h('div.inline-form', input, h('button.chip', { type: 'button', onclick: () => { input.select(); navigator.clipboard?.writeText(value).catch(() => {}); } }, t('bots.copy'))),
  );
}

/** A table row per token, with a revoke button unless revoked. */
function tokenRows(tokens, revoke) {
  if (!tokens.length) return h('p.small.muted', t('bots.no_tokens'));
  return h(
    'ul.token-list',
    tokens.map((tok) =>
      h(
        'li.token',
        { dataset: { id: tok.id, name: tok.name } },
        h('code', `${tok.hint}…`),
        h('span', tok.name),
        h('span.small.muted', tok.scopes.join(', ')),
        h('span.small.muted', tok.expires_at ? t('bots.expires', { when: dateTime(tok.expires_at) }) : t('bots.no_expiry')),
        h('span.small.muted', tok.last_used_at ? t('bots.used', { when: dateTime(tok.last_used_at) }) : t('bots.never_used')),
        tok.revoked_at
          ? h('span.small.badge-revoked', t('bots.revoked'))
          : h('button.chip.danger', { type: 'button', 'aria-label': t('bots.revoke_named', { name: tok.name }), onclick: () => revoke(tok) }, t('bots.revoke')),
      ),
    ),
  );
}

/** A form for a token's name, scopes and expiry; `submit` gets the request body. */
function tokenForm(id, allowAdmin, submit) {
  const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: t('bots.token_name'), 'aria-label': t('bots.token_name') });
  const days = h('input', { name: 'expires_in_days', type: 'number', min: 1, max: 3650, placeholder: t('bots.days'), 'aria-label': t('bots.expires_in_days') });
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
    h('button.chip', { type: 'submit' }, t('bots.create_token')),
  );
}

export class BotsView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.secret = h('div#secret-slot');
    this.bots = h('ul.cards#bot-list');
    this.mine = h('div#my-tokens');
    const username = h('input', { name: 'username', required: true, placeholder: t('bots.username'), 'aria-label': t('bots.username') });
    const display = h('input', { name: 'display_name', placeholder: t('bots.display_name'), 'aria-label': t('bots.display_name') });
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
          toast(t('bots.created', { name: res.user.username }));
          this.show(t('bots.token_of', { name: res.user.username }), res.token.token);
          this.load();
        },
      },
      username,
      display,
      h('button.primary', { type: 'submit' }, t('bots.create')),
    );
    replace(
      container,
      heading(t('bots.title'), h('button.chip', { type: 'button', onclick: () => this.load() }, t('common.reload'))),
      this.secret,
      h('h3', t('bots.bots')),
      h('p.small.muted', t('bots.intro')),
      createBot,
      this.bots,
      h('h3', t('bots.your_tokens')),
      h('p.small.muted', t('bots.tokens_intro')),
      tokenForm('create-token-form', true, async (body) => {
        const res = await attempt(() => ctx.client.api('POST', '/users/me/tokens', body));
        if (!res) return false;
        this.show(t('bots.token_named', { name: res.name }), res.token);
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
      if (!bots.bots.length) replace(this.bots, h('li.empty-list.muted', t('bots.none')));
      else replace(this.bots, bots.bots.map((b) => this.bot(b)));
    }
    if (mine) {
      replace(this.mine, tokenRows(mine.tokens, async (tok) => {
        if ((await attempt(() => this.ctx.client.api('DELETE', `/users/me/tokens/${tok.id}`))) !== undefined) this.load();
      }));
    }
  }

  bot(b) {
    return h(
      'li.card.bot',
      { dataset: { id: b.id, username: b.username } },
      h('div.card-head', h('strong', userLabel(b)), h('span.badge-bot', t('bots.badge')), h('time.small.muted', { datetime: b.created_at }, dateTime(b.created_at))),
      tokenRows(b.tokens, async (tok) => {
        if ((await attempt(() => this.ctx.client.api('DELETE', `/admin/bots/${b.id}/tokens/${tok.id}`))) !== undefined) this.load();
      }),
      tokenForm(`bot-token-form-${b.username}`, false, async (body) => {
        const res = await attempt(() => this.ctx.client.api('POST', `/admin/bots/${b.id}/tokens`, body));
        if (!res) return false;
        this.show(t('bots.token_named_of', { name: res.name, bot: b.username }), res.token);
        this.load();
        return true;
      }),
    );
  }

  stop() {}
}
