// The chat app's entry point: signs in (or shows the sign-in screen), loads the user's rooms and
// friends, feeds the client's events into the store, and lays out the sidebar and chat view.
// Also the installable app's part: the service worker, the offline banner (offline.js), and
// `#room=<id>` links (from push notifications) that open a room.

import { PlauderClient } from '../plauder-client.js';
import { Store } from './store.js';
import { Drafts } from './drafts.js';
import { h, replace, toast, t } from './dom.js';
import { applyLang } from './lang.js';
import { renderAuth } from './auth.js';
import { Sidebar } from './sidebar.js';
import { ChatView } from './chat.js';
import { Notifier } from './notify.js';
import { Reachability } from './offline.js';
import { registerServiceWorker, followNotificationClicks } from './pwa.js';
import { serverText } from '../errors.js';

const client = new PlauderClient();
const root = /** @type {HTMLElement} */ (document.getElementById('app'));
/** Listeners of the signed-in session, removed together at sign-out. */
let session = null;
/** The signed-in app, for `#room=` links followed while it runs. */
let current = null;

applyLang();

const SIGNED_OUT = {
  banned: () => t('signout.banned'),
  revoked: () => t('signout.revoked'),
  expired: () => t('signout.expired'),
};

client.addEventListener('signedout', (e) => {
  session?.abort();
  session = null;
  current = null;
  const text = SIGNED_OUT[e.detail.reason]?.();
  showAuth(text);
  // Whoever uses this browser next finds no unsent words of this account.
  Drafts.clear();
});

function showAuth(notice = '') {
  document.title = 'plauder';
  renderAuth(root, client, startApp, notice);
}

/** The app after sign-in. Everything it registers is undone through `session`. */
async function startApp() {
  session?.abort();
  session = new AbortController();
  const signal = session.signal;
  const store = new Store();
  store.me = client.user;
  store.addUser(client.user);
  // Another tab's drafts show in this tab's room list as they are stored.
  store.drafts = new Drafts(client.user.id, signal, () => store.emit('drafts'));

  const shell = h('div.shell');
  const aside = h('aside.sidebar', { 'aria-label': t('app.sidebar') });
  const main = h('main.main');
  shell.append(aside, main);
  replace(root, shell);

  const app = {
    client,
    store,
    shell,
    signal,
    /** Opens a room in the chat view (and, at phone width, switches to it). */
    openRoom: (id) => {
      store.current = id;
      shell.classList.toggle('room-open', Boolean(id));
      store.emit('current');
      chat.open(id);
    },
    closeRoom: () => {
      store.current = null;
      shell.classList.remove('room-open');
      store.emit('current');
      chat.open(null);
    },
    reloadRooms: () => loadRooms(app),
    reloadPeople: () => loadPeople(app),
    loadMembers: (roomId) => loadMembers(app, roomId),
    /** The room a `#room=<id>` link asks for, opened once the room list has it. */
    wantedRoom: roomFromHash(),
    /** The first room and people lists failed for want of a network: load them when back. */
    unloaded: false,
    /** The room list has been loaded: a room missing from it is not the user's. */
    listed: false,
  };
  current = app;
  const notifier = new Notifier(app);
  const sidebar = new Sidebar(app, aside, notifier);
  const chat = new ChatView(app, main);
  app.sidebar = sidebar;
  // Offline: a banner over both panes, sending off (chat.js), the screen marked as possibly stale.
  const banner = h('div.offline-banner#offline-banner', { role: 'status' });
  shell.prepend(banner);
  const showOffline = () => {
    banner.textContent = store.offline ? t('offline.banner') : '';
    shell.classList.toggle('offline', store.offline);
  };
  store.on('offline', showOffline, { signal });
  const reach = new Reachability(app, () => {
    client.retryNow();
    if (app.unloaded) loadLists(app);
  });
  app.reach = reach;

  const on = (type, fn) => client.addEventListener(type, (e) => fn(e.detail), { signal });
  on('state', ({ state }) => {
    store.connection = state;
    store.emit('connection');
  });
  on('hello', ({ reconnect, user }) => {
    if (user) store.addUser(user);
    // The session's copy of the user may predate a status chosen on another device.
    if (user && user.id === store.me?.id) {
      store.me = { ...store.me, ...user };
      store.emit('me');
    }
    if (reconnect || app.unloaded) loadLists(app);
    subscribeKnown(app);
    store.emit('hello', { reconnect });
  });
  on('message', ({ message, kind }) => {
    const room = store.rooms.get(message.room_id);
    // A room we have not listed yet (its member_added raced the message): list it again.
    if (!room) loadRooms(app).catch(() => {});
    const prevLast = room?.last_seq ?? 0;
    const fresh = (kind === 'message.new' || kind === 'sync') && message.seq > prevLast;
    const changed = store.upsertMessage(message, { live: fresh });
    learnUser(app, message.sender_id);
    if (changed && fresh && !message.deleted && message.sender_id !== store.me?.id) notifier.message(message);
  });
  on('pending', ({ room_id }) => store.emit('pending', { roomId: room_id }));
  on('typing', ({ room_id, user_id, active }) => store.setTyping(room_id, user_id, active));
  on('command.reply', (reply) => {
    learnUser(app, reply.bot_id);
    store.addEphemeral(reply);
  });
  on('message.delta', (delta) => {
    learnUser(app, delta.sender_id);
    store.applyDelta(delta);
  });
  on('read', ({ room_id, user_id, seq }) => {
    store.setReadMarker(room_id, user_id, seq);
    const room = store.rooms.get(room_id);
    if (user_id === store.me?.id && room && seq >= (room.last_message?.seq ?? 0)) {
      room.unread_count = 0;
      store.emit('rooms');
    }
  });
  on('presence.chosen', ({ status }) => {
    store.me = { ...store.me, presence_status: status };
    store.emit('me');
  });
  on('presence', ({ user_id, status, last_seen_at }) => {
    store.presence.set(user_id, { status, last_seen_at });
    store.emit('presence', { userId: user_id });
  });
  on('room.member_added', ({ room_id, user, room }) => {
    store.addUser(user);
    store.setReadMarker(room_id, user.id, 0);
    if (user.id === store.me?.id && room && !store.rooms.has(room_id)) {
      store.rooms.set(room_id, { ...room, unread_count: 0, last_message: null, my_role: 'member', last_read_seq: 0 });
      loadMembers(app, room_id).catch(() => {});
    }
    store.emit('rooms');
    store.emit('members', { roomId: room_id });
  });
  on('room.member_removed', ({ room_id, user_id }) => {
    store.members.get(room_id)?.delete(user_id);
    if (user_id === store.me?.id) dropRoom(app, room_id, t('room.left_notice'));
    store.emit('members', { roomId: room_id });
  });
  on('room.updated', ({ room }) => {
    const old = store.rooms.get(room.id);
    if (old) store.rooms.set(room.id, { ...old, ...room });
    store.emit('rooms');
    store.emit('current');
  });
  on('room.deleted', ({ room_id }) => dropRoom(app, room_id, t('room.deleted_notice')));
  on('friend.request', ({ request }) => {
    store.addUser(request.from);
    toast(t('people.request_received', { name: request.from.display_name || request.from.username }));
    loadPeople(app).catch(() => {});
  });
  on('friend.accepted', ({ user }) => {
    toast(t('people.request_accepted', { name: user.display_name || user.username }));
    loadPeople(app).catch(() => {});
  });
  on('error', ({ error }) => toast(serverText(error), 'error'));

  // Drawn before the loads: a room clicked as soon as the list shows must stay open.
  sidebar.render();
  chat.open(null);
  await loadLists(app);
  if (!client.session || signal.aborted) return;
  client.connect();
}

