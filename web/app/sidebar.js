// The sidebar: who I am (status, theme, notifications, sign out), message search, the room list
// with unread badges and last messages, and the People tab.

import { h, replace, redraw, avatar, shortTime, snippetNodes, statusText, toast, t, KeptList, markEntry } from './dom.js';
import { languagePicker } from './lang.js';
import { number } from '../i18n/i18n.js';
import { icon } from '../icons.js';
import { People, newChatDialog, profileDialog } from './people.js';
import { securityDialog } from './security.js';
import { directoryDialog } from './directory.js';
import { quoteText } from './attachments.js';
import { serverText } from '../errors.js';

const THEMES = ['system', 'light', 'dark'];

export class Sidebar {
  constructor(app, el, notifier) {
    this.app = app;
    this.el = el;
    this.notifier = notifier;
    this.tab = 'chats';
    this.query = '';
    this.results = null;
    this.searchTimer = null;
    // The status the user chose last, on any device (kept with the account).
    this.status = app.store.me?.presence_status ?? 'online';
    /** `presence.set` calls of this page still unanswered. */
    this.choosing = 0;

    this.meEl = h('header.me');
    this.searchInput = h('input#search', {
      type: 'search',
      placeholder: t('side.search'),
      'aria-label': t('side.search'),
      oninput: () => this.onSearch(),
      onkeydown: (e) => {
        if (e.key === 'Escape') {
          this.searchInput.value = '';
          this.onSearch();
        }
      },
    });
    this.tabChats = h('button.tab#tab-chats', { type: 'button', role: 'tab', onclick: () => this.setTab('chats') }, t('side.chats'));
    this.peopleBadge = h('span.badge', { hidden: true });
    this.tabPeople = h('button.tab#tab-people', { type: 'button', role: 'tab', onclick: () => this.setTab('people') }, `${t('side.people')} `, this.peopleBadge);
    this.listEl = h('div.list#room-list');
    this.people = new People(app, h('div.people'));
    this.connEl = h('div.conn', { role: 'status' });
    el.append(
      this.meEl,
      this.connEl,
      h('div.search', this.searchInput),
      h('div.tabs', { role: 'tablist' }, this.tabChats, this.tabPeople),
      this.listEl,
      h(
        'footer.side-foot',
        h('button.primary.wide#new-chat', { type: 'button', onclick: () => newChatDialog(app) }, t('side.new_chat')),
        h('button.icon#open-directory', { type: 'button', title: t('directory.title'), 'aria-label': t('directory.title'), onclick: () => directoryDialog(app) }, icon('compass')),
        languagePicker(),
      ),
    );

    const { store } = app;
    store.on('rooms', () => this.renderList());
    store.on('current', () => this.renderList());
    store.on('presence', () => this.renderList());
    store.on('drafts', () => this.renderList());
    // The status chosen on another device (or the hello's, after a reconnect). While a choice of
    // this page's own is on its way, the echoes of earlier ones would undo the newer one.
    store.on('me', () => {
      const chosen = store.me?.presence_status;
      if (this.choosing || !chosen || chosen === this.status) return;
      this.status = chosen;
      this.renderMe();
    });
    store.on('people', () => this.renderBadge());
    store.on('connection', () => this.renderConnection());
    store.on('offline', () => {
      this.renderConnection();
      this.renderMe();
      this.renderList();
    });
    store.on('members', () => this.renderList());
  }

  render() {
    this.renderMe();
    this.renderBadge();
    this.setTab(this.tab);
    this.renderConnection();
  }

  renderConnection() {
    const s = this.app.store.connection;
    // Offline, the banner over the whole app says it.
    const text = this.app.store.offline ? '' : { connecting: t('conn.connecting'), reconnecting: t('conn.reconnecting'), closed: t('conn.offline') }[s] ?? '';
    this.connEl.textContent = text;
    this.connEl.hidden = !text;
    this.connEl.dataset.state = s;
  }

