// Staff side: new support sessions as they open, answering, closing; errors by code.
import { ApiError, PlauderClient, type ErrorCode, type Room, type User } from 'plauder-client';

const client = new PlauderClient();
await client.login('support-lead', 'a long staff passphrase');

const describe = (code: ErrorCode): string => {
  switch (code) {
    case 'forbidden':
      return 'not allowed';
    case 'rate_limited':
      return 'too fast';
    default:
      return code;
  }
};

client.addEventListener('support.session_created', async (e) => {
  const { room, user, session } = e.detail;
  const visitor: User = user;
  const chat: Room = room;
  console.log(`${visitor.display_name} opened ${session.id} (${session.email ?? 'no email'})`);
  client.watchRoom(chat.id, chat.last_seq);
  try {
    await client.send(chat.id, 'Hi! How can we help?');
  } catch (err) {
    if (err instanceof ApiError) console.log(describe(err.code), err.status);
  }
});
client.addEventListener('friend.request', (e) => console.log('friend request from', e.detail.request.from.username));
client.addEventListener('error', (e) => console.log('server error event', e.detail.error.code));
client.connect();

type Session = { id: string; room: Room; unread_count: number };
const { sessions } = await client.api<{ sessions: Session[] }>('GET', '/admin/support/sessions?status=open');
for (const s of sessions) {
  if (s.unread_count === 0) await client.api('POST', `/admin/support/sessions/${s.id}/close`);
}
