// The admin panel's entry point: sign-in for admins and moderators, the navigation between the
// views, and the one WebSocket connection whose events keep the views live. Moderators see the
// views their role may use (support, moderation, contacts); the rest are the admin's. A
// `#support=<id>` link (a push notification's) opens that support chat in the inbox.

import { PlauderClient } from '../plauder-client.js';
import { h, replace, toast, t } from '../app/dom.js';
import { applyLang, languagePicker } from '../app/lang.js';
import { serverText } from '../errors.js';
import { OverviewView } from './overview.js';
import { InboxView } from './inbox.js';
import { UsersView } from './users.js';
import { ModerationView } from './moderation.js';
import { AuditView } from './audit.js';
import { ContactsView } from './contacts.js';
import { MailView } from './mail.js';
import { BotsView } from './bots.js';
import { WebhooksView } from './webhooks.js';
import { KnowledgeView } from './knowledge.js';
import { registerServiceWorker, followNotificationClicks } from '../app/pwa.js';

// Its own session key: signing in here (or being refused) never touches the chat app's session.
const client = new PlauderClient({ storageKey: 'plauder.admin.session' });
const root = /** @type {HTMLElement} */ (document.getElementById('app'));
const STAFF = new Set(['admin', 'moderator']);

const VIEWS = [
  { id: 'overview', label: () => t('admin.nav.overview'), admin: true, View: OverviewView },
  { id: 'support', label: () => t('admin.nav.support'), admin: false, View: InboxView },
  { id: 'users', label: () => t('admin.nav.users'), admin: true, View: UsersView },
  { id: 'moderation', label: () => t('admin.nav.messages'), admin: false, View: ModerationView },
  { id: 'audit', label: () => t('admin.nav.audit'), admin: true, View: AuditView },
  { id: 'contacts', label: () => t('admin.nav.contacts'), admin: false, View: ContactsView },
  { id: 'mail', label: () => t('admin.nav.mail'), admin: true, View: MailView },
  { id: 'bots', label: () => t('admin.nav.bots'), admin: true, View: BotsView },
  { id: 'webhooks', label: () => t('admin.nav.webhooks'), admin: true, View: WebhooksView },
  { id: 'knowledge', label: () => t('admin.nav.knowledge'), admin: true, View: KnowledgeView },
];

applyLang();

const SIGNED_OUT = {
  banned: () => t('admin.signout.banned'),
  revoked: () => t('signout.revoked'),
  expired: () => t('signout.expired'),
};

/** The signed-in panel's listeners and timers, undone together at sign-out. */
let session = null;

client.addEventListener('signedout', (e) => {
  session?.abort();
  session = null;
  showLogin(SIGNED_OUT[e.detail.reason]?.() ?? '');
});

function showLogin(notice = '') {
  const login = h('input', { name: 'login', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p.form-error#auth-error', { role: 'alert' }, notice);
  const submit = h('button.primary.wide', { type: 'submit' }, t('auth.sign_in'));
  const form = h(
    'form.auth-form#login-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          await client.login(login.value.trim(), password.value);
          start();
        } catch (err) {
          if (err.code === 'mfa_required') {
            askCode(err.details.mfa_token);
            return;
          }
          error.textContent = serverText(err, { codes: { unauthorized: () => t('auth.wrong_credentials') } });
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('label.field', h('span', t('auth.login')), login),
    h('label.field', h('span', t('auth.password')), password),
    submit,
  );
  // Two-factor on: the same card asks for the code (or a recovery code).
  const askCode = (mfaToken) => {
    const code = h('input#mfa-code', { name: 'code', autocomplete: 'one-time-code', required: true });
    const codeForm = h(
      'form.auth-form#mfa-form',
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          try {
            await client.completeLogin(mfaToken, code.value.trim());
            start();
          } catch (err) {
            error.textContent = serverText(err, { codes: { unauthorized: () => t('auth.mfa_wrong') } });
          }
        },
      },
      h('label.field', h('span', t('auth.mfa_code')), code),
      h('button.primary.wide', { type: 'submit' }, t('auth.verify')),
    );
    form.replaceWith(codeForm);
    code.focus();
  };
  replace(
    root,
    h(
      'div.auth',
      h(
        'section.auth-card',
        h('div.brand', h('span.logo', { 'aria-hidden': 'true' }), h('h1', t('admin.title'))),
        h('p.tagline', t('admin.tagline')),
        error,
        form,
        h('p.small.muted', h('a', { href: '/' }, t('admin.back_to_chat'))),
        h('div.auth-lang', languagePicker()),
      ),
    ),
  );
  document.title = t('admin.title');
  login.focus();
}