  renderMe() {
    const { store, client } = this.app;
    const me = store.me;
    const theme = localStorage.getItem('plauder.theme') || 'system';
    const statusSel = h(
      'select.status#status',
      {
        'aria-label': t('side.your_status'),
        onchange: async (e) => {
          const chosen = e.target.value;
          this.status = chosen;
          this.renderMe();
          this.choosing += 1;
          try {
            await client.setPresence(chosen);
            store.me = { ...store.me, presence_status: chosen };
          } catch (err) {
            toast(serverText(err), 'error');
          } finally {
            this.choosing -= 1;
          }
          // The last choice settled: show what the account has (this one, or what it was before
          // a refused one, or another device's since).
          if (!this.choosing) {
            const settled = store.me?.presence_status ?? 'online';
            if (settled !== this.status) {
              this.status = settled;
              this.renderMe();
            }
          }
        },
      },
      ['online', 'away', 'dnd', 'invisible'].map((s) =>
        h('option', { value: s, selected: s === this.status }, { online: t('status.online'), away: t('status.away'), dnd: t('status.dnd'), invisible: t('status.invisible') }[s]),
      ),
    );
    redraw(
      this.meEl,
      avatar(me, this.status === 'invisible' || store.offline ? 'offline' : this.status),
      h('div.me-text', h('strong.me-name', me?.display_name || me?.username), statusSel),
      h(
        'div.me-actions',
        h('button.icon#profile', { type: 'button', title: t('profile.title'), 'aria-label': t('profile.title'), onclick: () => profileDialog(this.app, () => this.renderMe()) }, icon('user')),
        h('button.icon#theme-toggle', { type: 'button', title: t('theme.title', { theme: t(`theme.${theme}`) }), 'aria-label': t('theme.change', { theme: t(`theme.${theme}`) }), onclick: () => this.cycleTheme() }, icon(theme)),
        h('button.icon#notify-toggle', { type: 'button', title: this.notifier.label(), 'aria-label': this.notifier.label(), onclick: async () => { await this.notifier.toggle(); this.renderMe(); } }, icon(this.notifier.enabled() ? 'bell' : 'bellOff')),
        h('button.icon#security', { type: 'button', title: t('security.title'), 'aria-label': t('security.open'), onclick: () => securityDialog(this.app) }, icon('lock')),
        h('button.icon#logout', { type: 'button', title: t('side.sign_out'), 'aria-label': t('side.sign_out'), onclick: () => client.logout() }, icon('logout')),
      ),
    );
  }

  cycleTheme() {
    const cur = localStorage.getItem('plauder.theme') || 'system';
    const next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
    if (next === 'system') {
      localStorage.removeItem('plauder.theme');
      document.documentElement.removeAttribute('data-theme');
    } else {
      localStorage.setItem('plauder.theme', next);
      document.documentElement.setAttribute('data-theme', next);
    }
    this.renderMe();
  }

  renderBadge() {
    const n = this.app.store.requests.incoming.length;
    this.peopleBadge.hidden = n === 0;
    this.peopleBadge.textContent = String(n);
    if (this.tab === 'people') this.people.render();
  }

  setTab(tab) {
    this.tab = tab;
    this.tabChats.setAttribute('aria-selected', String(tab === 'chats'));
    this.tabPeople.setAttribute('aria-selected', String(tab === 'people'));
    this.renderList();
  }

  onSearch() {
    clearTimeout(this.searchTimer);
    const q = this.searchInput.value.trim();
    this.query = q;
    if (!q) {
      this.results = null;
      this.renderList();
      return;
    }
    this.searchTimer = setTimeout(async () => {
      try {
        const res = await this.app.client.api('GET', `/search/messages?q=${encodeURIComponent(q)}&limit=30`);
        if (this.query === q) {
          this.results = res.results;
          this.renderList();
        }
      } catch (e) {
        if (this.query === q) {
          this.results = [];
          this.renderList();
          toast(serverText(e), 'error');
        }
      }
    }, 250);
  }