/**
 * The room list and the people lists. Without a network (the shell came from the service
 * worker's cache, or the server is down) the failure shows as the offline banner, and the lists
 * load once the server answers again.
 */
async function loadLists(app) {
  try {
    await Promise.all([loadRooms(app), loadPeople(app)]);
    if (app.unloaded) {
      app.unloaded = false;
      app.store.emit('rooms');
    }
  } catch (e) {
    if (!app.client.session || app.signal.aborted) return;
    if (e.code === 'unavailable') {
      app.unloaded = true;
      app.store.emit('rooms');
      app.reach.failed();
    } else toast(serverText(e), 'error');
  }
}

/** The room id of a `#room=<uuid>` fragment (a notification's link), or null. */
function roomFromHash() {
  const m = /^#room=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(location.hash);
  return m ? m[1].toLowerCase() : null;
}

/**
 * Opens the room a link asked for once the list holds it; `listed` says the list is complete, so
 * a room not in it is not the user's. The fragment goes once followed: the next link to the
 * same room is a new hashchange, and a reload does not jump back.
 */
function openWantedRoom(app, listed) {
  const id = app.wantedRoom;
  if (!id) return;
  if (!app.store.rooms.has(id) && !listed) return;
  app.wantedRoom = null;
  if (roomFromHash()) history.replaceState(null, '', location.pathname + location.search);
  if (app.store.rooms.has(id)) app.openRoom(id);
  else toast(t('room.link_unknown'), 'error');
}

