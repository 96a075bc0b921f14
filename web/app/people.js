// People: friends with presence and last seen, friend requests, blocks, finding users; and the
// dialogs for new direct and group chats and the profile (a room's settings and members are in
// rooms.js).

import { h, replace, redraw, avatar, setPresenceDot, lastSeen, toast, t, statusText, KeptList } from './dom.js';
import { icon } from '../icons.js';
import { serverText } from '../errors.js';

export function presenceText(p) {
  return p?.status && p.status !== 'offline' ? statusText(p.status) : lastSeen(p?.last_seen_at);
}

/** Runs an API action, reporting failure as a toast; returns the result or undefined. */
export async function attempt(action, done = '') {
  try {
    const r = await action();
    if (done) toast(done);
    return r;
  } catch (e) {
    toast(serverText(e), 'error');
    return undefined;
  }
}

/** Opens (or creates) the direct room with a user. */
export async function openDirect(app, userId) {
  const room = await attempt(() => app.client.api('POST', '/rooms', { kind: 'direct', member_ids: [userId] }));
  if (!room) return;
  await app.reloadRooms();
  app.openRoom(room.id);
}

export class People {
  constructor(app, el) {
    this.app = app;
    this.el = el;
    this.found = null;
    this.timer = null;
    this.findInput = h('input#find-people', { type: 'search', placeholder: t('people.find_placeholder'), 'aria-label': t('people.find'), oninput: () => this.find() });
    this.foundEl = h('div.found');
    this.listsEl = h('div.people-lists');
    el.append(h('div.find', this.findInput), this.foundEl, this.listsEl);
    app.store.on('people', () => this.render());
    // Presence changes often: the friends' entries are brought up to date in place (KeptList), so
    // that a press on one of their buttons is not lost to a list drawn anew under it.
    app.store.on('presence', () => {
      if (this.friendList && this.app.store.friends.length) this.friendsList();
      this.presenceDots();
    });
  }

  find() {
    clearTimeout(this.timer);
    const q = this.findInput.value.trim();
    if (!q) {
      this.found = null;
      this.renderFound();
      return;
    }
    this.timer = setTimeout(async () => {
      const res = await attempt(() => this.app.client.api('GET', `/users?q=${encodeURIComponent(q)}&limit=20`));
      if (res && this.findInput.value.trim() === q) {
        this.found = res.users.filter((u) => u.id !== this.app.store.me?.id);
        for (const u of this.found) this.app.store.addUser(u);
        this.renderFound();
      }
    }, 250);
  }

  relation(userId) {
    const { store } = this.app;
    if (store.friends.some((f) => f.user.id === userId)) return 'friend';
    if (store.blocks.some((b) => b.user.id === userId)) return 'blocked';
    if (store.requests.outgoing.some((r) => r.to.id === userId)) return 'asked';
    if (store.requests.incoming.some((r) => r.from.id === userId)) return 'asking';
    return 'none';
  }

  userRow(user, buttons, sub = '') {
    const { store } = this.app;
    const p = store.presence.get(user.id);
    return h(
      'li.person',
      { dataset: { userId: user.id } },
      avatar(user, p?.status ?? (sub ? 'offline' : undefined)),
      h('span.person-text', h('span.person-name', user.display_name || user.username), h('span.muted.small', sub || `@${user.username}`)),
      h('span.person-actions', buttons),
    );
  }

  /**
   * A button of a user's row. Its key (user and action) finds it again when the list is drawn
   * anew (`redraw`), so a keyboard user stays on it.
   */
  button(userId, action, label, onclick, cls = '') {
    return h(`button.chip${cls}`, { type: 'button', onclick, dataset: { key: `${userId}:${action}` } }, label);
  }

  actionsFor(user) {
    const { client } = this.app;
    const rel = this.relation(user.id);
    const reload = () => this.app.reloadPeople();
    const out = [];
    if (rel !== 'blocked') out.push(this.button(user.id, 'message', t('people.message'), () => openDirect(this.app, user.id)));
    if (rel === 'none')
      out.push(this.button(user.id, 'add_friend', t('people.add_friend'), async () => { await attempt(() => client.api('POST', '/friends/requests', { user_id: user.id }), t('people.request_sent_toast')); reload(); }));
    if (rel === 'asked') out.push(h('span.muted.small', t('people.request_sent')));
    if (rel === 'asking') out.push(h('span.muted.small', t('people.wants_friends')));
    if (rel === 'blocked') out.push(this.button(user.id, 'unblock', t('people.unblock'), async () => { await attempt(() => client.api('DELETE', `/blocks/${user.id}`)); reload(); }));
    else out.push(this.button(user.id, 'block', t('people.block'), async () => this.block(user), '.danger'));
    return out;
  }

