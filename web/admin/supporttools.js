// The support inbox's tools besides answering: canned replies (picked in the composer and
// inserted at the cursor; managed together by all staff), blocking the visitor of a chat by
// address and/or browser for a set time, the list of blocks in force (lifted early from there),
// and mailing a chat's transcript to the visitor. Each is a dialog (focus moves in and back).

import { h, replace, toast, t } from '../app/dom.js';
import { dialog } from '../app/people.js';
import { attempt, dateTime } from './common.js';
import { serverText } from '../errors.js';

const BLOCK_HOURS = [1, 24, 24 * 7, 24 * 30];

/** The error of a failed call, with the server's field messages when it named fields. */
function reason(err) {
  return serverText(err);
}

/**
 * The composer's canned-reply picker: a button that opens the replies (filtered as one types)
 * and puts the chosen one into `input` at the cursor.
 */
export function cannedPicker(ctx, input) {
  return h('button.chip#canned-button', { type: 'button', onclick: () => pickDialog(ctx, input) }, t('canned.insert'));
}

async function pickDialog(ctx, input) {
  const res = await attempt(() => ctx.client.api('GET', '/admin/canned-replies'));
  if (!res) return;
  const filter = h('input#canned-filter', { type: 'search', placeholder: t('canned.filter'), 'aria-label': t('canned.filter') });
  const list = h('ul.canned-list#canned-list');
  const manage = h('button.chip#canned-manage', { type: 'button', onclick: () => { d.close(); manageDialog(ctx); } }, t('canned.manage'));
  const d = dialog(t('canned.title'), h('div.canned', filter, list, h('div.modal-foot', manage)));
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = res.replies.filter((r) => !q || r.title.toLowerCase().includes(q) || r.body.toLowerCase().includes(q));
    replace(
      list,
      shown.length
        ? shown.map((r) =>
            h('li', h('button.canned-item', {
              type: 'button',
              dataset: { id: r.id },
              onclick: () => {
                insertAtCursor(input, r.body);
                // After the dialog has given focus back to its opener: on into the answer.
                d.addEventListener('close', () => input.focus(), { once: true });
                d.close();
              },
            }, h('strong', r.title), h('span.small.muted.canned-preview', r.body))),
          )
        : h('li.muted.pad', res.replies.length ? t('canned.none_match') : t('canned.none')),
    );
  };
  filter.addEventListener('input', draw);
  draw();
  filter.focus();
}

/** Puts `text` where the caret is (replacing a selection), as typing it would. */
function insertAtCursor(input, text) {
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? start;
  input.setRangeText(text, start, end, 'end');
  // Typing indicators and the like follow input events.
  input.dispatchEvent(new Event('input', { bubbles: true }));
}

/** Adding, editing and deleting canned replies. */
export async function manageDialog(ctx) {
  const body = h('div.canned-manage');
  const d = dialog(t('canned.manage_title'), body);
  const api = ctx.client;

  async function draw(focusId) {
    const res = await attempt(() => api.api('GET', '/admin/canned-replies'));
    if (!res || !d.open) return;
    const title = h('input#canned-new-title', { name: 'title', maxlength: 100, required: true });
    const text = h('textarea#canned-new-body', { name: 'body', maxlength: 4000, rows: 3, required: true });
    const error = h('p.form-error#canned-error', { role: 'alert' });
    const form = h(
      'form.canned-form#canned-form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          try {
            await api.api('POST', '/admin/canned-replies', { title: title.value, body: text.value });
            toast(t('canned.added'));
            draw('canned-new-title');
          } catch (err) {
            error.textContent = reason(err);
          }
        },
      },
      h('label.field', h('span', t('canned.field_title')), title),
      h('label.field', h('span', t('canned.field_body')), text),
      error,
      h('div.modal-foot', h('button.primary', { type: 'submit' }, t('canned.add'))),
    );
    replace(
      body,
      h('ul.canned-list#canned-manage-list', res.replies.length ? res.replies.map(row) : h('li.muted.pad', t('canned.none'))),
      h('h3', t('canned.new')),
      form,
    );
    (focusId ? document.getElementById(focusId) : title)?.focus();
  }

  function row(r) {
    const li = h('li.canned-row', { dataset: { id: r.id } });
    const show = () =>
      replace(
        li,
        h('div.canned-text', h('strong', r.title), h('span.small.muted.canned-preview', r.body)),
        h('button.chip.canned-edit', { type: 'button', 'aria-label': t('canned.edit_named', { title: r.title }), onclick: edit }, t('canned.edit')),
        h('button.chip.danger.canned-delete', {
          type: 'button',
          'aria-label': t('canned.delete_named', { title: r.title }),
          onclick: async () => {
            const done = await attempt(() => api.api('DELETE', `/admin/canned-replies/${r.id}`));
            if (done !== undefined) {
              toast(t('canned.deleted'));
              draw();
            }
          },
        }, t('canned.delete')),
      );
    const edit = () => {
      const title = h('input.canned-edit-title', { value: r.title, maxlength: 100, required: true, 'aria-label': t('canned.field_title') });
      const text = h('textarea.canned-edit-body', { maxlength: 4000, rows: 3, required: true, 'aria-label': t('canned.field_body') });
      text.value = r.body;
      const error = h('p.form-error', { role: 'alert' });
      replace(
        li,
        h(
          'form.canned-form',
          {
            onsubmit: async (e) => {
              e.preventDefault();
              try {
                await api.api('PATCH', `/admin/canned-replies/${r.id}`, { title: title.value, body: text.value });
                toast(t('canned.saved'));
                draw();
              } catch (err) {
                error.textContent = reason(err);
              }
            },
          },
          title,
          text,
          error,
          h('div.card-actions', h('button.primary', { type: 'submit' }, t('canned.save')), h('button.chip', { type: 'button', onclick: show }, t('common.cancel'))),
        ),
      );
      title.focus();
    };
    show();
    return li;
  }

  draw();
}

