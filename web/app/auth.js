// The sign-in and registration screen.

import { h, replace, t } from './dom.js';
import { languagePicker } from './lang.js';

/**
 * @param {HTMLElement} root
 * @param {import('../plauder-client.js').PlauderClient} client
 * @param {() => void} onSignedIn
 * @param {string} [notice] why the user is here (session ended, banned)
 */
export function renderAuth(root, client, onSignedIn, notice = '') {
  let mode = 'login';
  const status = h('p.form-error#auth-error', { role: 'alert' }, notice);

  const field = (label, input, hint = '') =>
    h('label.field', h('span', label), input, hint && h('small.hint', hint), h('small.field-error', { dataset: { for: input.name } }));

  const loginInput = h('input', { name: 'login', autocomplete: 'username', required: true, autofocus: true });
  const passInput = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const loginForm = h(
    'form.auth-form#login-form',
    { onsubmit: (e) => submit(e, () => client.login(loginInput.value.trim(), passInput.value)) },
    field(t('auth.login'), loginInput),
    field(t('auth.password'), passInput),
    h('button.primary.wide', { type: 'submit' }, t('auth.sign_in')),
  );

  const regUser = h('input', { name: 'username', autocomplete: 'username', required: true, minlength: 3, maxlength: 32 });
  const regName = h('input', { name: 'display_name', autocomplete: 'name', maxlength: 64 });
  const regEmail = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const regPass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const registerForm = h(
    'form.auth-form#register-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, () =>
          client.register({
            username: regUser.value.trim(),
            email: regEmail.value.trim(),
            password: regPass.value,
            ...(regName.value.trim() ? { display_name: regName.value.trim() } : {}),
          }),
        ),
    },
    field(t('auth.username'), regUser, t('auth.username_hint')),
    field(t('auth.display_name'), regName, t('auth.display_name_hint')),
    field(t('auth.email'), regEmail),
    field(t('auth.password'), regPass, t('auth.password_hint')),
    h('button.primary.wide', { type: 'submit' }, t('auth.create_account')),
  );

  const tabLogin = h('button.tab#tab-login', { type: 'button', role: 'tab', 'aria-selected': 'true', onclick: () => setMode('login') }, t('auth.sign_in'));
  const tabRegister = h('button.tab#tab-register', { type: 'button', role: 'tab', 'aria-selected': 'false', onclick: () => setMode('register') }, t('auth.create_account'));

  function setMode(m) {
    mode = m;
    loginForm.hidden = m !== 'login';
    registerForm.hidden = m !== 'register';
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabRegister.setAttribute('aria-selected', String(m === 'register'));
    status.textContent = '';
    (m === 'login' ? loginInput : regUser).focus();
  }

  async function submit(e, action) {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const button = form.querySelector('button[type=submit]');
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    status.textContent = '';
    button.disabled = true;
    try {
      await action();
      onSignedIn();
    } catch (err) {
      const fields = err.details?.fields ?? {};
      for (const [name, reason] of Object.entries(fields)) {
        const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
        if (slot) slot.textContent = String(reason);
      }
      status.textContent = err.code === 'unauthorized' ? t('auth.wrong_credentials') : err.message;
    } finally {
      button.disabled = false;
    }
  }

  replace(
    root,
    h(
      'div.auth',
      h(
        'section.auth-card',
        h('div.brand', h('span.logo', { 'aria-hidden': 'true' }), h('h1', 'plauder')),
        h('p.tagline', t('auth.tagline')),
        h('div.tabs', { role: 'tablist' }, tabLogin, tabRegister),
        status,
        loginForm,
        registerForm,
        h('div.auth-lang', languagePicker()),
      ),
    ),
  );
  setMode(mode);
  if (notice) status.textContent = notice;
}
