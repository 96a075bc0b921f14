// A group room's settings and members, in one dialog: its name, topic and whether it is public
// (`PATCH /rooms/{id}`, owners and moderators), its members with their roles (the owner makes
// moderators or hands the room over, `PATCH /rooms/{id}/members/{user_id}`; owners and
// moderators remove members they outrank, `DELETE …/members/{user_id}`; they add people), leaving,
// and deleting the room with its history (the owner, `DELETE /rooms/{id}`). Other members see the
// same dialog without the controls their role does not give them; the server decides either way.
// Every member also sets their own notifications for the room: the level (all, mentions, none)
// and a mute (`GET/PUT/DELETE /rooms/{id}/notifications`).

import { h, replace, avatar, toast, t, fullDate } from './dom.js';
import { icon } from '../icons.js';
import { attempt, dialog, presenceText } from './people.js';
import { serverText } from '../errors.js';

const ROLES = ['owner', 'moderator', 'member'];
const LEVELS = ['all', 'mentions', 'none'];
/** The mute choices, in hours. */
const MUTES = [1, 8, 24, 168];

/** The caller's notification setting of the room, as a form that saves on every change. */
async function notifySection(app, room, part) {
  const { client } = app;
  // Members only (staff following a support room are none): otherwise the section stays empty.
  let current = await client.api('GET', `/rooms/${room.id}/notifications`).catch(() => null);
  if (!current) return;
  const draw = () => {
    const level = h(
      'select#notify-level',
      { 'aria-label': t('notify.level') },
      LEVELS.map((l) => h('option', { value: l, selected: l === current.level }, t(`notify.level_${l}`))),
    );
    const muted = current.muted_until && new Date(current.muted_until) > new Date();
    const mute = h(
      'select#notify-mute',
      { 'aria-label': t('notify.mute') },
      h('option', { value: '', selected: !muted }, t('notify.mute_off')),
      muted ? h('option', { value: 'keep', selected: true }, t('notify.muted_until', { time: fullDate(current.muted_until) })) : null,
      MUTES.map((hours) => h('option', { value: String(hours) }, t('notify.mute_for', { count: hours }))),
    );
    const save = async () => {
      const until = mute.value === '' ? null : mute.value === 'keep' ? current.muted_until : new Date(Date.now() + Number(mute.value) * 3600e3).toISOString();
      const saved = await attempt(() => client.api('PUT', `/rooms/${room.id}/notifications`, { level: level.value, muted_until: until }), t('roomset.saved'));
      if (saved) current = saved;
      draw();
      part.querySelector(`#${document.activeElement?.id || 'notify-level'}`)?.focus();
    };
    level.addEventListener('change', save);
    mute.addEventListener('change', save);
    const reset = current.is_default
      ? h('p.muted.small#notify-default', t('notify.is_default', { level: t(`notify.level_${current.level}`) }))
      : h('button.chip#notify-reset', {
          type: 'button',
          onclick: async () => {
            const back = await attempt(() => client.api('DELETE', `/rooms/${room.id}/notifications`), t('roomset.saved'));
            if (back) current = back;
            draw();
          },
        }, t('notify.reset'));
    replace(
      part,
      h('h3', t('notify.title')),
      h('div.notify-row', h('label.field', h('span', t('notify.level')), level), h('label.field', h('span', t('notify.mute')), mute)),
      reset,
    );
  };
  draw();
}

/**
 * Opens the dialog of `room`; `focus` is 'members' to start at the member list, else the
 * settings form (where there is one).
 */
