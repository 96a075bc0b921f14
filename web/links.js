// Web addresses in message text as links, without parsing any HTML: the text is split around
// http(s) URLs, the rest stays text nodes, and each link opens in a new tab with
// rel="noopener noreferrer" (the linked page gets neither a handle on ours nor the referrer).

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that ends a sentence rather than the address ("see https://x.org."). */
const TRAILING = /[.,;:!?)\]}'"]+$/;

/**
 * The nodes for `text`: strings and `<a>` elements.
 * @param {string} text
 * @returns {(string|HTMLAnchorElement)[]}
 */
export function linkNodes(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    const trail = raw.match(TRAILING)?.[0] ?? '';
    // A closing bracket belongs to the address when it opened one (Wikipedia's "Foo_(bar)").
    const keep = trail.startsWith(')') && raw.slice(0, -trail.length).includes('(') ? 1 : 0;
    raw = raw.slice(0, raw.length - trail.length + keep);
    let url;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (match.index > last) out.push(text.slice(last, match.index));
    const a = document.createElement('a');
    a.href = url.href;
    a.textContent = raw;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.className = 'msg-link';
    out.push(a);
    last = match.index + raw.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
