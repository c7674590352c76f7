// One conversation: its header, the messages (a role=log region, updated in
// place by key so that the scroll position and focus stay put), older
// history fetched as the user scrolls up, and the message box.

import { h, fill, formatTime, formatFull } from '../dom.js';
import { splitKey, textBytes, MAX_TEXT_BYTES } from '../client.js';
import { plain } from '../errors.js';
import { avatar } from './sidebar.js';

/** Within this many pixels of the bottom counts as "at the bottom". */
const NEAR_BOTTOM = 60;
/** Within this many pixels of the top, older messages are fetched. */
const NEAR_TOP = 150;

export class ConversationView {
  constructor(ui) {
    this.ui = ui;
    this.client = ui.client;
    this.key = null;
    /** Item key -> element, with its `sig` to know when to redraw it. */
    this.nodes = new Map();
    /** Drafts by conversation, so switching does not lose what was typed. */
    this.drafts = new Map();
  }

  mount(root, key) {
    this.key = key;
    this.nodes = new Map();
    const { kind, id } = splitKey(key);
    this.kind = kind;
    this.id = id;
    this.head = h('header', { class: 'conv-head' });
    this.olderRow = h('div', { class: 'older' });
    this.list = h('div', {
      class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
      'aria-label': 'Messages', id: 'messages',
    });
    this.jump = h('button', { type: 'button', class: 'jump small', hidden: true }, 'New messages ↓');
    this.jump.addEventListener('click', () => this.toBottom());
    this.scroller = h('div', { class: 'scroller', id: 'scroller' }, this.olderRow, this.list, this.jump);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.footer = h('div');
    fill(root, this.head, this.scroller, this.footer);
    this.stick = true;
    this.client.open(key);
    this.renderHead();
    this.renderFooter();
    this.update();
  }

  unmount() {
    this.saveDraft();
    this.client.open(null);
    this.key = null;
  }

  get exists() {
    return this.client.exists(this.key);
  }

  get title() {
    const c = this.client;
    if (this.kind === 'u') {
      const f = c.friends.get(this.id);
      return f ? f.name : c.nameOf(this.id);
    }
    const g = c.groups.get(this.id);
    return g ? g.name : `Group ${this.id}`;
  }

  /** The header: back (phones), name, presence or group facts, group info. */
  renderHead() {
    const c = this.client;
    let sub;
    let online;
    if (this.kind === 'u') {
      const f = c.friends.get(this.id);
      online = f ? !!f.online : undefined;
      sub = f ? (f.online ? 'online' : 'offline') : c.listsKnown ? 'not your friend' : 'connecting…';
      sub = `${sub} · id ${this.id}`;
    } else {
      const g = c.groups.get(this.id);
      const ms = c.members.get(this.id);
      sub = g
        ? [`${g.visibility} group ${g.id}`, ms ? `${ms.size} member${ms.size === 1 ? '' : 's'}` : null,
          g.role !== 'member' ? `you are the ${g.role}` : null].filter(Boolean).join(' · ')
        : 'you are not in this group';
    }
    const back = h('a', { class: 'back button-like', href: '#/', 'aria-label': 'Back to the list' }, '←');
    fill(this.head,
      back,
      avatar(this.title, { group: this.kind === 'g', online }),
      h('div', { class: 'title' }, h('h2', { id: 'conv-title' }, this.title), h('div', { class: 'sub', id: 'conv-sub' }, sub)),
      this.kind === 'g' && c.groups.has(this.id)
        ? h('a', { class: 'button-like', href: `#/g/${this.id}/info`, 'aria-label': `Group info and members of ${this.title}` }, 'Info')
        : null);
  }

