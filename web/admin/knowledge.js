// The assistant's knowledge base (GET/POST /admin/knowledge): FAQ entries (question and answer)
// and documents (title and text), added, edited in place and deleted; and a "try a question"
// search that shows the passages the assistant would read for it, with how much of the question
// each covers.

import { h, replace, t, toast } from '../app/dom.js';
import { attempt, dateTime, heading } from './common.js';

export class KnowledgeView {
  constructor(ctx, container) {
    this.ctx = ctx;
    this.list = h('ul.cards#knowledge-list');
    this.hits = h('div#knowledge-hits', { 'aria-live': 'polite' });
    const kind = h(
      'select',
      { name: 'kind', 'aria-label': t('knowledge.kind') },
      h('option', { value: 'faq' }, t('knowledge.kind_faq')),
      h('option', { value: 'document' }, t('knowledge.kind_document')),
    );
    const title = h('input', { name: 'title', required: true, maxlength: 200, placeholder: t('knowledge.title_placeholder'), 'aria-label': t('knowledge.title_label') });
    const body = h('textarea', { name: 'body', required: true, rows: 4, placeholder: t('knowledge.body_placeholder'), 'aria-label': t('knowledge.body_label') });
    const form = h(
      'form.stack-form#create-knowledge-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          const res = await attempt(() => ctx.client.api('POST', '/admin/knowledge', { kind: kind.value, title: title.value, body: body.value }));
          if (!res) return;
          title.value = '';
          body.value = '';
          toast(t('knowledge.added'));
          this.load();
        },
      },
      h('div.inline-form', kind, title),
      body,
      h('button.primary', { type: 'submit' }, t('knowledge.add')),
    );
    const question = h('input', { name: 'q', type: 'search', placeholder: t('knowledge.try_placeholder'), 'aria-label': t('knowledge.try_label') });
    const tryForm = h(
      'form.inline-form#knowledge-search-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          if (!question.value.trim()) return;
          const res = await attempt(() => ctx.client.api('GET', `/admin/knowledge/search?q=${encodeURIComponent(question.value)}`));
          if (res) this.showHits(res.passages);
        },
      },
      question,
      h('button.chip', { type: 'submit' }, t('knowledge.try')),
    );
    replace(
      container,
      heading(t('knowledge.title'), h('button.chip', { type: 'button', onclick: () => this.load() }, t('common.reload'))),
      h('p.small.muted', t('knowledge.intro')),
      form,
      h('h3', t('knowledge.try_heading')),
      tryForm,
      this.hits,
      h('h3', t('knowledge.entries')),
      this.list,
    );
    this.load();
  }

  async load() {
    const res = await attempt(() => this.ctx.client.api('GET', '/admin/knowledge?limit=500'));
    if (!res) return;
    if (!res.entries.length) replace(this.list, h('li.empty-list.muted', t('knowledge.none')));
    else replace(this.list, res.entries.map((e) => this.item(e)));
  }

  showHits(passages) {
    if (!passages.length) {
      replace(this.hits, h('p.muted', t('knowledge.no_hits')));
      return;
    }
    replace(
      this.hits,
      h(
        'ol.hits',
        passages.map((p) =>
          h('li.hit', h('strong', p.title), h('span.small.muted', ` ${t('knowledge.coverage', { percent: Math.round(p.coverage * 100) })}`), h('p.small', p.passage)),
        ),
      ),
    );
  }

  item(e) {
    const api = this.ctx.client;
    const kindLabel = e.kind === 'faq' ? t('knowledge.kind_faq') : t('knowledge.kind_document');
    const card = h('li.card.knowledge', { dataset: { id: e.id } });
    const show = () =>
      replace(
        card,
        h('div.card-head', h('strong', e.title), h('span.small.muted', `${kindLabel} · ${t('knowledge.changed', { when: dateTime(e.updated_at) })}`)),
        h('p.small.knowledge-body', e.body.length > 400 ? `${e.body.slice(0, 400)}…` : e.body),
        h(
          'div.card-actions',
          h('button.chip', { type: 'button', onclick: () => edit() }, t('knowledge.edit')),
          h('button.chip.danger', {
            type: 'button',
            onclick: async () => {
              if ((await attempt(() => api.api('DELETE', `/admin/knowledge/${e.id}`))) !== undefined) {
                toast(t('knowledge.deleted'));
                this.load();
              }
            },
          }, t('knowledge.delete')),
        ),
      );
    const edit = () => {
      const title = h('input', { name: 'title', value: e.title, maxlength: 200, 'aria-label': t('knowledge.title_label') });
      const body = h('textarea', { name: 'body', rows: 6, 'aria-label': t('knowledge.body_label') });
      body.value = e.body;
      replace(
        card,
        h(
          'form.stack-form.edit-knowledge',
          {
            onsubmit: async (ev) => {
              ev.preventDefault();
              const res = await attempt(() => api.api('PATCH', `/admin/knowledge/${e.id}`, { title: title.value, body: body.value }));
              if (!res) return;
              Object.assign(e, res);
              toast(t('knowledge.saved'));
              show();
            },
          },
          title,
          body,
          h('div.card-actions', h('button.primary', { type: 'submit' }, t('knowledge.save')), h('button.chip', { type: 'button', onclick: () => show() }, t('knowledge.cancel'))),
        ),
      );
      title.focus();
    };
    show();
    return card;
  }

  stop() {}
}