export async function roomDialog(app, room, { focus = 'settings' } = {}) {
  const { client, store } = app;
  let members = await attempt(() => app.loadMembers(room.id));
  if (!members) return;
  const settings = h('section.room-settings#room-settings');
  const memberPart = h('section.room-members#room-members-section');
  const notifyPart = h('section.room-notify#room-notify');
  const foot = h('div.room-foot');
  const d = dialog(store.roomTitle(room), h('div.room-dialog', settings, notifyPart, memberPart, foot));
  // The room may change or go while the dialog is open: a deletion closes it, the rest redraws.
  const gone = new AbortController();
  d.addEventListener('close', () => gone.abort());
  store.on('rooms', () => {
    if (!d.open) return;
    if (!store.rooms.has(room.id)) d.close();
  }, { signal: gone.signal });

  const current = () => store.rooms.get(room.id) ?? room;
  const myRole = () => current().my_role;
  const moderates = () => ['owner', 'moderator'].includes(myRole());
  const isGroup = room.kind === 'group';

  function drawSettings() {
    const r = current();
    if (!isGroup || !moderates()) {
      replace(settings, r.topic ? h('p.room-topic#room-topic-text', r.topic) : null);
      return;
    }
    const name = h('input#room-name', { name: 'name', maxlength: 100, required: true, value: r.name ?? '' });
    const topic = h('textarea#room-topic', { name: 'topic', maxlength: 500, rows: 2 });
    topic.value = r.topic ?? '';
    const isPublic = h('input#room-public', { type: 'checkbox', name: 'is_public', checked: Boolean(r.is_public) });
    const error = h('p.form-error#room-settings-error', { role: 'alert' });
    const save = h('button.primary', { type: 'submit' }, t('roomset.save'));
    const form = h(
      'form.room-form#room-settings-form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          const changes = {};
          if (name.value.trim() !== (current().name ?? '')) changes.name = name.value.trim();
          const newTopic = topic.value.trim();
          if (newTopic !== (current().topic ?? '')) changes.topic = newTopic || null;
          if (isPublic.checked !== Boolean(current().is_public)) changes.is_public = isPublic.checked;
          if (!Object.keys(changes).length) {
            toast(t('roomset.saved'));
            return;
          }
          save.disabled = true;
          try {
            const updated = await client.api('PATCH', `/rooms/${room.id}`, changes);
            const old = store.rooms.get(room.id);
            if (old) store.rooms.set(room.id, { ...old, ...updated });
            store.emit('rooms');
            store.emit('current');
            d.querySelector('.modal-head h2').textContent = store.roomTitle(current());
            toast(t('roomset.saved'));
          } catch (err) {
            error.textContent = serverText(err);
          } finally {
            save.disabled = false;
          }
        },
      },
      h('label.field', h('span', t('roomset.name')), name),
      h('label.field', h('span', t('roomset.topic')), topic),
      h('label.check-field', isPublic, h('span', t('roomset.public'))),
      error,
      h('div.modal-foot', save),
    );
    replace(settings, form);
  }

  /** What the caller may do to `m`, as the server's rules have it (docs/protocol.md, rooms). */
  function mayRemove(m) {
    if (m.user.id === store.me?.id) return false;
    if (myRole() === 'owner') return true;
    return myRole() === 'moderator' && m.role === 'member';
  }

  async function reload() {
    const fresh = await attempt(() => app.loadMembers(room.id));
    if (fresh) members = fresh;
    drawMembers();
  }

  function memberRow(m) {
    const name = m.user.display_name || m.user.username;
    const me = m.user.id === store.me?.id;
    let roleControl;
    if (isGroup && myRole() === 'owner' && !me) {
      roleControl = h(
        'select.role-select',
        {
          'aria-label': t('roomset.role_of', { name }),
          onchange: async (e) => {
            const role = e.target.value;
            const done = await attempt(() => client.api('PATCH', `/rooms/${room.id}/members/${m.user.id}`, { role }));
            if (done && role === 'owner') {
              // Handing the room over makes the old owner a moderator.
              const r = store.rooms.get(room.id);
              if (r) store.rooms.set(room.id, { ...r, my_role: 'moderator' });
              toast(t('roomset.now_owner', { name }));
              drawSettings();
              drawFoot();
            } else if (done) {
              toast(t('roomset.role_changed', { name, role: t(`role.${role}`) }));
            }
            await reload();
          },
        },
        ROLES.map((r) => h('option', { value: r, selected: r === m.role }, t(`role.${r}`))),
      );
    }
    return h(
      'li.person',
      { dataset: { userId: m.user.id, role: m.role } },
      avatar(m.user, store.presence.get(m.user.id)?.status ?? 'offline'),
      h(
        'span.person-text',
        h('span.person-name', me ? t('roomset.you', { name }) : name),
        h('span.muted.small', roleControl ? presenceText(store.presence.get(m.user.id)) : `${t(`role.${m.role}`)} · ${presenceText(store.presence.get(m.user.id))}`),
      ),
      roleControl,
      isGroup && mayRemove(m)
        ? h('button.icon.small.remove-member', {
            type: 'button',
            title: t('roomset.remove', { name }),
            'aria-label': t('roomset.remove', { name }),
            onclick: async () => {
              const done = await attempt(() => client.api('DELETE', `/rooms/${room.id}/members/${m.user.id}`), t('roomset.removed', { name }));
              if (done !== undefined) await reload();
              memberPart.querySelector('h3')?.focus();
            },
          }, icon('close', 16))
        : null,
    );
  }

  function drawMembers() {
    const add = h('input#add-member', { type: 'search', placeholder: t('members.add'), 'aria-label': t('members.add') });
    const found = h('ul.people-list.pick#add-member-results');
    let timer;
    add.addEventListener('input', () => {
      clearTimeout(timer);
      const text = add.value.trim();
      timer = setTimeout(async () => {
        if (!text) return replace(found);
        const res = await attempt(() => client.api('GET', `/users?q=${encodeURIComponent(text)}&limit=10`));
        if (!res || add.value.trim() !== text) return;
        replace(
          found,
          res.users
            .filter((u) => !members.some((m) => m.user.id === u.id))
            .map((u) =>
              h('li', h('button.pick-user', {
                type: 'button',
                onclick: async () => {
                  const done = await attempt(() => client.api('POST', `/rooms/${room.id}/members`, { user_ids: [u.id] }), t('members.added'));
                  if (done) await reload();
                  document.getElementById('add-member')?.focus();
                },
              }, avatar(u), h('span.person-name', u.display_name || u.username))),
            ),
        );
      }, 200);
    });
    replace(
      memberPart,
      h('h3', { tabindex: '-1' }, t('roomset.members', { count: members.length })),
      h('ul.people-list#room-members', members.map(memberRow)),
      isGroup && moderates() ? h('div.find', add) : null,
      isGroup && moderates() ? found : null,
    );
  }

  function drawFoot() {
    const leave = h('button.chip.danger#leave-room', {
      type: 'button',
      onclick: async () => {
        if (!confirm(t('members.leave_confirm'))) return;
        const done = await attempt(() => client.api('DELETE', `/rooms/${room.id}/members/${store.me.id}`));
        if (done !== undefined) d.close();
      },
    }, t('members.leave'));
    if (!(isGroup && myRole() === 'owner')) {
      replace(foot, h('div.modal-foot', leave));
      return;
    }
    const confirmRow = h(
      'div.confirm-row#delete-room-confirm',
      { hidden: true },
      h('p', t('roomset.delete_confirm', { name: store.roomTitle(current()) })),
      h('button.danger-fill#delete-room-yes', {
        type: 'button',
        onclick: async () => {
          const done = await attempt(() => client.api('DELETE', `/rooms/${room.id}`));
          // The room.deleted event drops the room and says so; the dialog goes with it.
          if (done !== undefined) d.close();
        },
      }, t('roomset.delete_yes')),
      h('button.chip', { type: 'button', onclick: () => { confirmRow.hidden = true; del.hidden = false; del.focus(); } }, t('common.cancel')),
    );
    const del = h('button.chip.danger#delete-room', {
      type: 'button',
      onclick: () => {
        del.hidden = true;
        confirmRow.hidden = false;
        confirmRow.querySelector('button')?.focus();
      },
    }, t('roomset.delete'));
    replace(foot, h('div.modal-foot.spread', del, leave), confirmRow);
  }

  drawSettings();
  drawMembers();
  drawFoot();
  notifySection(app, room, notifyPart);
  const first = focus === 'members' ? memberPart.querySelector('h3') : settings.querySelector('input');
  (first ?? memberPart.querySelector('h3'))?.focus();
}
