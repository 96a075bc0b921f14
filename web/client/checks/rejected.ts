// Mistakes the declarations must reject: each line below is a type error, and tsc fails if one
// of them stops being one (`@ts-expect-error` demands an error on the next line). This keeps the
// declarations from decaying into `any`.
import { PlauderClient } from 'plauder-client';

const client = new PlauderClient();

// @ts-expect-error: the command's field is room_id, not room
await client.command('typing', { room: 'r', active: true });

// @ts-expect-error: there is no such command
await client.command('message.shout', {});

// @ts-expect-error: since_seq is a number
await client.command('sync', { room_id: 'r', since_seq: '0' });

client.addEventListener('typing', (e) => {
  // @ts-expect-error: typing carries no body
  console.log(e.detail.body);
});

client.addEventListener('message', (e) => {
  // @ts-expect-error: sender_id may be null (a deleted user)
  const sender: string = e.detail.message.sender_id;
  console.log(sender);
});

// @ts-expect-error: invisible is settable, hidden is not a status
await client.setPresence('hidden');

// @ts-expect-error: the reply of presence.subscribe holds statuses, not users
const { users } = await client.subscribePresence(['u']);
console.log(users);

// @ts-expect-error: attachments are uploads' views, not their ids
await client.send('r', '', { attachments: ['a1'] });
