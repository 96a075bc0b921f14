// Message catalogues and formatting for the app, the admin panel and the widget: `t(key, params)`
// looks a text up in the current language's catalogue (English when a key is missing, the key
// itself as the last resort), fills `{name}` placeholders and picks the plural form of an entry
// like `{ one: '…', other: '…' }` with `Intl.PluralRules` from `params.count`. Dates, times and
// numbers go through `Intl` in the same language. Hand-written: a dozen lines do what the pages
// need, and an i18n framework would be the biggest file the widget loads.

import en from './en.js';
import de from './de.js';

const CATALOGUES = { en, de };
/** The languages offered, each named in itself. */
export const LANGUAGES = [
  ['en', 'English'],
  ['de', 'Deutsch'],
];
const STORAGE_KEY = 'plauder.lang';

/** The first of `wanted` (BCP 47 tags, best first) that has a catalogue, or English. */
export function match(wanted) {
  for (const tag of wanted ?? []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (base in CATALOGUES) return base;
  }
  return 'en';
}

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage disabled (some privacy modes): the browser's languages decide.
    return null;
  }
}

let current = match([stored(), ...(navigator.languages ?? [navigator.language])].filter(Boolean));
let plurals = new Intl.PluralRules(current);

/** The language in use ('en', 'de'). */
export function lang() {
  return current;
}

/**
 * Switches the language for this page; `remember` keeps the choice for the next visit (the app
 * and the panel do; the widget takes its language from its tag and must not write into the host
 * page's storage). Sets `<html lang>` where the page is ours.
 */
export function setLang(code, { remember = false, document: doc = null } = {}) {
  current = match([code]);
  plurals = new Intl.PluralRules(current);
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, current);
    } catch {
      // Storage disabled: the choice lasts for this page.
    }
  }
  if (doc) doc.documentElement.lang = current;
  return current;
}

/**
 * The text for `key` in the current language, with `{name}` placeholders filled from `params`
 * (numbers formatted for the language). An entry with plural forms uses `params.count`.
 * @param {string} key
 * @param {Record<string, unknown>} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  let entry = CATALOGUES[current][key] ?? en[key];
  if (entry === undefined) return key;
  if (typeof entry === 'object') {
    const n = Number(params.count ?? 0);
    entry = entry[plurals.select(n)] ?? entry.other;
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => {
    const v = params[name];
    if (v === undefined || v === null) return whole;
    return typeof v === 'number' ? number(v) : String(v);
  });
}

/** A number in the language's way (`1,234.5` / `1.234,5`). */
export function number(n, options = {}) {
  return new Intl.NumberFormat(current, options).format(n);
}

/**
 * A file size with its unit in the language's way ('820 bytes', '1.4 MB' / '1,4 MB'), in SI
 * units as Intl names them (a kilobyte is 1000 bytes).
 */
export function fileSize(bytes) {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'];
  let n = Math.max(0, Number(bytes) || 0);
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return new Intl.NumberFormat(current, {
    style: 'unit',
    unit: units[i],
    unitDisplay: i === 0 ? 'long' : 'short',
    maximumFractionDigits: i > 0 && n < 10 ? 1 : 0,
  }).format(n);
}

/** A time of day ('14:05' / '2:05 PM'). */
export function timeOfDay(date) {
  return new Date(date).toLocaleTimeString(current, { hour: '2-digit', minute: '2-digit' });
}

/** A date and time with `Intl.DateTimeFormat` options. */
export function formatDate(date, options) {
  return new Intl.DateTimeFormat(current, options).format(new Date(date));
}