  /** The message box, or why there is none. */
  renderFooter() {
    if (!this.client.listsKnown) {
      // A reload: who is a friend is known after the login.
      this.saveDraft();
      this.textarea = null;
      fill(this.footer, h('p', { class: 'composer-off' }, 'Connecting…'));
      return;
    }
    if (!this.exists) {
      this.saveDraft();
      this.textarea = null;
      const why = this.kind === 'u'
        ? `You and ${this.title} are not friends, so you cannot send messages here. Send a friend request under People.`
        : 'You are not a member of this group (anymore).';
      fill(this.footer, h('p', { class: 'composer-off' }, why));
      return;
    }
    if (this.textarea) return;
    const label = `Message to ${this.title}`;
    const ta = h('textarea', { id: 'composer-text', rows: 1, 'aria-label': label, placeholder: label, maxlength: 4096 });
    ta.value = this.drafts.get(this.key) || '';
    const bytes = h('span', { class: 'bytes', 'aria-live': 'polite' });
    const send = h('button', { type: 'submit', class: 'primary', id: 'send' }, 'Send');
    const form = h('form', { class: 'composer', 'aria-label': 'Write a message' }, ta, bytes, send);
    const grow = () => {
      ta.style.height = 'auto';
      ta.style.height = `${Math.min(ta.scrollHeight + 2, 144)}px`;
      const n = textBytes(ta.value);
      bytes.textContent = n > MAX_TEXT_BYTES - 500 ? `${n}/${MAX_TEXT_BYTES}` : '';
      bytes.classList.toggle('over', n > MAX_TEXT_BYTES);
    };
    ta.addEventListener('input', grow);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = ta.value;
      if (!text.trim()) return;
      try {
        this.client.send(this.key, text);
      } catch (err) {
        this.ui.toast(err.code === 'too_long' ? err.message : plain(err), { error: true });
        return;
      }
      ta.value = '';
      this.drafts.delete(this.key);
      grow();
      this.stick = true;
      this.toBottom();
      ta.focus();
    });
    this.textarea = ta;
    fill(this.footer, form);
    grow();
  }

  saveDraft() {
    if (this.textarea && this.key) {
      if (this.textarea.value) this.drafts.set(this.key, this.textarea.value);
      else this.drafts.delete(this.key);
    }
  }

  focusComposer() {
    if (this.textarea) this.textarea.focus();
  }

  /** Redraws what changed, keeping the reader's place. */
  update() {
    if (!this.key) return;
    const c = this.client;
    const conv = c.convs.get(this.key);
    const sc = this.scroller;
    const atBottom = this.stick || sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_BOTTOM;
    // The first item in view, to keep it in place when older ones come in.
    let anchor = null;
    let anchorTop = 0;
    if (!atBottom) {
      for (const el of this.list.children) {
        if (el.offsetTop + el.offsetHeight > sc.scrollTop) {
          anchor = el;
          anchorTop = el.offsetTop - sc.scrollTop;
          break;
        }
      }
    }
    const lastBefore = this.list.lastElementChild;

    const items = c.items(this.key);
    const keep = new Set();
    let ref = this.list.firstChild;
    for (const item of items) {
      keep.add(item.key);
      const sig = this.signature(item);
      let el = this.nodes.get(item.key);
      if (el && el.sig !== sig) {
        if (el === ref) ref = ref.nextSibling;
        el.remove();
        el = null;
      }
      if (!el) {
        el = this.render(item);
        el.sig = sig;
        this.nodes.set(item.key, el);
      }
      if (el === ref) ref = ref.nextSibling;
      else this.list.insertBefore(el, ref);
    }
    for (const [key, el] of this.nodes) {
      if (!keep.has(key)) {
        el.remove();
        this.nodes.delete(key);
      }
    }

    // The row above the messages: loading, more, or the beginning.
    const loggedIn = c.loggedIn;
    if (conv && conv.loading) {
      fill(this.olderRow, 'Loading messages…');
      this.list.setAttribute('aria-busy', 'true');
    } else {
      this.list.removeAttribute('aria-busy');
      if (conv && conv.complete) {
        fill(this.olderRow, items.length ? 'This is the beginning of the conversation.' : 'No messages yet. Say hello!');
      } else if (loggedIn && this.exists) {
        const more = h('button', { type: 'button', class: 'small', id: 'load-older' }, 'Load older messages');
        more.addEventListener('click', () => this.client.loadOlder(this.key).catch((e) => this.ui.toast(plain(e), { error: true })));
        fill(this.olderRow, more);
      } else {
        fill(this.olderRow, '');
      }
    }

    if (atBottom) {
      sc.scrollTop = sc.scrollHeight;
      this.jump.hidden = true;
    } else if (anchor && anchor.isConnected) {
      sc.scrollTop = anchor.offsetTop - anchorTop;
      if (this.list.lastElementChild !== lastBefore) this.jump.hidden = false;
    }
    this.stick = false;
    // Too few messages to scroll: fetch older ones until there is a scroll
    // bar or the beginning.
    if (conv && conv.fresh && !conv.complete && !conv.loading && sc.scrollHeight <= sc.clientHeight + 10) {
      this.client.loadOlder(this.key).catch(() => {});
    }
  }

  toBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jump.hidden = true;
  }

  onScroll() {
    const sc = this.scroller;
    if (sc.scrollHeight - sc.scrollTop - sc.clientHeight < NEAR_BOTTOM) this.jump.hidden = true;
    if (sc.scrollTop < NEAR_TOP) {
      this.client.loadOlder(this.key).catch((e) => this.ui.toast(plain(e), { error: true }));
    }
  }

  /** What an item's element depends on; a change means a redraw. */
  signature(item) {
    if (item.note) return 'note';
    if (item.pending) return `p|${item.pending.state}|${item.pending.error}|${this.client.loggedIn}`;
    return `m|${this.authorOf(item.msg)}`;
  }

  authorOf(m) {
    if (this.client.me && m.from === this.client.me.id) return 'You';
    return this.client.nameOf(m.from);
  }

  render(item) {
    if (item.note) return h('div', { class: 'note', role: 'note' }, item.note.text);
    if (item.pending) return this.renderPending(item.pending);
    const m = item.msg;
    const mine = this.client.me && m.from === this.client.me.id;
    const author = this.authorOf(m);
    return h('div', { class: ['msg', mine ? 'mine' : 'theirs'], dataset: { id: String(m.id), state: 'sent' } },
      this.kind === 'g' && !mine ? h('span', { class: 'author', 'aria-hidden': 'true' }, author) : null,
      h('p', { class: 'bubble' }, h('span', { class: 'sr-only' }, `${author}: `), h('span', { class: 'text' }, m.text)),
      h('div', { class: 'meta' },
        h('time', { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts) }, formatTime(m.ts)),
        mine ? h('span', { class: 'status' }, 'Sent') : null));
  }

  renderPending(p) {
    const failed = p.state === 'failed';
    let status;
    if (failed) status = h('span', { class: 'failed-text' }, `Not sent: ${p.error}`);
    else if (!this.client.loggedIn) status = h('span', { class: 'status' }, 'Waiting for the connection…');
    else status = h('span', { class: 'status' }, 'Sending…');
    const actions = [];
    if (failed) {
      const retry = h('button', { type: 'button', class: 'small' }, 'Retry');
      retry.addEventListener('click', () => this.client.retry(p.cid));
      const drop = h('button', { type: 'button', class: 'small' }, 'Delete');
      drop.addEventListener('click', () => this.client.discard(p.cid));
      actions.push(retry, drop);
    }
    return h('div', { class: ['msg', 'mine', failed ? 'failed' : 'pending'], dataset: { cid: p.cid, state: failed ? 'failed' : 'pending' } },
      h('p', { class: 'bubble' }, h('span', { class: 'sr-only' }, 'You: '), h('span', { class: 'text' }, p.text)),
      h('div', { class: 'meta' }, h('time', { datetime: new Date(p.t).toISOString() }, formatTime(p.t)), status, actions));
  }
}