/** Blocking the visitor of `session` (address and/or browser, for how long, why); `done` after. */
export function blockDialog(ctx, session, done) {
  const address = h('input#block-address', { type: 'checkbox', checked: true });
  const browser = h('input#block-browser', { type: 'checkbox', checked: session.browser_known, disabled: !session.browser_known });
  const hours = h('select#block-hours', { 'aria-label': t('block.duration') }, BLOCK_HOURS.map((n) => h('option', { value: String(n), selected: n === 24 }, t(`block.hours_${n}`))));
  const why = h('input#block-reason', { maxlength: 500 });
  const error = h('p.form-error#block-error', { role: 'alert' });
  const form = h(
    'form.block-form#block-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          await ctx.client.api('POST', `/admin/support/sessions/${session.id}/block`, {
            address: address.checked,
            browser: browser.checked,
            hours: Number(hours.value),
            reason: why.value.trim() || null,
          });
          d.close();
          toast(t('block.done', { name: session.user.display_name }));
          done?.();
        } catch (err) {
          error.textContent = reason(err);
        }
      },
    },
    h('p.small', t('block.intro')),
    h('label.check-field', address, h('span', t('block.by_address'))),
    h('label.check-field', browser, h('span', session.browser_known ? t('block.by_browser') : t('block.browser_unknown'))),
    h('label.field', h('span', t('block.duration')), hours),
    h('label.field', h('span', t('block.reason')), why),
    error,
    h('div.modal-foot', h('button.danger-fill', { type: 'submit' }, t('block.submit'))),
  );
  const d = dialog(t('block.title', { name: session.user.display_name }), form);
  address.focus();
}

/** The blocks in force, each lifted with a button. */
export async function blocksDialog(ctx) {
  const body = h('div.blocks');
  const d = dialog(t('block.list_title'), body);
  async function draw() {
    const res = await attempt(() => ctx.client.api('GET', '/admin/support/blocks'));
    if (!res || !d.open) return;
    replace(
      body,
      h(
        'ul.canned-list#block-list',
        res.blocks.length
          ? res.blocks.map((b) =>
              h(
                'li.canned-row',
                { dataset: { id: b.id } },
                h(
                  'div.canned-text',
                  h('strong', [b.address, b.browser ? t('block.a_browser') : null].filter(Boolean).join(' · ')),
                  h('span.small.muted', t('block.until', { when: dateTime(b.expires_at) })),
                  b.reason ? h('span.small', b.reason) : null,
                ),
                h('button.chip.lift-block', {
                  type: 'button',
                  onclick: async () => {
                    const done = await attempt(() => ctx.client.api('DELETE', `/admin/support/blocks/${b.id}`));
                    if (done !== undefined) {
                      toast(t('block.lifted'));
                      await draw();
                      body.querySelector('button')?.focus();
                    }
                  },
                }, t('block.lift')),
              ),
            )
          : h('li.muted.pad', t('block.none')),
      ),
    );
  }
  await draw();
}

/** Mailing the transcript of `session`, to the address the visitor gave or another. */
export function transcriptDialog(ctx, session) {
  const email = h('input#transcript-email', { type: 'email', value: session.email ?? '', required: true, autocomplete: 'off' });
  const error = h('p.form-error#transcript-error', { role: 'alert' });
  const form = h(
    'form.block-form#transcript-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          const res = await ctx.client.api('POST', `/admin/support/sessions/${session.id}/transcript`, { email: email.value.trim() });
          d.close();
          toast(t('transcript.queued', { email: res.email, count: res.messages }));
        } catch (err) {
          error.textContent = reason(err);
        }
      },
    },
    h('p.small', t('transcript.intro')),
    h('label.field', h('span', t('transcript.email')), email),
    error,
    h('div.modal-foot', h('button.primary', { type: 'submit' }, t('transcript.send'))),
  );
  const d = dialog(t('transcript.title'), form);
  email.focus();
}
