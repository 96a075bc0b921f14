// The language picker of the app and the panel: a select of the catalogues' languages. The choice
// is remembered (localStorage) and the page reloads in it, which redraws every view without each
// of them having to know how to re-render its texts.

import { h } from './dom.js';
import { LANGUAGES, lang, setLang, t } from '../i18n/i18n.js';

/** Sets `<html lang>` to the language in use; called once when a page starts. */
export function applyLang() {
  document.documentElement.lang = lang();
}

/** A labelled select that switches the page's language. */
export function languagePicker() {
  return h(
    'label.lang-picker',
    h('span.sr-only', t('lang.label')),
    h(
      'select#lang-select',
      {
        onchange: (e) => {
          setLang(e.target.value, { remember: true, document });
          location.reload();
        },
      },
      LANGUAGES.map(([code, name]) => h('option', { value: code, lang: code, selected: code === lang() }, name)),
    ),
  );
}