  async block(user) {
    if (!confirm(t('people.block_confirm', { name: user.display_name || user.username }))) return;
    await attempt(() => this.app.client.api('POST', '/blocks', { user_id: user.id }), t('people.blocked_toast'));
    this.app.reloadPeople();
  }

  /** The friends, online first, each entry kept across redraws and brought up to date. */
  friendsList() {
    const { store } = this.app;
    const friends = [...store.friends].sort((a, b) => rank(store, b.user.id) - rank(store, a.user.id));
    this.friendList ??= new KeptList(h('ul.people-list#friends'));
    return this.friendList.show(
      friends,
      (f) => f.user.id,
      (f) => this.friendRow(f.user.id),
      (li, f) => {
        const p = store.presence.get(f.user.id) ?? f.user.presence;
        const status = p?.status ?? 'offline';
        // The picture is drawn anew only when it or the name changed (a new image would flicker
        // on every presence change); otherwise the dot alone.
        const look = `${f.user.avatar_url ?? ''}|${f.user.display_name || f.user.username}`;
        if (li.dataset.look !== look) {
          li.dataset.look = look;
          li.replaceChild(avatar(f.user, status), li.firstChild);
          li.querySelector('.person-name').textContent = f.user.display_name || f.user.username;
        } else {
          setPresenceDot(li.firstChild, status);
        }
        li.querySelector('.person-sub').textContent = presenceText(p);
      },
    );
  }

  /**
   * The dots of the other lists' rows (search results, requests, blocks) follow presence too,
   * set in place: drawing those lists anew on every presence change would lose a press. A row
   * gets a dot once its user's presence is known (the server tells it of friends and of users
   * the page subscribed to, never of strangers).
   */
  presenceDots() {
    const { presence } = this.app.store;
    for (const li of this.el.querySelectorAll('li.person[data-user-id]')) {
      if (li.closest('#friends')) continue;
      const status = presence.get(li.dataset.userId)?.status;
      const pic = li.querySelector(':scope > .avatar');
      if (status && pic) setPresenceDot(pic, status);
    }
  }

  /** A friend's entry: its buttons stay for as long as the entry does. */
  friendRow(id) {
    const { client, store } = this.app;
    const friend = () => store.friends.find((f) => f.user.id === id)?.user ?? store.users.get(id);
    const buttons = [
      this.button(id, 'message', t('people.message'), () => openDirect(this.app, id)),
      this.button(id, 'remove', t('people.remove'), async () => {
        const user = friend();
        if (!confirm(t('people.remove_confirm', { name: user?.display_name || user?.username }))) return;
        await attempt(() => client.api('DELETE', `/friends/${id}`));
        this.app.reloadPeople();
      }),
      this.button(id, 'block', t('people.block'), () => this.block(friend() ?? { id }), '.danger'),
    ];
    // The avatar, name and presence are filled in by `friendsList`'s update.
    return h(
      'li.person',
      { dataset: { userId: id } },
      h('span.avatar'),
      h('span.person-text', h('span.person-name'), h('span.muted.small.person-sub')),
      h('span.person-actions', buttons),
    );
  }

  renderFound() {
    if (!this.found) {
      replace(this.foundEl);
      return;
    }
    redraw(
      this.foundEl,
      h('h3.section', t('people.search_results')),
      this.found.length ? h('ul.people-list', this.found.map((u) => this.userRow(u, this.actionsFor(u)))) : h('p.muted.pad', t('people.nobody')),
    );
  }

  render() {
    const { store, client } = this.app;
    const reload = () => this.app.reloadPeople();
    const sections = [];
    if (store.requests.incoming.length) {
      sections.push(
        h('h3.section', t('people.requests')),
        h(
          'ul.people-list#incoming-requests',
          store.requests.incoming.map((r) =>
            this.userRow(r.from, [
              this.button(r.from.id, 'accept', t('people.accept'), async () => { await attempt(() => client.api('POST', `/friends/requests/${r.id}/accept`)); reload(); }, '.primary'),
              this.button(r.from.id, 'decline', t('people.decline'), async () => { await attempt(() => client.api('POST', `/friends/requests/${r.id}/decline`)); reload(); }),
            ]),
          ),
        ),
      );
    }
    if (store.requests.outgoing.length) {
      sections.push(
        h('h3.section', t('people.sent_requests')),
        h(
          'ul.people-list',
          store.requests.outgoing.map((r) =>
            this.userRow(r.to, [this.button(r.to.id, 'cancel', t('common.cancel'), async () => { await attempt(() => client.api('POST', `/friends/requests/${r.id}/decline`)); reload(); })]),
          ),
        ),
      );
    }
    const friends = store.friends.length;
    sections.push(
      h('h3.section', t('people.friends', { count: friends })),
      friends ? this.friendsList() : h('p.muted.pad', t('people.no_friends')),
    );
    if (store.blocks.length) {
      sections.push(
        h('h3.section', t('people.blocked')),
        h(
          'ul.people-list#blocked',
          store.blocks.map((b) => this.userRow(b.user, [this.button(b.user.id, 'unblock', t('people.unblock'), async () => { await attempt(() => client.api('DELETE', `/blocks/${b.user.id}`)); reload(); })])),
        ),
      );
    }
    redraw(this.listsEl, sections);
    this.renderFound();
  }
}

