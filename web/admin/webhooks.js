// Outgoing webhooks (GET/POST /admin/webhooks): register an endpoint (its signing secret is shown
// once), enable or disable it, delete it, and read its delivery log (every attempt with status,
// latency and error) with "Send again" per delivery.

import { h, replace, t, toast } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

const EVENTS = ['message.created', 'message.edited', 'message.deleted'];

export class WebhooksView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.secret = h('div#webhook-secret');
    this.list = h('ul.cards#webhook-list');
    this.log = h('div#delivery-log');
    const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://receiver.example/hook', 'aria-label': t('webhooks.url') });
    const room = h('input', { name: 'room_id', placeholder: t('webhooks.room'), 'aria-label': t('webhooks.only_room') });
    const boxes = EVENTS.map((e) => h('label.small', h('input', { type: 'checkbox', value: e, checked: e === 'message.created' }), ` ${e}`));
    const form = h(
      'form.inline-form#create-webhook-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          const body = { url: url.value.trim(), event_types: boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value) };
          if (room.value.trim()) body.room_id = room.value.trim();
          const res = await attempt(() => ctx.client.api('POST', '/admin/webhooks', body));
          if (!res) return;
          url.value = '';
          room.value = '';
          const input = h('input.secret-value', { readonly: true, value: res.secret, 'aria-label': t('webhooks.secret') });
          replace(
            this.secret,
            h('div.card.secret', { role: 'status' }, h('strong', t('webhooks.secret_of', { url: res.url })), h('p.small.muted', t('webhooks.copy_now')), input),
          );
          this.load();
        },
      },
      url,
      boxes,
      room,
      h('button.primary', { type: 'submit' }, t('webhooks.add')),
    );
    replace(
      container,
      heading(t('webhooks.title'), h('button.chip', { type: 'button', onclick: () => this.load() }, t('common.reload'))),
      h('p.small.muted', t('webhooks.intro')),
      form,
      this.secret,
      this.list,
      this.log,
    );
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', '/admin/webhooks'));
    if (!res) return;
    if (!res.webhooks.length) replace(this.list, h('li.empty-list.muted', t('webhooks.none')));
    else replace(this.list, res.webhooks.map((w) => this.item(w)));
  }

  item(w) {
    const api = this.ctx.client;
    return h(
      `li.card.webhook${w.enabled ? '' : '.disabled'}`,
      { dataset: { id: w.id } },
      h('div.card-head', h('strong', w.url), h('span.small.muted', w.event_types.join(', ')), w.room_id ? h('span.small.muted', t('webhooks.room_named', { id: w.room_id })) : null),
      h(
        'p.small',
        w.enabled ? t('webhooks.enabled', { count: w.consecutive_failures }) : t('webhooks.disabled', { when: dateTime(w.disabled_at), reason: w.disabled_reason ?? '' }),
      ),
      h(
        'div.card-actions',
        h('button.chip', { type: 'button', onclick: () => this.showLog(w) }, t('webhooks.log')),
        h('button.chip', {
          type: 'button',
          onclick: async () => {
            if (await attempt(() => api.api('PATCH', `/admin/webhooks/${w.id}`, { enabled: !w.enabled }))) {
              toast(w.enabled ? t('webhooks.now_disabled') : t('webhooks.now_enabled'));
              this.load();
            }
          },
        }, w.enabled ? t('webhooks.disable') : t('webhooks.enable')),
        h('button.chip.danger', {
          type: 'button',
          onclick: async () => {
            if ((await attempt(() => api.api('DELETE', `/admin/webhooks/${w.id}`))) !== undefined) {
              replace(this.log);
              this.load();
            }
          },
        }, t('webhooks.delete')),
      ),
    );
  }

  async showLog(w) {
    const res = await attempt(() => this.ctx.client.api('GET', `/admin/webhooks/${w.id}/deliveries?limit=100`));
    if (!res) return;
    const rows = res.deliveries.map((d) =>
      h(
        'tr.delivery',
        { dataset: { id: String(d.id), state: d.state } },
        h('td', dateTime(d.created_at)),
        h('td', d.event_type),
        h('td', d.state),
        h('td', d.attempt_log.map((a) => h('div.small', `${dateTime(a.attempted_at)} · ${a.status_code ?? '—'} · ${a.latency_ms} ms${a.error ? ` · ${a.error}` : ''}`))),
        h(
          'td',
          h('button.chip.resend', {
            type: 'button',
            onclick: async () => {
              if (await attempt(() => this.ctx.client.api('POST', `/admin/webhooks/deliveries/${d.id}/redeliver`, {}))) {
                toast(t('webhooks.queued_again'));
                this.showLog(w);
              }
            },
          }, t('webhooks.send_again')),
        ),
      ),
    );
    replace(
      this.log,
      h('h3', t('webhooks.deliveries_to', { url: w.url })),
      rows.length
        ? h('div.table-wrap', h('table.deliveries#delivery-rows', h('thead', h('tr', [t('webhooks.col_queued'), t('webhooks.col_event'), t('webhooks.col_state'), t('webhooks.col_attempts'), ''].map((c) => h('th', c)))), h('tbody', rows)))
        : h('p.muted', t('webhooks.no_deliveries')),
    );
  }

  stop() {}
}
