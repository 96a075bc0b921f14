// A visitor's support chat on another site: no account, a guest session and one room.
import { PlauderClient, type PendingMessage } from 'plauder-client';

const client = new PlauderClient({ baseUrl: 'https://chat.example.org', storageKey: 'shop.support' });
const { room, session_id } = client.session
  ? await (async () => {
      const { rooms } = await client.api<{ rooms: { id: string; last_seq: number }[] }>('GET', '/rooms');
      return { room: rooms[0], session_id: null };
    })()
  : await client.openSupport({ name: 'Visitor', email: 'visitor@example.org' });
if (!room) throw new Error('the support room is gone');
console.log('support session', session_id);

client.watchRoom(room.id, room.last_seq);
client.addEventListener('message', ({ detail }) => {
  const from = detail.message.sender_id === client.user?.id ? 'you' : 'staff';
  console.log(`${from}: ${detail.message.body}`, detail.kind);
});
client.addEventListener('support.session_closed', (e) => {
  console.log(`closed at ${e.detail.closed_at}; the history stays readable`);
  client.disconnect();
});
client.addEventListener('pending', (e) => {
  const waiting: PendingMessage[] = client.pending(e.detail.room_id);
  for (const p of waiting) if (p.state === 'failed') console.log('not sent:', p.body, p.error?.code);
});
client.connect();
await client.send(room.id, 'Hello, is anyone there?');
await client.typing(room.id, false);