function rank(store, id) {
  return { online: 3, away: 2, dnd: 1 }[store.presence.get(id)?.status] ?? 0;
}

/**
 * A modal dialog (`<dialog>` with showModal: focus moves in, the page behind is inert, Escape
 * closes it); when it closes, focus goes back where it was.
 */
export function dialog(title, body, { onclose } = {}) {
  const before = document.activeElement;
  const d = h('dialog.modal', { 'aria-label': title }, h('header.modal-head', h('h2', title), h('button.icon', { type: 'button', 'aria-label': t('common.close'), onclick: () => d.close() }, icon('close'))), body);
  d.addEventListener('close', () => {
    d.remove();
    onclose?.();
    // An opener drawn again meanwhile (the sidebar after a profile change) is found by its id.
    const opener = before instanceof HTMLElement && !before.isConnected && before.id ? document.getElementById(before.id) : before;
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  document.body.append(d);
  d.showModal();
  return d;
}

/** New chat: a direct chat with one person, or a group with a name and members. */
export function newChatDialog(app) {
  const { client, store } = app;
  const chosen = new Map();
  let kind = 'direct';
  const nameInput = h('input#group-name', { placeholder: t('newchat.group_name'), 'aria-label': t('newchat.group_name'), maxlength: 100 });
  const q = h('input#new-chat-search', { type: 'search', placeholder: t('newchat.search'), 'aria-label': t('newchat.search') });
  const results = h('ul.people-list.pick');
  const chips = h('div.chosen');
  const create = h('button.primary#create-group', { type: 'submit' }, t('newchat.create_group'));
  const groupPart = h('div.group-part', { hidden: true }, nameInput, chips);
  const tabs = h(
    'div.tabs',
    { role: 'tablist' },
    h('button.tab', { type: 'button', role: 'tab', 'aria-selected': 'true', onclick: (e) => setKind('direct', e.currentTarget) }, t('newchat.direct')),
    h('button.tab#kind-group', { type: 'button', role: 'tab', 'aria-selected': 'false', onclick: (e) => setKind('group', e.currentTarget) }, t('newchat.group')),
  );
  const form = h('form.new-chat', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); createGroup(); } }, tabs, groupPart, q, results, h('div.modal-foot', create));
  const d = dialog(t('newchat.title'), form);

  function setKind(k, btn) {
    kind = k;
    for (const t of tabs.children) t.setAttribute('aria-selected', String(t === btn));
    groupPart.hidden = k !== 'group';
    create.hidden = k !== 'group';
    (k === 'group' ? nameInput : q).focus();
    list(lastUsers);
  }

  let lastUsers = store.friends.map((f) => f.user);
  function list(users) {
    lastUsers = users;
    replace(
      results,
      users.length
        ? users.map((u) =>
            h(
              'li',
              h(
                `button.pick-user${chosen.has(u.id) ? '.chosen' : ''}`,
                {
                  type: 'button',
                  onclick: () => {
                    if (kind === 'direct') {
                      d.close();
                      openDirect(app, u.id);
                      return;
                    }
                    if (chosen.has(u.id)) chosen.delete(u.id);
                    else chosen.set(u.id, u);
                    renderChips();
                    list(lastUsers);
                  },
                },
                avatar(u, store.presence.get(u.id)?.status),
                h('span.person-text', h('span.person-name', u.display_name || u.username), h('span.muted.small', `@${u.username}`)),
                kind === 'group' ? h('span.check', chosen.has(u.id) ? icon('check', 16) : '') : null,
              ),
            ),
          )
        : h('li.muted.pad', t('newchat.hint')),
    );
  }
  function renderChips() {
    replace(chips, [...chosen.values()].map((u) => h('span.chip', u.display_name || u.username)));
  }
  let timer;
  q.addEventListener('input', () => {
    clearTimeout(timer);
    const text = q.value.trim();
    if (!text) return list(store.friends.map((f) => f.user));
    timer = setTimeout(async () => {
      const res = await attempt(() => client.api('GET', `/users?q=${encodeURIComponent(text)}&limit=20`));
      if (res && q.value.trim() === text) list(res.users.filter((u) => u.id !== store.me?.id));
    }, 200);
  });
  async function createGroup() {
    if (kind !== 'group') return;
    const name = nameInput.value.trim();
    if (!name) {
      nameInput.focus();
      toast(t('newchat.name_needed'), 'error');
      return;
    }
    const room = await attempt(() => client.api('POST', '/rooms', { kind: 'group', name, member_ids: [...chosen.keys()] }));
    if (!room) return;
    d.close();
    await app.reloadRooms();
    app.openRoom(room.id);
  }
  create.hidden = true;
  list(lastUsers);
  q.focus();
}

