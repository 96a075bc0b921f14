// Message removal (DELETE /admin/messages/{id}) by id: staff are not members of most rooms and
// cannot browse them, so a reported message reaches them as its id. Messages in support chats
// are removed from the conversation itself (inbox.js).

import { h, replace, toast, t } from '../app/dom.js';
import { attempt, heading } from './common.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ModerationView {
  constructor(ctx, container) {
    this.ctx = ctx;
    const id = h('input#remove-message-id', { name: 'message_id', required: true, placeholder: t('moderation.id'), 'aria-label': t('moderation.id'), autocomplete: 'off', spellcheck: false });
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
            error.textContent = t('moderation.bad_id');
            return;
          }
          const m = await attempt(() => ctx.client.api('DELETE', `/admin/messages/${value}`));
          if (!m) return;
          id.value = '';
          toast(t('moderation.removed_toast'));
          replace(result, h('p.card', t('moderation.removed', { seq: m.seq ?? '?', room: m.room_id ?? '?' })));
        },
      },
      id,
      h('button.chip.danger', { type: 'submit' }, t('inbox.remove')),
    );
    replace(
      container,
      heading(t('admin.nav.messages')),
      h('p.muted', t('moderation.intro')),
      form,
      error,
      result,
    );
  }

  stop() {}
}
