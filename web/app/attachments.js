// Files in messages, for the chat app and the admin panel's inbox: a message's attachments
// (images inline as their thumbnail, opening full size in a dialog; other files as a download
// chip with name and size), and the composer's uploads (picked, dropped or pasted files, each
// with its progress and a cancel button, and a clear message next to the composer when the
// server refuses one). Links are the views' signed URLs, same-origin, so the page's
// Content-Security-Policy (img-src 'self') covers them; no blob: or data: URL is made here.

import { h, replace, t } from './dom.js';
import { fileSize } from '../i18n/i18n.js';
import { icon } from '../icons.js';
import { serverText } from '../errors.js';

/** Thumbnails are shown at most this size on their longer side (CSS pixels). */
const THUMB_PX = 240;

/** Whether a signed link runs out within half a minute (or carries no expiry we can read). */
export function linkExpiring(url) {
  try {
    const exp = Number(new URL(url, location.href).searchParams.get('exp'));
    return !exp || exp * 1000 < Date.now() + 30000;
  } catch {
    return true;
  }
}

/**
 * A message in a quote or a preview: its text, or what files it carries when it has none (room
 * listings' previews carry no attachments: then just "a file").
 */
export function quoteText(m) {
  if (m.body) return m.body;
  const n = m.attachments?.length ?? 0;
  return n ? t('att.files', { count: n }) : t('att.file_message');
}

/** Whether the attachment is shown as an image (one the server made a thumbnail for). */
export function isImage(a) {
  return a.content_type.startsWith('image/') && Boolean(a.thumbnail_url);
}

/**
 * The attachments of a message as a list, or null when it has none. `fresh(a)` resolves with
 * the attachment with links that still work (a message on screen for hours holds expired ones);
 * without it the links are used as they are.
 * @param {import('../plauder-client.js').Attachment[]} attachments
 * @param {{fresh?: (a: any) => Promise<any>}} [options]
 */
export function attachmentList(attachments, { fresh } = {}) {
  if (!attachments?.length) return null;
  const renew = fresh ?? (async (a) => a);
  return h(
    'ul.attachments',
    { 'aria-label': t('att.list', { count: attachments.length }) },
    attachments.map((a) => h('li', isImage(a) ? imageItem(a, renew) : fileItem(a, renew))),
  );
}

function imageItem(a, renew) {
  let width = a.width ?? THUMB_PX;
  let height = a.height ?? THUMB_PX;
  const scale = Math.min(1, THUMB_PX / Math.max(width, height, 1));
  width = Math.max(1, Math.round(width * scale));
  height = Math.max(1, Math.round(height * scale));
  let retried = false;
  // Width and height are set so the list does not jump when the image arrives.
  const img = h('img.att-thumb', {
    src: a.thumbnail_url,
    alt: a.name,
    width,
    height,
    decoding: 'async',
    onerror: async () => {
      // A link that ran out while the page was open: ask once for a fresh one.
      if (retried) return;
      retried = true;
      const now = await renew(a).catch(() => null);
      if (now?.thumbnail_url) img.src = now.thumbnail_url;
    },
  });
  return h(
    'button.att-image',
    { type: 'button', title: a.name, 'aria-label': t('att.open_image', { name: a.name }), dataset: { attachmentId: a.id }, onclick: (e) => openImage(a, renew, e.currentTarget) },
    img,
  );
}

function fileItem(a, renew) {
  const link = h(
    'a.att-file',
    { href: a.url, download: a.name, title: t('att.download', { name: a.name }), dataset: { attachmentId: a.id } },
    icon('file', 20),
    h('span.att-text', h('span.att-name', a.name), h('span.att-size', fileSize(a.size))),
    icon('download', 16),
  );
  link.addEventListener('click', async (e) => {
    if (!linkExpiring(link.href)) return;
    e.preventDefault();
    const now = await renew(a).catch(() => null);
    // Only a link that works now is followed (an old one again would loop).
    if (now?.url && !linkExpiring(now.url)) {
      link.href = now.url;
      link.click();
    }
  });
  return link;
}

/**
 * Shows an image full size in a modal dialog (Escape or the close button closes it; focus goes
 * back to `opener`), with a link to the file itself.
 */
