// The page: which screen shows (login or chat), the route in the address
// (#/u/ID, #/g/ID, #/g/ID/info, #/account) so that a reload or the back
// button lands where the user was, the connection banner, toasts, and the
// screen-reader announcements of new messages.

import { $, h, fill } from '../dom.js';
import { splitKey } from '../client.js';
import { plain, RequestError } from '../errors.js';
import { LoginView } from './login.js';
import { Sidebar } from './sidebar.js';
import { ConversationView } from './conversation.js';
import { GroupPage } from './group.js';
import { AccountPage } from './account.js';

function parseRoute(hash) {
  let m = /^#\/([ug])\/(\d+)$/.exec(hash);
  if (m) return { view: 'conv', key: `${m[1]}:${Number(m[2])}`, id: `conv:${m[1]}:${Number(m[2])}` };
  m = /^#\/g\/(\d+)\/info$/.exec(hash);
  if (m) return { view: 'group', gid: Number(m[1]), id: `group:${Number(m[1])}` };
  if (hash === '#/account') return { view: 'account', id: 'account' };
  return { view: 'home', id: 'home' };
}

export class Ui {
  /** @param {import('../client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.route = parseRoute(location.hash);
    this.mounted = null;
    this.mountedId = null;
    this.wasOffline = false;
    this.login = new LoginView(this);
    this.sidebar = new Sidebar(this);
    this.conversation = new ConversationView(this);
    this.groupPage = new GroupPage(this);
    this.accountPage = new AccountPage(this);

    client.addEventListener('change', (e) => this.onChange(e.detail));
    client.addEventListener('notice', (e) => this.toast(e.detail.text, e.detail));
    client.addEventListener('incoming', (e) => this.onIncoming(e.detail));
    window.addEventListener('hashchange', () => {
      this.route = parseRoute(location.hash);
      // The open conversation is highlighted in the Chats list.
      if (this.route.view === 'conv' && this.sidebar.tab !== 'chats') this.sidebar.show('chats');
      this.renderMain(true);
      this.sidebar.render();
    });
    $('banner-retry').addEventListener('click', () => client.conn.reconnectNow());
    // The skip link must not change the address: that is the router's.
    document.querySelector('.skip-link').addEventListener('click', (e) => {
      e.preventDefault();
      const box = document.getElementById('composer-text');
      if (box && box.offsetParent) box.focus();
      else document.querySelector('#sidebar [role=tab][aria-selected=true]')?.focus();
    });
    setInterval(() => {
      if (client.conn.state === 'waiting') this.renderConnection();
    }, 1000);
    this.renderAll();
  }

  get openKey() {
    return this.route.view === 'conv' ? this.route.key : null;
  }

  onChange(d) {
    switch (d.what) {
      case 'status':
        this.renderAll();
        break;
      case 'connection':
        this.renderConnection();
        break;
      case 'lists':
        if (this.client.status === 'out') break;
        this.sidebar.render();
        this.updateMain('lists');
        this.renderTitle();
        break;
      case 'members':
        this.updateMain('members');
        break;
      case 'messages':
        if (this.mounted === this.conversation && d.key === this.conversation.key) this.conversation.update();
        break;
      default:
        break;
    }
  }

  renderAll() {
    const out = this.client.status === 'out';
    $('login-screen').hidden = !out;
    $('app').hidden = out;
    if (out) {
      // A question asked of a session that is over has no answer left.
      const dialog = $('confirm-dialog');
      if (dialog.open) dialog.close();
      this.unmountMain();
      this.login.show();
    } else {
      const me = this.client.me;
      $('me-name').textContent = me ? me.name : '';
      $('me-id').textContent = me ? `id ${me.id}` : '';
      this.sidebar.render();
      this.renderMain(false);
    }
    this.renderConnection();
    this.renderTitle();
  }

  renderTitle() {
    const n = this.client.status === 'out' ? 0 : this.client.totalUnread;
    document.title = n ? `(${n}) Chat` : 'Chat';
  }

  /** The banner (and the dot in the top bar) saying how the connection is. */
  renderConnection() {
    const c = this.client;
    const status = c.status;
    const dot = $('conn-dot');
    dot.className = `conn-dot ${status === 'online' ? 'online' : status === 'offline' ? 'offline' : ''}`;
    dot.setAttribute('aria-label', status === 'online' ? 'Connected' : status === 'offline' ? 'Offline' : 'Connecting');
    if (status === 'out') {
      this.wasOffline = false;
      this.setBanner('');
      this.login.renderConnection();
      return;
    }
    if (status === 'online') {
      if (this.wasOffline) {
        this.wasOffline = false;
        this.setBanner('Connected again.', { ok: true });
        clearTimeout(this.bannerTimer);
        this.bannerTimer = setTimeout(() => {
          if (this.client.status === 'online') this.setBanner('');
        }, 3000);
      } else if (!$('banner').classList.contains('ok')) {
        this.setBanner('');
      }
    } else if (status === 'connecting') {
      this.setBanner(this.wasOffline ? 'Reconnecting…' : 'Connecting…');
    } else {
      this.wasOffline = true;
      const s = Math.max(0, Math.ceil((c.conn.retryAt - Date.now()) / 1000));
      const n = c.pending.length;
      this.setBanner(`Connection lost. Trying again in ${s} s.`
        + (n ? ` ${n} message${n === 1 ? '' : 's'} will be sent when it is back.` : ' Messages you write are sent when it is back.'),
      { retry: true });
    }
  }

