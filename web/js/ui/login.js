// The login screen: log in with id and password, or create an account (and
// be logged in at once, with the new id shown big).

import { $ } from '../dom.js';
import { plain } from '../errors.js';
import { welcome } from './dialogs.js';
import { tablist } from './tabs.js';

export class LoginView {
  constructor(ui) {
    this.ui = ui;
    this.client = ui.client;
    this.loginForm = $('login-form');
    this.registerForm = $('register-form');
    this.tabs = tablist($('login-screen').querySelector('[role=tablist]'), (tab) => {
      const login = tab.id === 'tab-login';
      this.loginForm.hidden = !login;
      this.registerForm.hidden = login;
    });
    this.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitLogin();
    });
    this.registerForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitRegister();
    });
  }

  show() {
    const ended = $('login-ended');
    ended.textContent = this.client.endedBecause;
    ended.hidden = !this.client.endedBecause;
    this.renderConnection();
    const first = this.loginForm.hidden ? $('register-name') : $('login-id');
    if (!document.activeElement || document.activeElement === document.body) first.focus();
  }

  renderConnection() {
    const conn = this.client.conn;
    let text = '';
    if (conn.state === 'connecting') text = 'Connecting to the server…';
    else if (conn.state === 'waiting') {
      const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
      text = `Cannot reach the server. Trying again in ${s} s.`;
    }
    $('login-connection').textContent = text;
  }

  error(form, text) {
    const p = form.querySelector('.form-error');
    p.textContent = text;
    p.hidden = !text;
  }

  async busy(form, fn) {
    const button = form.querySelector('button[type=submit]');
    if (button.disabled) return;
    button.disabled = true;
    this.error(form, '');
    try {
      await fn();
    } catch (e) {
      this.error(form, e.code === 'offline'
        ? 'Cannot reach the server right now. Wait for the connection and try again.'
        : plain(e));
    } finally {
      button.disabled = false;
    }
  }

  submitLogin() {
    const form = this.loginForm;
    const idText = $('login-id').value.trim();
    const password = $('login-password').value;
    if (!/^\d+$/.test(idText) || !Number.isSafeInteger(Number(idText))) {
      this.error(form, 'Your user id is a number, such as 1001.');
      $('login-id').focus();
      return;
    }
    if (password.length < 6) {
      this.error(form, 'A password has at least 6 characters.');
      $('login-password').focus();
      return;
    }
    return this.busy(form, async () => {
      await this.client.login(Number(idText), password);
      $('login-password').value = '';
    });
  }

  submitRegister() {
    const form = this.registerForm;
    const name = $('register-name').value.trim();
    const password = $('register-password').value;
    const again = $('register-password2').value;
    if (!name) {
      this.error(form, 'Choose a name (1 to 32 characters).');
      $('register-name').focus();
      return;
    }
    if (new TextEncoder().encode(password).length < 6) {
      this.error(form, 'The password needs at least 6 characters.');
      $('register-password').focus();
      return;
    }
    if (password !== again) {
      this.error(form, 'The two passwords are not the same.');
      $('register-password2').focus();
      return;
    }
    return this.busy(form, async () => {
      const user = await this.client.register(name, password);
      form.reset();
      $('login-id').value = String(user.id);
      try {
        await this.client.login(user.id, password);
      } catch (e) {
        this.tabs.select($('tab-login'));
        this.error(this.loginForm, `Your account was created: your user id is ${user.id}. `
          + `Logging in failed (${plain(e)}); log in with that id and your password.`);
        return;
      }
      welcome(user);
    });
  }
}
