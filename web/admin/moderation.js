// Message removal (DELETE /admin/messages/{id}) by id: staff are not members of most rooms and
// cannot browse them, so a reported message reaches them as its id. Messages in support chats
// are removed from the conversation itself (inbox.js).

import { h, replace, toast } from '../app/dom.js';
import { attempt, heading } from './common.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ModerationView {
  constructor(ctx, container) {
    this.ctx = ctx;
    const id = h('input#remove-message-id', { name: 'message_id', required: true, placeholder: 'Message id', 'aria-label': 'Message id', autocomplete: 'off', spellcheck: false });
    const error = h('p.form-error', { role: 'alert' });
    const result = h('div#remove-result', { 'aria-live': 'polite' });
    const form = h(
      'form.inline-form#remove-message-form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          const value = id.value.trim();
          if (!UUID.test(value)) {
            error.textContent = 'A message id looks like 3f2c…-…: 36 characters.';
            return;
          }
          const m = await attempt(() => ctx.client.api('DELETE', `/admin/messages/${value}`));
          if (!m) return;
          id.value = '';
          toast('Message removed.');
          replace(result, h('p.card', `Removed message #${m.seq ?? '?'} in room ${m.room_id ?? '?'}. It now shows as removed to everyone in that room.`));
        },
      },
      id,
      h('button.chip.danger', { type: 'submit' }, 'Remove'),
    );
    replace(
      container,
      heading('Messages'),
      h('p.muted', 'Remove a message anywhere by its id. Everyone in its room sees it as removed at once, and the removal is recorded in the audit log.'),
      form,
      error,
      result,
    );
  }

  stop() {}
}