export async function openImage(a, renew = async (x) => x, opener = null) {
  const now = linkExpiring(a.url) ? ((await renew(a).catch(() => null)) ?? a) : a;
  const close = h('button.icon', { type: 'button', 'aria-label': t('common.close'), onclick: () => d.close() }, icon('close'));
  const d = h(
    'dialog.modal.lightbox#lightbox',
    { 'aria-label': a.name },
    h(
      'header.modal-head',
      h('h2', a.name),
      h(
        'div.lightbox-tools',
        h('a.icon-link', { href: now.url, download: a.name, title: t('att.download', { name: a.name }), 'aria-label': t('att.download', { name: a.name }) }, icon('download')),
        close,
      ),
    ),
    h('img.lightbox-image', { src: now.url, alt: a.name, width: a.width ?? null, height: a.height ?? null }),
    h('p.muted.small', [a.width && a.height ? `${a.width} × ${a.height} · ` : '', fileSize(a.size)].join('')),
  );
  d.addEventListener('close', () => {
    d.remove();
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  // A click on the backdrop (outside the dialog's box) closes it too.
  d.addEventListener('click', (e) => {
    if (e.target === d) d.close();
  });
  document.body.append(d);
  d.showModal();
  close.focus();
  return d;
}

/** The text for a refused upload, in the reader's language (the server words its in English). */
export function uploadError(err, name) {
  switch (err?.code) {
    case 'unsupported_media_type':
      return t('upload.refused_type', { name });
    case 'payload_too_large':
      return t('upload.too_large', { name });
    case 'rate_limited':
      // A full quota is not a wait: files have to go first.
      return t(err.details?.reason === 'attachment_quota' ? 'upload.quota_full' : 'upload.rate_limited', { name });
    case 'unavailable':
      return t('upload.unavailable', { name });
    default:
      return t('upload.failed', { name, reason: serverText(err) });
  }
}

/**
 * The composer's files: each upload starts at once, shows its progress and can be cancelled (or
 * removed once done); a refused one goes away with a message in the alert line. The text typed
 * is never touched.
 */
export class Uploads {
  /**
   * @param {import('../plauder-client.js').PlauderClient} client
   * @param {{onChange?: () => void}} [options]
   */
  constructor(client, { onChange } = {}) {
    this.client = client;
    this.onChange = onChange ?? (() => {});
    /** @type {{key: number, name: string, size: number, sent: number, state: 'uploading'|'done', controller: AbortController, attachment: any, el?: HTMLElement}[]} */
    this.items = [];
    this.next = 1;
    this.el = h('ul.uploads#uploads', { 'aria-label': t('upload.list'), hidden: true });
    this.alert = h('p.compose-error#compose-error', { role: 'alert', hidden: true });
  }

  /** Whether a file is still on its way. */
  get busy() {
    return this.items.some((i) => i.state === 'uploading');
  }

  /** The uploaded files, to send. */
  ready() {
    return this.items.filter((i) => i.state === 'done').map((i) => i.attachment);
  }

  /** Starts uploading each file. @param {Iterable<File>} files */
  add(files) {
    this.say('');
    for (const file of files) this.start(file);
  }

  start(file) {
    const item = { key: this.next++, name: file.name || t('upload.unnamed'), size: file.size, sent: 0, state: 'uploading', controller: new AbortController(), attachment: null };
    this.items.push(item);
    this.render();
    this.client
      .upload(file, {
        name: item.name,
        signal: item.controller.signal,
        onProgress: (sent) => {
          item.sent = sent;
          const bar = item.el?.querySelector('progress');
          if (bar) bar.value = item.size ? Math.min(100, Math.round((sent / item.size) * 100)) : 0;
        },
      })
      .then(
        (attachment) => {
          if (!this.items.includes(item)) return;
          item.attachment = attachment;
          item.state = 'done';
          this.render();
        },
        (err) => {
          if (!this.items.includes(item)) return;
          this.items = this.items.filter((i) => i !== item);
          this.render();
          if (err?.name !== 'AbortError') this.say(uploadError(err, item.name));
        },
      );
  }

  /** Cancels an upload on its way, or leaves a finished one out of the message. */
  remove(item) {
    this.items = this.items.filter((i) => i !== item);
    item.controller.abort();
    this.say('');
    this.render();
  }

  /** Empties the tray after a send (finished files went with it) or when the room changes. */
  clear() {
    for (const i of this.items) i.controller.abort();
    this.items = [];
    this.say('');
    this.render();
  }

  /** Shows (or, with '', hides) the message next to the composer. */
  say(text) {
    this.alert.textContent = text;
    this.alert.hidden = !text;
  }

  render() {
    for (const item of this.items) {
      const sig = `${item.state}`;
      if (item.el && item.el.dataset.sig === sig) continue;
      const done = item.state === 'done';
      const a = item.attachment;
      item.el = h(
        `li.upload.${item.state}`,
        { dataset: { sig, name: item.name } },
        done && a && isImage(a) ? h('img.upload-thumb', { src: a.thumbnail_url, alt: '', width: 36, height: 36 }) : icon(done && a?.content_type.startsWith('image/') ? 'image' : 'file', 20),
        h(
          'span.att-text',
          h('span.att-name', item.name),
          done ? h('span.att-size', fileSize(a?.size ?? item.size)) : h('progress', { max: 100, value: item.size ? Math.round((item.sent / item.size) * 100) : 0, 'aria-label': t('upload.progress', { name: item.name }) }),
        ),
        h(
          'button.icon.small.upload-cancel',
          { type: 'button', title: done ? t('upload.remove', { name: item.name }) : t('upload.cancel', { name: item.name }), 'aria-label': done ? t('upload.remove', { name: item.name }) : t('upload.cancel', { name: item.name }), onclick: () => this.remove(item) },
          icon('close', 16),
        ),
      );
    }
    replace(this.el, this.items.map((i) => i.el));
    this.el.hidden = this.items.length === 0;
    this.onChange();
  }
}

/** A file input for the attach button: not shown, the button opens it. */
export function fileInput(onFiles, { accept = null, id = null, label = '' } = {}) {
  const input = h('input.file-input', { type: 'file', multiple: true, accept, id, hidden: true, 'aria-label': label || null });
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    // Emptied so that picking the same file again fires `change` again.
    input.value = '';
    if (files.length) onFiles(files);
  });
  return input;
}
