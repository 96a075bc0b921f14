// The sign-in and registration screen, with the "forgot password" flow (a reset mail), the
// reset form a mail's link opens (`/#reset-password=<token>`), the address confirmation a
// verification mail's link opens (`/#verify-email=<token>`, and asking for a new link), and the
// code step of accounts with two-factor on.

import { h, replace, t } from './dom.js';
import { languagePicker } from './lang.js';
import { fieldText, serverText } from '../errors.js';

/**
 * @param {HTMLElement} root
 * @param {import('../plauder-client.js').PlauderClient} client
 * @param {() => void} onSignedIn
 * @param {string} [signedOutNotice] why the user is here (session ended, banned)
 */
export function renderAuth(root, client, onSignedIn, signedOutNotice = '') {
  let mode = 'login';
  const status = h('p.form-error#auth-error', { role: 'alert' }, signedOutNotice);

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
        submit(e, async () => {
          const email = regEmail.value.trim();
          await client.register({
            username: regUser.value.trim(),
            email,
            password: regPass.value,
            ...(regName.value.trim() ? { display_name: regName.value.trim() } : {}),
          });
          if (client.session) return true;
          // The server wants the address confirmed first: no session yet.
          setMode('login');
          showDone(t('auth.verify_sent', { email }));
          return false;
        }),
    },
    field(t('auth.username'), regUser, t('auth.username_hint')),
    field(t('auth.display_name'), regName, t('auth.display_name_hint')),
    field(t('auth.email'), regEmail),
    field(t('auth.password'), regPass, t('auth.password_hint')),
    h('button.primary.wide', { type: 'submit' }, t('auth.create_account')),
  );

  const forgotEmail = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const forgotForm = h(
    'form.auth-form#forgot-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, async () => {
          await client.requestPasswordReset(forgotEmail.value.trim());
          showDone(t('auth.reset_sent'));
          return false;
        }),
    },
    h('p.small', t('auth.forgot_intro')),
    field(t('auth.email'), forgotEmail),
    h('button.primary.wide', { type: 'submit' }, t('auth.send_reset_link')),
    h('button.link#back-to-login', { type: 'button', onclick: () => setMode('login') }, t('auth.back_to_sign_in')),
  );

  const resetToken = readResetToken();
  const resetPass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const resetForm = h(
    'form.auth-form#reset-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, async () => {
          await client.confirmPasswordReset(resetToken ?? '', resetPass.value);
          history.replaceState(null, '', location.pathname + location.search);
          setMode('login');
          status.textContent = '';
          notice.textContent = t('auth.password_changed');
          return false;
        }),
    },
    h('p.small', t('auth.reset_intro')),
    field(t('auth.new_password'), resetPass, t('auth.password_hint')),
    h('button.primary.wide', { type: 'submit' }, t('auth.set_password')),
  );

  const resendEmail = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const resendForm = h(
    'form.auth-form#resend-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, async () => {
          const email = resendEmail.value.trim();
          await client.resendVerification(email);
          setMode('login');
          showDone(t('auth.verify_sent', { email }));
          return false;
        }),
    },
    h('p.small', t('auth.resend_intro')),
    field(t('auth.email'), resendEmail),
    h('button.primary.wide', { type: 'submit' }, t('auth.resend_link')),
    h('button.link', { type: 'button', onclick: () => setMode('login') }, t('auth.back_to_sign_in')),
  );
  const resendLink = h('button.link#resend-verification', { type: 'button', hidden: true, onclick: () => setMode('resend') }, t('auth.resend_link'));

  let mfaToken = '';
  const mfaCode = h('input', { name: 'code', autocomplete: 'one-time-code', required: true, inputmode: 'text' });
  const mfaForm = h(
    'form.auth-form#mfa-form',
    {
      hidden: true,
      onsubmit: (e) => submit(e, () => client.completeLogin(mfaToken, mfaCode.value.trim())),
    },
    h('p.small', t('auth.mfa_intro')),
    field(t('auth.mfa_code'), mfaCode),
    h('button.primary.wide', { type: 'submit' }, t('auth.verify')),
  );

  const notice = h('p.form-notice#auth-notice', { role: 'status' });
  const forgotLink = h('button.link#forgot-password', { type: 'button', onclick: () => setMode('forgot') }, t('auth.forgot_password'));

  function showDone(text) {
    notice.textContent = text;
  }

  const tabLogin = h('button.tab#tab-login', { type: 'button', role: 'tab', 'aria-selected': 'true', onclick: () => setMode('login') }, t('auth.sign_in'));
  const tabRegister = h('button.tab#tab-register', { type: 'button', role: 'tab', 'aria-selected': 'false', onclick: () => setMode('register') }, t('auth.create_account'));
  const tabs = h('div.tabs', { role: 'tablist' }, tabLogin, tabRegister);

  function setMode(m) {
    mode = m;
    loginForm.hidden = m !== 'login';
    registerForm.hidden = m !== 'register';
    forgotForm.hidden = m !== 'forgot';
    resetForm.hidden = m !== 'reset';
    mfaForm.hidden = m !== 'mfa';
    resendForm.hidden = m !== 'resend';
    forgotLink.hidden = m !== 'login';
    resendLink.hidden = true;
    tabs.hidden = m === 'reset' || m === 'mfa' || m === 'resend';
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabRegister.setAttribute('aria-selected', String(m === 'register'));
    status.textContent = '';
    notice.textContent = '';
    ({ login: loginInput, register: regUser, forgot: forgotEmail, reset: resetPass, mfa: mfaCode, resend: resendEmail })[m].focus();
  }

  async function submit(e, action) {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const button = form.querySelector('button[type=submit]');
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    status.textContent = '';
    button.disabled = true;
    try {
      // An action that does not sign in says so by returning false.
      if ((await action()) !== false) onSignedIn();
    } catch (err) {
      if (err.code === 'mfa_required') {
        mfaToken = err.details.mfa_token;
        mfaCode.value = '';
        setMode('mfa');
        return;
      }
      const fields = err.details?.fields ?? {};
      for (const [name, reason] of Object.entries(fields)) {
        const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
        if (slot) slot.textContent = fieldText(name, reason);
      }
      if (err.details?.reason === 'email_not_verified') {
        status.textContent = t('auth.email_not_verified');
        if (loginInput.value.includes('@')) resendEmail.value = loginInput.value.trim();
        resendLink.hidden = false;
        return;
      }
      // What a code means depends on the form: a refused login, a wrong code, a taken name.
      const own = {
        login: { unauthorized: () => t('auth.wrong_credentials') },
        mfa: { unauthorized: () => t('auth.mfa_wrong') },
        register: { conflict: () => t('auth.taken') },
      }[mode];
      status.textContent = serverText(err, { codes: own });
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
        tabs,
        status,
        notice,
        loginForm,
        forgotLink,
        resendLink,
        registerForm,
        resendForm,
        forgotForm,
        resetForm,
        mfaForm,
        h('div.auth-lang', languagePicker()),
      ),
    ),
  );
  setMode(resetToken ? 'reset' : mode);
  if (signedOutNotice) status.textContent = signedOutNotice;
  const verifyToken = readVerifyToken();
  if (verifyToken) {
    // A verification mail's link: confirmed at once, the token taken out of the address bar.
    history.replaceState(null, '', location.pathname + location.search);
    client.verifyEmail(verifyToken).then(
      () => {
        if (client.session) onSignedIn();
        else showDone(t('auth.email_verified'));
      },
      (err) => {
        status.textContent = err.code === 'validation_failed' ? t('auth.verify_failed') : serverText(err);
        resendLink.hidden = false;
      },
    );
  }
}

/** The token of a verification link (`#verify-email=<token>`), if the page was opened with one. */
function readVerifyToken() {
  const m = location.hash.match(/^#verify-email=([A-Za-z0-9_-]+)$/);
  return m ? m[1] : null;
}

/** The token of a reset link (`#reset-password=<token>`), if the page was opened with one. */
function readResetToken() {
  const m = location.hash.match(/^#reset-password=([A-Za-z0-9_-]+)$/);
  return m ? m[1] : null;
}
