// Outgoing webhooks (GET/POST /admin/webhooks): register an endpoint (its signing secret is shown
// once), enable or disable it, delete it, and read its delivery log (every attempt with status,
// latency and error) with "Send again" per delivery.

import { h, replace, toast } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

const EVENTS = ['message.created', 'message.edited', 'message.deleted'];

export class WebhooksView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.secret = h('div#webhook-secret');
    this.list = h('ul.cards#webhook-list');
    this.log = h('div#delivery-log');
    const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://receiver.example/hook', 'aria-label': 'Endpoint URL' });
    const room = h('input', { name: 'room_id', placeholder: 'Room id (optional)', 'aria-label': 'Only this room' });
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
          const input = h('input.secret-value', { readonly: true, value: res.secret, 'aria-label': 'Signing secret' });
          replace(
            this.secret,
            h('div.card.secret', { role: 'status' }, h('strong', `Signing secret of ${res.url}`), h('p.small.muted', 'Copy it now: it is not shown again. Receivers check the Plauder-Signature header with it.'), input),
          );
          this.load();
        },
      },
      url,
      boxes,
      room,
      h('button.primary', { type: 'submit' }, 'Add endpoint'),
    );
    replace(
      container,
      heading('Webhooks', h('button.chip', { type: 'button', onclick: () => this.load() }, 'Reload')),
      h('p.small.muted', 'Signed JSON POSTs of what happens, from a durable outbox, in order per room, retried with back-off. Internal addresses are refused unless the server allows them.'),
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
    if (!res.webhooks.length) replace(this.list, h('li.empty-list.muted', 'No endpoints.'));
    else replace(this.list, res.webhooks.map((w) => this.item(w)));
  }

  item(w) {
    const api = this.ctx.client;
    return h(
      `li.card.webhook${w.enabled ? '' : '.disabled'}`,
      { dataset: { id: w.id } },
      h('div.card-head', h('strong', w.url), h('span.small.muted', w.event_types.join(', ')), w.room_id ? h('span.small.muted', `room ${w.room_id}`) : null),
      h(
        'p.small',
        w.enabled ? `Enabled; ${w.consecutive_failures} failure(s) in a row.` : `Disabled ${dateTime(w.disabled_at)}: ${w.disabled_reason ?? ''}`,
      ),
      h(
        'div.card-actions',
        h('button.chip', { type: 'button', onclick: () => this.showLog(w) }, 'Delivery log'),
        h('button.chip', {
          type: 'button',
          onclick: async () => {
            if (await attempt(() => api.api('PATCH', `/admin/webhooks/${w.id}`, { enabled: !w.enabled }))) {
              toast(w.enabled ? 'Endpoint disabled' : 'Endpoint enabled');
              this.load();
            }
          },
        }, w.enabled ? 'Disable' : 'Enable'),
        h('button.chip.danger', {
          type: 'button',
          onclick: async () => {
            if ((await attempt(() => api.api('DELETE', `/admin/webhooks/${w.id}`))) !== undefined) {
              replace(this.log);
              this.load();
            }
          },
        }, 'Delete'),
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
                toast('Queued again');
                this.showLog(w);
              }
            },
          }, 'Send again'),
        ),
      ),
    );
    replace(
      this.log,
      h('h3', `Deliveries to ${w.url}`),
      rows.length
        ? h('div.table-wrap', h('table.deliveries#delivery-rows', h('thead', h('tr', ['Queued', 'Event', 'State', 'Attempts (status, latency, error)', ''].map((t) => h('th', t)))), h('tbody', rows)))
        : h('p.muted', 'No deliveries yet.'),
    );
  }

  stop() {}
}