  setBanner(text, { ok = false, retry = false } = {}) {
    const banner = $('banner');
    $('banner-text').textContent = text;
    $('banner-retry').hidden = !retry;
    banner.classList.toggle('ok', ok);
    banner.hidden = !text;
    document.body.classList.toggle('has-banner', !!text);
  }

  // ---- the main area ----

  unmountMain() {
    if (this.mounted) this.mounted.unmount();
    this.mounted = null;
    this.mountedId = null;
  }

  renderMain(navigated) {
    const app = $('app');
    const r = this.route;
    app.classList.toggle('show-main', r.view !== 'home');
    app.classList.toggle('show-list', r.view === 'home');
    if (this.mountedId === r.id && this.mounted) {
      this.updateMain('route');
      return;
    }
    this.unmountMain();
    const root = $('main');
    if (r.view === 'conv') {
      this.mounted = this.conversation;
      this.conversation.mount(root, r.key);
      if (navigated) this.conversation.focusComposer();
    } else if (r.view === 'group') {
      this.mounted = this.groupPage;
      this.groupPage.mount(root, r.gid);
    } else if (r.view === 'account') {
      this.mounted = this.accountPage;
      this.accountPage.mount(root);
    } else {
      this.mounted = null;
      this.renderHome(root);
    }
    this.mountedId = r.id;
    if (navigated && r.view !== 'conv') {
      const heading = root.querySelector('h2');
      if (heading) {
        heading.tabIndex = -1;
        heading.focus();
      }
    }
  }

  updateMain(why) {
    if (this.mounted === this.conversation) {
      this.conversation.renderHead();
      this.conversation.renderFooter();
      this.conversation.update();
    } else if (this.mounted === this.groupPage) {
      this.groupPage.update();
    } else if (!this.mounted && why === 'lists') {
      this.renderHome($('main'));
    }
  }

  renderHome(root) {
    const me = this.client.me;
    const c = this.client;
    fill(root, h('div', { class: 'home' },
      h('h2', null, me ? `Hello, ${me.name}` : 'Hello'),
      me ? h('p', null, 'Your user id is ', h('strong', null, String(me.id)), '. Friends add you with it.') : null,
      c.friends.size || c.groups.size
        ? h('p', null, 'Choose a chat on the left.')
        : h('p', null, 'Add a friend by their id under People, or create a group under Groups.')));
  }

  // ---- messages and notices ----

  onIncoming({ key, msg, looking }) {
    if (looking) return; // The conversation's log region reads it out.
    const { kind, id } = splitKey(key);
    const from = this.client.nameOf(msg.from);
    const where = kind === 'g' ? ` in ${(this.client.groups.get(id) || { name: `group ${id}` }).name}` : '';
    const text = msg.text.length > 120 ? `${msg.text.slice(0, 120)}…` : msg.text;
    $('announcer').textContent = `New message from ${from}${where}: ${text}`;
  }

  /** A short note in the corner; `go` is a tab or a conversation to show. */
  toast(text, opts = {}) {
    const box = $('toasts');
    const close = h('button', { type: 'button', 'aria-label': 'Dismiss' }, '×');
    const t = h('div', { class: ['toast', opts.error && 'error'], role: opts.error ? 'alert' : false }, h('p', null, text));
    if (opts.go) {
      const show = h('button', { type: 'button' }, 'Show');
      show.addEventListener('click', () => {
        if (/^[ug]:\d+$/.test(opts.go)) location.hash = `#/${opts.go.replace(':', '/')}`;
        else {
          location.hash = '#/';
          this.sidebar.show(opts.go);
        }
        t.remove();
      });
      t.appendChild(show);
    }
    t.appendChild(close);
    close.addEventListener('click', () => t.remove());
    box.appendChild(t);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => t.remove(), opts.error ? 9000 : 6000);
  }

  error(e) {
    this.toast(e instanceof RequestError ? plain(e) : e.message || String(e), { error: true });
  }

  /** Runs a button's action: disabled meanwhile, errors shown in plain words. */
  async run(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      this.error(e);
    } finally {
      if (button) button.disabled = false;
    }
  }
}
