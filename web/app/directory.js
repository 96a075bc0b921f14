// The public room directory: every public group room (`GET /directory/rooms`), biggest first,
// searched by name or topic as one types, a page at a time; joining one (`POST
// /rooms/{id}/join`) opens it, and a room one is in already opens directly.

import { h, replace, avatar, t } from './dom.js';
import { attempt, dialog } from './people.js';

const PAGE = 20;

/** Opens the directory as a modal dialog. */
export function directoryDialog(app) {
  const { client } = app;
  const q = h('input#directory-search', { type: 'search', placeholder: t('directory.search'), 'aria-label': t('directory.search'), maxlength: 100 });
  const list = h('ul.directory-list#directory-list', { 'aria-label': t('directory.rooms') });
  const status = h('p.muted.small#directory-status', { role: 'status' });
  const more = h('button.chip#directory-more', { type: 'button', hidden: true, onclick: () => load(false) }, t('directory.more'));
  const d = dialog(t('directory.title'), h('div.directory', q, status, list, h('div.modal-foot', more)));
  let shown = 0;
  let query = '';
  let timer;

  async function load(fresh) {
    const text = q.value.trim();
    if (fresh) {
      query = text;
      shown = 0;
    }
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(shown) });
    if (query) params.set('q', query);
    const res = await attempt(() => client.api('GET', `/directory/rooms?${params}`));
    if (!res || query !== q.value.trim()) return;
    if (fresh) replace(list);
    list.append(...res.rooms.map(item));
    shown += res.rooms.length;
    more.hidden = !res.has_more;
    status.textContent = res.total === 0 ? (query ? t('directory.none_found') : t('directory.none')) : t('directory.count', { count: res.total });
  }

  function item(room) {
    const open = async () => {
      d.close();
      await app.reloadRooms();
      app.openRoom(room.id);
    };
    const join = async () => {
      const done = await attempt(() => client.api('POST', `/rooms/${room.id}/join`));
      if (done) await open();
    };
    return h(
      'li.directory-item',
      { dataset: { roomId: room.id } },
      avatar({ id: room.id, display_name: room.name }, undefined, 'square'),
      h(
        'span.directory-text',
        h('span.person-name', room.name),
        room.topic ? h('span.small.muted.directory-topic', room.topic) : null,
        h('span.small.muted', t('directory.members', { count: room.member_count })),
      ),
      room.joined
        ? h('button.chip.directory-open', { type: 'button', 'aria-label': t('directory.open_room', { name: room.name }), onclick: open }, t('directory.open'))
        : h('button.chip.primary.directory-join', { type: 'button', 'aria-label': t('directory.join_room', { name: room.name }), onclick: join }, t('directory.join')),
    );
  }

  q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 200);
  });
  load(true);
  q.focus();
  return d;
}