/** The avatar editor's message for a refused picture, in the reader's language. */
function avatarErrorText(err) {
  switch (err?.code) {
    case 'unsupported_media_type':
      return t('profile.avatar_refused_type');
    case 'payload_too_large':
      return t('profile.avatar_too_large');
    case 'rate_limited':
      return t('profile.avatar_rate_limited');
    default:
      return serverText(err);
  }
}

/**
 * The profile's picture: a preview, "change" (a file picker; the server crops the picture to a
 * square) and "remove" (initials again). Each takes effect at once, apart from the form's Save.
 */
function avatarEditor(app, me, saved) {
  const { client, store } = app;
  let current = me;
  const preview = h('span.avatar-edit-preview');
  const error = h('p.form-error#avatar-error', { role: 'alert' });
  const busy = (on) => {
    change.disabled = on;
    remove.disabled = on;
  };
  const adopt = (user) => {
    current = user;
    store.me = { ...store.me, ...user };
    store.addUser(user);
    show();
    saved?.();
    store.emit('rooms');
  };
  const run = async (action, done) => {
    error.textContent = '';
    busy(true);
    try {
      adopt(await action());
      toast(done);
    } catch (err) {
      error.textContent = avatarErrorText(err);
    } finally {
      busy(false);
    }
  };
  const input = h('input.file-input#avatar-input', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp', hidden: true, 'aria-label': t('profile.avatar_change') });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    // Emptied so that picking the same file again fires `change` again.
    input.value = '';
    if (file) run(() => client.setAvatar(file), t('profile.avatar_saved'));
  });
  const change = h('button.chip#avatar-change', { type: 'button', onclick: () => input.click() }, icon('image', 16), ' ', t('profile.avatar_change'));
  const remove = h('button.chip.danger#avatar-remove', { type: 'button', onclick: () => run(() => client.removeAvatar(), t('profile.avatar_removed')) }, icon('trash', 16), ' ', t('profile.avatar_remove'));
  function show() {
    replace(preview, avatar(current, undefined, 'large'));
    remove.hidden = !current.avatar_url;
  }
  show();
  return h('div.avatar-edit', { role: 'group', 'aria-label': t('profile.avatar') }, preview, h('div.avatar-edit-actions', change, remove, h('small.hint', t('profile.avatar_hint'))), input, error);
}

/**
 * The profile editor: the picture (its own requests, see `avatarEditor`), display name and bio
 * (`PATCH /users/me`), filled from `GET /users/me` (the session's copy of the user may predate a
 * change made elsewhere); `saved` runs after a change.
 */
export async function profileDialog(app, saved) {
  const { client, store } = app;
  const me = await attempt(() => client.api('GET', '/users/me'));
  if (!me) return;
  const name = h('input#profile-name', { name: 'display_name', maxlength: 64, required: true, autocomplete: 'name', value: me.display_name ?? '' });
  const bio = h('textarea#profile-bio', { name: 'bio', maxlength: 500, rows: 4 });
  bio.value = me.bio ?? '';
  const error = h('p.form-error#profile-error', { role: 'alert' });
  const submit = h('button.primary', { type: 'submit' }, t('profile.save'));
  const form = h(
    'form.profile-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          const user = await client.api('PATCH', '/users/me', { display_name: name.value.trim(), bio: bio.value.trim() });
          store.me = { ...store.me, ...user };
          store.addUser(user);
          if (client.session?.user) client.session.user = { ...client.session.user, ...user };
          d.close();
          toast(t('profile.saved'));
          saved?.();
          store.emit('rooms');
        } catch (err) {
          error.textContent = serverText(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    avatarEditor(app, me, saved),
    h('label.field', h('span', t('auth.display_name')), name),
    h('label.field', h('span', t('profile.bio')), bio, h('small.hint', t('profile.bio_hint'))),
    error,
    h('div.modal-foot', submit),
  );
  const d = dialog(t('profile.title'), form);
  name.focus();
}