  renderList() {
    if (this.query) return this.renderResults();
    if (this.tab === 'people') {
      // The panel redraws itself on people and presence changes; re-attaching it would only
      // take the focus out of its search field.
      if (this.listEl.firstChild !== this.people.el) {
        replace(this.listEl, this.people.el);
        this.people.render();
      }
      return;
    }
    const { store } = this.app;
    const rooms = store.roomList();
    if (!rooms.length && this.app.unloaded) {
      // Not loaded (started offline): the list is unknown, not empty.
      replace(this.listEl, h('div.empty-list#list-unloaded', h('p', t('offline.no_list'))));
      return;
    }
    if (!rooms.length) {
      replace(this.listEl, h('div.empty-list', h('p', t('side.no_chats')), h('p.muted', t('side.no_chats_hint'))));
      return;
    }
    // Entries are kept per room (KeptList): a redraw never takes the button a user is focusing or
    // clicking away from under them.
    this.roomList ??= new KeptList(h('ul.rooms', { role: 'list' }));
    const ul = this.roomList.show(
      rooms,
      (r) => r.id,
      (r) => h('li', h('button.room', { type: 'button', dataset: { roomId: r.id }, onclick: () => this.app.openRoom(r.id) })),
      (li, r) => this.roomItem(li.firstChild, r),
    );
    if (this.listEl.firstChild !== ul || this.listEl.childNodes.length !== 1) replace(this.listEl, ul);
  }

  /** Brings a room's entry in the list up to date. */
  roomItem(button, room) {
    const { store } = this.app;
    const peer = store.peer(room);
    const title = store.roomTitle(room);
    const last = room.last_message;
    let preview = '';
    if (last) {
      const who = last.sender_id === store.me?.id ? t('side.preview_you') : room.kind === 'direct' ? '' : t('side.preview_who', { name: store.name(last.sender_id) });
      preview = who + (last.deleted ? t('msg.quote_deleted') : quoteText(last).replace(/\s+/g, ' '));
    }
    // Text left unsent in another room than the open one, as chat apps show it.
    const draft = room.id === store.current ? '' : store.drafts.get(room.id);
    const draftPreview = draft ? h('span.room-preview.draft', h('strong', t('side.draft')), ' ', draft.replace(/\s+/g, ' ')) : null;
    const unread = room.unread_count ?? 0;
    const status = peer ? (store.presence.get(peer.id)?.status ?? 'offline') : null;
    const icon = peer ? avatar(peer, status) : avatar({ id: room.id, display_name: title }, undefined, 'square');
    markEntry(button, { active: store.current === room.id, unread: unread > 0 });
    // The presence dot takes no pointer events (see app.css), so its tooltip is the entry's.
    if (peer) button.title = t('side.peer_presence', { name: title, status: statusText(status) });
    else button.removeAttribute('title');
    replace(
      button,
      icon,
      h(
        'span.room-text',
        h('span.room-top', h('span.room-name', title), h('time.room-time', shortTime(last?.created_at ?? room.created_at))),
        h('span.room-bottom', draftPreview ?? h('span.room-preview', preview || (room.topic ?? '')), unread ? h('span.badge.unread-badge', { role: 'img', 'aria-label': t('side.unread', { count: unread }) }, unread > 99 ? '99+' : number(unread)) : null),
      ),
    );
  }

  renderResults() {
    const { store } = this.app;
    if (this.results === null) {
      replace(this.listEl, h('p.muted.pad', t('side.searching')));
      return;
    }
    if (!this.results.length) {
      replace(this.listEl, h('p.muted.pad', t('side.no_results')));
      return;
    }
    // Kept per message like the rooms: the results redraw on every message and presence change.
    this.resultList ??= new KeptList(h('ul.results#search-results'));
    const ul = this.resultList.show(
      this.results,
      (r) => r.message.id,
      ({ message }) =>
        h('li', h('button.result', {
          type: 'button',
          onclick: () => {
            this.app.openRoom(message.room_id);
            this.app.pendingJump = message.id;
          },
        })),
      (li, { message, snippet }) =>
        replace(
          li.firstChild,
          h('span.room-top', h('span.room-name', store.roomTitle(store.rooms.get(message.room_id))), h('time.room-time', shortTime(message.created_at))),
          h('span.result-who', store.name(message.sender_id)),
          h('span.snippet', snippetNodes(snippet)),
        ),
    );
    if (this.listEl.firstChild !== ul || this.listEl.childNodes.length !== 1) replace(this.listEl, ul);
  }
}
