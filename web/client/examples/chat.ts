// A minimal chat: sign in, show a room's history and live changes, send, and follow presence.
// Types come with the package; every event's `detail` and every command's reply is typed.
import { ApiError, PlauderClient, type Message, type Room } from 'plauder-client';

const client = new PlauderClient({ baseUrl: 'https://chat.example.org' });
if (!client.session) await client.login('ada', 'correct horse battery staple');

const { rooms } = await client.api<{ rooms: Room[] }>('GET', '/rooms');
const room = rooms[0];
if (!room) throw new Error('no rooms yet');

const shown = new Map<string, Message>();
const show = (m: Message): void => {
  if (m.room_id !== room.id) return;
  shown.set(m.id, m);
  const who = m.sender_id ?? 'deleted user';
  console.log(`#${m.seq} ${who}: ${m.deleted ? '(deleted)' : m.body}`);
};

const page = await client.api<{ messages: Message[]; has_more: boolean }>(
  'GET',
  `/rooms/${room.id}/messages?limit=50`,
);
for (const m of page.messages.reverse()) {
  if (client.accept(m)) show(m);
}

client.watchRoom(room.id, room.last_seq);
client.addEventListener('message', (e) => show(e.detail.message));
client.addEventListener('typing', (e) => {
  if (e.detail.active) console.log(`${e.detail.user_id} is typing in ${e.detail.room_id}`);
});
// An answer being streamed (the assistant): the pieces of one message id, until its `message`.
const growing = new Map<string, string>();
client.addEventListener('message.delta', (e) => {
  const { message_id, index, delta, aborted } = e.detail;
  if (aborted) growing.delete(message_id);
  else if (index === 0 || growing.has(message_id)) growing.set(message_id, (growing.get(message_id) ?? '') + delta);
});
client.addEventListener('read', (e) => console.log(`${e.detail.user_id} read up to ${e.detail.seq}`));
client.addEventListener('state', (e) => console.log('connection', e.detail.state));
client.addEventListener('hello', (e) => console.log(`connected to ${e.detail.instance}, reconnect: ${e.detail.reconnect}`));
client.addEventListener('signedout', (e) => console.log('signed out:', e.detail.reason));
client.addEventListener('room.member_removed', (e) => {
  if (e.detail.user_id === client.user?.id) client.forgetRoom(e.detail.room_id);
});
client.connect();

try {
  const sent = await client.send(room.id, 'hello from TypeScript');
  await client.react(sent.id, '👍');
  const edited = await client.edit(sent.id, 'hello from TypeScript, edited');
  console.log(edited.edited_at);
  const { unread_count } = await client.markRead(room.id, edited.rev);
  console.log('unread', unread_count);
} catch (err) {
  if (err instanceof ApiError && err.code === 'rate_limited') {
    console.log('slow down for', err.details?.['retry_after_ms'], 'ms');
  } else {
    throw err;
  }
}

// A file with a message: upload it (with progress, cancellable), then send it by its view.
const picked = new Blob([new Uint8Array([0x25, 0x50, 0x44, 0x46])], { type: 'application/pdf' });
const cancel = new AbortController();
try {
  const file = await client.upload(picked, {
    name: 'plan.pdf',
    signal: cancel.signal,
    onProgress: (sent, total) => console.log(`uploaded ${sent} of ${total} bytes`),
  });
  const withFile = await client.send(room.id, '', { attachments: [file] });
  for (const a of withFile.attachments) console.log(a.name, a.size, a.content_type, a.thumbnail_url ?? a.url);
} catch (err) {
  if (err instanceof ApiError && (err.code === 'unsupported_media_type' || err.code === 'payload_too_large')) {
    console.log('not sent:', err.message);
  } else if (!(err instanceof DOMException && err.name === 'AbortError')) {
    throw err;
  }
}

// Any command by name: data and reply are checked against the protocol.
const synced = await client.command('sync', { room_id: room.id, since_seq: 0, limit: 100 });
console.log(synced.last_seq, synced.messages.length, synced.has_more);

const members = await client.api<{ members: { user: { id: string } }[] }>('GET', `/rooms/${room.id}/members`);
const { statuses } = await client.subscribePresence(members.members.map((m) => m.user.id));
for (const s of statuses) console.log(s.user_id, s.status, s.last_seen_at);
client.addEventListener('presence', (e) => console.log(e.detail.user_id, 'is now', e.detail.status));
await client.setPresence('away');