/** A signed-in account that is not staff: say so plainly and offer to switch accounts. */
function showRefusal() {
  const user = client.user;
  replace(
    root,
    h(
      'div.auth',
      h(
        'section.auth-card#refusal',
        h('div.brand', h('span.logo', { 'aria-hidden': 'true' }), h('h1', t('admin.title'))),
        h('p.form-error', { role: 'alert' }, t('admin.refusal', { username: user?.username ?? '?' })),
        h('button.primary.wide', { type: 'button', onclick: () => client.logout() }, t('admin.other_account')),
        h('p.small.muted', h('a', { href: '/' }, t('admin.back_to_chat'))),
      ),
    ),
  );
}

function start() {
  if (!STAFF.has(client.user?.role)) {
    showRefusal();
    return;
  }
  session?.abort();
  session = new AbortController();
  const signal = session.signal;
  const isAdmin = client.user.role === 'admin';
  const views = VIEWS.filter((v) => isAdmin || !v.admin);

  const conn = h('span.conn-state', { role: 'status' });
  const nav = h(
    'nav.admin-nav',
    { 'aria-label': t('admin.sections') },
    views.map((v) => h('a.nav-link', { href: `#${v.id}`, dataset: { view: v.id } }, v.label())),
  );
  const main = h('main.admin-main#admin-main');
  const themeBtn = h('button.chip#theme-toggle', { type: 'button', onclick: () => cycleTheme(themeBtn) });
  themeLabel(themeBtn);
  replace(
    root,
    h(
      'div.admin',
      h(
        'header.admin-head',
        h('div.brand', h('span.logo', { 'aria-hidden': 'true' }), h('strong', t('admin.title'))),
        nav,
        h(
          'div.admin-me',
          conn,
          h('span.small.muted#admin-user', `@${client.user.username} · ${t(`role.${client.user.role}`)}`),
          languagePicker(),
          themeBtn,
          h('button.chip#sign-out', { type: 'button', onclick: () => client.logout() }, t('side.sign_out')),
        ),
      ),
      main,
    ),
  );

  const ctx = { client, signal, isAdmin, me: client.user };
  let current = null;
  const show = () => {
    const wanted = location.hash.slice(1);
    const link = /^support=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(wanted);
    const view = views.find((v) => v.id === (link ? 'support' : wanted)) ?? views[0];
    if (link) {
      // Followed once: the address becomes the inbox's own, so a reload does not jump back.
      history.replaceState(null, '', '#support');
      if (view.id === 'support' && current?.id === 'support') {
        current.instance.showSession(link[1].toLowerCase());
        return;
      }
    }
    if (current?.id === view.id) return;
    current?.instance.stop();
    const container = h('section.view', { id: `view-${view.id}`, 'aria-label': view.label() });
    replace(main, container);
    current = { id: view.id, instance: new view.View(ctx, container) };
    if (link && view.id === 'support') current.instance.showSession(link[1].toLowerCase());
    for (const a of nav.querySelectorAll('a')) a.toggleAttribute('aria-current', a.dataset.view === view.id);
    if (a11yFocus) container.querySelector('h2')?.focus();
    document.title = `${view.label()} · ${t('admin.title')}`;
  };
  let a11yFocus = false;
  window.addEventListener('hashchange', () => { a11yFocus = true; show(); }, { signal });
  signal.addEventListener('abort', () => current?.instance.stop());

  client.addEventListener(
    'state',
    (e) => {
      const s = e.detail.state;
      conn.textContent = s === 'open' ? t('admin.live') : s === 'closed' || s === 'idle' ? '' : t('conn.reconnecting');
      conn.className = `conn-state ${s}`;
    },
    { signal },
  );
  client.addEventListener('support.session_created', (e) => toast(t('admin.new_support', { name: e.detail.user?.display_name ?? t('admin.a_visitor') })), { signal });
  client.connect();
  show();
}

const THEMES = ['system', 'light', 'dark'];

function themeLabel(btn) {
  const theme = document.documentElement.getAttribute('data-theme') ?? 'system';
  btn.textContent = t('theme.title', { theme: t(`theme.${theme}`) });
}

/** The same choice the chat app stores, so both pages look alike. */
function cycleTheme(btn) {
  const cur = document.documentElement.getAttribute('data-theme') ?? 'system';
  const next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
  if (next === 'system') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', next);
  try {
    if (next === 'system') localStorage.removeItem('plauder.theme');
    else localStorage.setItem('plauder.theme', next);
  } catch {
    // Storage disabled: the choice lasts for this page.
  }
  themeLabel(btn);
}

registerServiceWorker();
followNotificationClicks();

if (client.session) {
  // The stored user may be stale (a role changed since): ask the server who this is.
  client
    .api('GET', '/users/me')
    .then((me) => {
      client.session.user = { ...client.session.user, ...me };
      start();
    })
    .catch((err) => {
      if (client.session) showLogin(serverText(err));
    });
} else showLogin();