/** The room list; every room is watched so the client syncs it after a reconnect. */
async function loadRooms(app) {
  const { store, client } = app;
  const { rooms } = await client.api('GET', '/rooms');
  const seen = new Set();
  for (const r of rooms) {
    seen.add(r.id);
    const old = store.rooms.get(r.id);
    // Keep a newer preview that arrived live while the list was loading.
    if (old?.last_message && r.last_message && old.last_message.seq > r.last_message.seq) r.last_message = old.last_message;
    store.rooms.set(r.id, r);
    client.watchRoom(r.id, r.last_seq);
  }
  for (const id of [...store.rooms.keys()]) if (!seen.has(id)) dropRoom(app, id, null);
  // Rooms left or deleted while this browser was away.
  store.drafts.retain(seen);
  // Direct rooms are named after the other person: their members are needed for the list.
  await Promise.all(rooms.filter((r) => r.kind === 'direct' && !store.members.has(r.id)).map((r) => loadMembers(app, r.id).catch(() => {})));
  store.emit('rooms');
  app.listed = true;
  openWantedRoom(app, true);
}

/** A room's members with their read markers; subscribes to their presence. */
async function loadMembers(app, roomId) {
  const { store, client } = app;
  const { members } = await client.api('GET', `/rooms/${roomId}/members`);
  const markers = new Map();
  for (const m of members) {
    store.addUser(m.user);
    markers.set(m.user.id, m.last_read_seq ?? 0);
  }
  store.members.set(roomId, markers);
  store.emit('members', { roomId });
  store.emit('receipts', { roomId });
  const others = members.map((m) => m.user.id).filter((id) => id !== store.me?.id && m_notGuest(store, id));
  if (others.length && client.state === 'open') {
    client.subscribePresence(others).then(({ statuses }) => {
      for (const s of statuses) store.presence.set(s.user_id, { status: s.status, last_seen_at: s.last_seen_at });
      store.emit('presence', {});
    }, () => {});
  }
  return members;
}

function m_notGuest(store, id) {
  return store.users.get(id)?.role !== 'guest';
}

/** Presence subscriptions end with the socket: renew them for every known room member. */
function subscribeKnown(app) {
  const { store, client } = app;
  const ids = new Set();
  for (const markers of store.members.values()) for (const id of markers.keys()) if (id !== store.me?.id && m_notGuest(store, id)) ids.add(id);
  if (!ids.size) return;
  client.subscribePresence([...ids]).then(({ statuses }) => {
    for (const s of statuses) store.presence.set(s.user_id, { status: s.status, last_seen_at: s.last_seen_at });
    store.emit('presence', {});
  }, () => {});
}

async function loadPeople(app) {
  const { store, client } = app;
  const [friends, requests, blocks] = await Promise.all([
    client.api('GET', '/friends'),
    client.api('GET', '/friends/requests'),
    client.api('GET', '/blocks'),
  ]);
  store.friends = friends.friends;
  for (const f of store.friends) store.addUser(f.user);
  store.requests = requests;
  for (const r of [...requests.incoming, ...requests.outgoing]) {
    store.addUser(r.from);
    store.addUser(r.to);
  }
  store.blocks = blocks.blocks;
  store.emit('people');
  store.emit('presence', {});
}

function dropRoom(app, roomId, notice) {
  const { store, client } = app;
  client.forgetRoom(roomId);
  store.drafts.set(roomId, '');
  store.rooms.delete(roomId);
  store.messages.delete(roomId);
  if (store.current === roomId) {
    app.closeRoom();
    if (notice) toast(notice);
  }
  store.emit('rooms');
}

// A reset (or verification) mail's link opened in a tab that has the app already: the same
// page, a new fragment. A notification's `#room=<id>` link: that room.
window.addEventListener('hashchange', () => {
  const room = roomFromHash();
  if (room && current) {
    current.wantedRoom = room;
    openWantedRoom(current, current.listed);
    return;
  }
  if (!location.hash.startsWith('#reset-password=') && !location.hash.startsWith('#verify-email=')) return;
  session?.abort();
  session = null;
  client.disconnect();
  showAuth();
});

registerServiceWorker();
followNotificationClicks();

// A reset mail's link shows the reset form even where someone is signed in.
// A verification mail's link is handled there too (it returns to the app at once when signed in).
if (client.session && !location.hash.startsWith('#reset-password=') && !location.hash.startsWith('#verify-email=')) {
  startApp();
} else {
  showAuth();
}

/** Users being looked up, so each unknown sender is asked for once. */
const asked = new Set();

/**
 * Fetches a sender the store does not know (the assistant, a bot that is no member of the room),
 * so its name and bot badge show; the messages are drawn again once it is known.
 */
function learnUser(app, id) {
  if (!id || app.store.users.has(id) || asked.has(id)) return;
  asked.add(id);
  app.client
    .api('GET', `/users/${id}`)
    .then((user) => {
      app.store.addUser(user);
      app.store.emit('users');
    })
    .catch(() => asked.delete(id));
}
