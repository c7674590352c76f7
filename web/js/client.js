// The chat session, without any DOM: what the user has (friends, requests,
// groups, invites, conversations, messages waiting to be sent) and every
// operation of the protocol. The UI calls its methods and re-renders on its
// 'change' events; it never talks to the socket itself.
//
// Delivery, as the contract asks of a client:
// - every `msg` event is acked (in small batches) once it is in memory, and
//   dropped when its id was already seen (history, replay, live);
// - a message typed by the user is 'pending' until the `ok` reply; it is
//   kept in localStorage and, after any reconnect or reload, sent again with
//   the same `cid`, which the server turns into the original message rather
//   than a second one.

import { HEARTBEAT_SECONDS } from './connection.js';
import { RequestError, plain } from './errors.js';
import * as storage from './storage.js';

/** Messages asked for per `history` request. */
export const PAGE = 50;
/** The contract's limit on `text`. */
export const MAX_TEXT_BYTES = 4096;

const encoder = new TextEncoder();

export function textBytes(text) {
  return encoder.encode(text).length;
}

/** 'u:ID' for a friend's conversation, 'g:ID' for a group's. */
export function convKey(kind, id) {
  return `${kind}:${id}`;
}

export function splitKey(key) {
  const [kind, id] = key.split(':');
  return { kind, id: Number(id) };
}

/** A client message id: random, so that a retry can be recognised. */
function newCid() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `w${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const ENDED = {
  password_changed: 'Your password was changed in another session, so this one was ended. Log in with the new password.',
  account_deleted: 'This account was deleted.',
  logged_out: 'You were logged out everywhere.',
};

/** One conversation: a friend's or a group's. */
class Conversation {
  constructor(key) {
    this.key = key;
    const { kind, id } = splitKey(key);
    this.kind = kind;
    this.id = id;
    /** id -> msg, every message known (history, live, replayed, sent). */
    this.msgs = new Map();
    /** Lines such as "Bob joined", placed after the newest message of their time. */
    this.notes = [];
    this.unread = 0;
    /** The newest page of history was fetched on the current connection. */
    this.fresh = false;
    /** Nothing older than the oldest message here exists. */
    this.complete = false;
    this.loading = false;
    this.lastId = 0;
    this.lastTs = 0;
    this.lastText = '';
    /** Bumped on every change, so the UI knows what to redraw. */
    this.version = 0;
  }

  get oldestId() {
    let min = Infinity;
    for (const id of this.msgs.keys()) if (id < min) min = id;
    return min === Infinity ? null : min;
  }
}

export class ChatClient extends EventTarget {
  /** @param {import('./connection.js').Connection} conn */
  constructor(conn) {
    super();
    this.conn = conn;
    /** {user, name, token} while the user has a session (logged in or trying). */
    this.session = storage.loadSession();
    /** Whether the current connection is logged in. */
    this.loggedIn = false;
    /** Why the last session ended, shown on the login screen. */
    this.endedBecause = '';
    this.resetState();
    if (this.session) this.loadUser(this.session.user, this.session.name);
    this.openKey = null;
    this.acks = [];
    this.ackTimer = null;
    this.noteSeq = 0;

    conn.addEventListener('open', () => this.onOpen());
    conn.addEventListener('close', () => this.onClose());
    conn.addEventListener('state', () => this.emit('connection'));
    conn.addEventListener('frame', (e) => this.onEvent(e.detail));
    window.addEventListener('storage', (e) => {
      if (e.key === storage.SESSION_KEY || e.key === null) this.onSessionStorage();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.openKey) this.markRead(this.openKey);
    });
  }

  resetState() {
    this.me = null;
    /** Whether the lists below came from the server (a login on this page). */
    this.listsKnown = false;
    /** id -> user, for each of these lists of the login reply. */
    this.friends = new Map();
    this.requestsIn = new Map();
    this.requestsOut = new Map();
    this.blocked = new Map();
    /** group id -> group (with the user's `role`). */
    this.groups = new Map();
    /** group id -> {group, by}. */
    this.invites = new Map();
    /** group id -> Map(user id -> member), for groups whose members were listed. */
    this.members = new Map();
    /** user id -> name, from every user object seen. */
    this.names = new Map();
    /** key -> Conversation. */
    this.convs = new Map();
    /** Every message id held, for dropping duplicates. */
    this.seen = new Set();
    /** Messages typed but not yet confirmed, oldest first: {cid, key, text, t, state, error}. */
    this.pending = [];
    /** Cids confirmed or dropped on this page (kept out of the stored list). */
    this.done = new Set();
  }

  /** Takes up what this browser kept for `uid`: unsent messages, unread counts. */
  loadUser(uid, name) {
    this.me = { id: uid, name: name || `User ${uid}` };
    this.pending = storage.loadPending(uid).map((p) => ({ ...p, state: 'queued', error: '' }));
    for (const [key, n] of Object.entries(storage.loadUnread(uid))) {
      if (/^[ug]:\d+$/.test(key) && n > 0) this.conv(key).unread = n;
    }
  }

  emit(what, detail = {}) {
    this.dispatchEvent(new CustomEvent('change', { detail: { what, ...detail } }));
  }

  notice(text, detail = {}) {
    this.dispatchEvent(new CustomEvent('notice', { detail: { text, ...detail } }));
  }

  // ---- connection and login ------------------------------------------------

  /** 'out' (no session), 'online', 'connecting' (logging in), 'offline'. */
  get status() {
    if (!this.session) return 'out';
    if (this.loggedIn) return 'online';
    if (this.conn.state === 'open' || this.conn.state === 'connecting') return 'connecting';
    return 'offline';
  }

  onOpen() {
    if (this.session) this.resume();
    else this.conn.markHealthy();
  }

  onClose() {
    const was = this.loggedIn;
    this.loggedIn = false;
    // The server sends unacked messages again after the next login.
    this.acks = [];
    for (const c of this.convs.values()) c.fresh = false;
    // Presence is unknown until the next login says it again.
    for (const f of this.friends.values()) f.online = false;
    for (const ms of this.members.values()) for (const m of ms.values()) m.online = false;
    if (was) {
      this.emit('status');
      this.emit('lists');
    }
  }

  /** Logs in again with the stored token (after a reload or a reconnect). */
  async resume() {
    const s = this.session;
    this.emit('status');
    try {
      const r = await this.conn.request('login', { user: s.user, token: s.token, heartbeat: HEARTBEAT_SECONDS });
      if (this.session !== s) {
        this.conn.request('logout', {}).catch(() => {});
        return;
      }
      this.applyLogin(r);
    } catch (e) {
      if (this.session !== s) return;
      if (e.code === 'bad_credentials') {
        this.endSession('Your session has expired or was ended elsewhere. Please log in again.');
      } else if (e.code === 'offline' || e.code === 'disconnected' || e.code === 'timeout') {
        // The connection retries by itself.
      } else if (e.transient) {
        this.conn.drop(`login: ${e.code}`, true);
      } else {
        this.endSession(plain(e));
      }
    }
  }

  /** Logs in with a password (the login form). */
  async login(user, password) {
    await this.conn.whenOpen();
    const r = await this.conn.request('login', { user, password, heartbeat: HEARTBEAT_SECONDS });
    this.session = { user: r.user.id, name: r.user.name, token: r.token };
    storage.saveSession(this.session);
    this.resetState();
    this.loadUser(r.user.id, r.user.name);
    this.endedBecause = '';
    this.applyLogin(r);
    return r.user;
  }

  /** Creates an account (not logged in yet). Returns the new user. */
  async register(name, password) {
    await this.conn.whenOpen();
    const r = await this.conn.request('register', { name, password });
    return r.user;
  }

  applyLogin(r) {
    this.loggedIn = true;
    this.conn.markHealthy();
    if (!this.me || this.me.id !== r.user.id) this.loadUser(r.user.id, r.user.name);
    this.me = { id: r.user.id, name: r.user.name };
    this.names.set(r.user.id, r.user.name);
    if (this.session.name !== r.user.name) {
      this.session.name = r.user.name;
      storage.saveSession(this.session);
    }
    this.applyLists(r);
    // Member lists may have changed while away: fetched again when shown.
    this.members.clear();
    for (const c of this.convs.values()) c.fresh = false;
    this.emit('status');
    this.emit('lists');
    this.flushPending();
    if (this.openKey) this.refreshOpen();
  }

  applyLists(r) {
    this.listsKnown = true;
    const byId = (list) => new Map((list || []).map((u) => [u.id, u]));
    this.friends = byId(r.friends);
    this.requestsIn = byId(r.requests_in);
    this.requestsOut = byId(r.requests_out);
    this.blocked = byId(r.blocked);
    this.groups = byId(r.groups);
    this.invites = new Map((r.invites || []).map((i) => [i.group.id, i]));
    for (const list of [r.friends, r.requests_in, r.requests_out, r.blocked]) {
      for (const u of list || []) this.names.set(u.id, u.name);
    }
    for (const i of r.invites || []) this.names.set(i.by.id, i.by.name);
  }

  /**
   * Ends the session on this page: back to the login screen, saying `why`,
   * and forgets the token (unless another tab of this browser has stored a
   * newer one). With `otherTab`, waits a moment before forgetting: when
   * another tab changed the password, the server ends this session before
   * that tab has stored its new token, which this tab then takes up.
   */
  endSession(why, { otherTab = false } = {}) {
    const uid = this.me && this.me.id;
    const token = this.session && this.session.token;
    const forget = () => {
      const now = storage.loadSession();
      if (now && now.token !== token) return;
      storage.forgetSession();
      if (uid) storage.forgetUser(uid);
    };
    if (otherTab) setTimeout(forget, 3000);
    else forget();
    const stored = storage.loadSession();
    this.session = null;
    this.loggedIn = false;
    this.openKey = null;
    this.resetState();
    this.endedBecause = why || '';
    this.emit('status');
    if (stored && stored.token !== token && stored.user === uid) {
      // Take up the other tab's session.
      this.session = stored;
      this.loadUser(stored.user, stored.name);
      this.endedBecause = '';
      if (this.conn.isOpen) this.resume();
      this.emit('status');
    }
  }

  /** Another tab logged out or in. */
  onSessionStorage() {
    const stored = storage.loadSession();
    if (!stored && this.session) {
      if (this.loggedIn) this.conn.request('logout', {}).catch(() => {});
      this.endSession('You logged out in another tab.');
    } else if (stored && !this.session) {
      this.session = stored;
      this.resetState();
      this.loadUser(stored.user, stored.name);
      this.endedBecause = '';
      this.emit('status');
      if (this.conn.isOpen) this.resume();
    }
  }

  /** Logs out this page (revoking its token), or every session of the user. */
  async logout({ everywhere = false } = {}) {
    if (everywhere) {
      await this.request('logout', { everywhere: true });
    } else if (this.loggedIn) {
      await this.request('logout', { revoke: true }).catch(() => {});
    }
    this.endSession(everywhere ? 'You logged out on every device.' : 'You logged out.');
  }

  async changePassword(old, next) {
    const r = await this.request('change_password', { old, new: next });
    this.session.token = r.token;
    storage.saveSession(this.session);
  }

  async deleteAccount(password) {
    await this.request('delete_account', { password });
    if (this.session) this.endSession(ENDED.account_deleted);
  }

  /** A request that needs the login (fails at once with `offline` without). */
  request(op, fields) {
    if (!this.loggedIn) return Promise.reject(new RequestError('offline', 'not logged in'));
    return this.conn.request(op, fields);
  }

  // ---- events ----------------------------------------------------------------

  onEvent(f) {
    if (!this.loggedIn && f.ev !== 'session_ended') return;
    switch (f.ev) {
      case 'msg':
        this.receive(f.msg, true);
        break;
      case 'presence': {
        const fr = this.friends.get(f.user);
        if (fr) fr.online = f.online;
        for (const ms of this.members.values()) {
          const m = ms.get(f.user);
          if (m) m.online = f.online;
        }
        this.emit('lists');
        this.emit('members');
        break;
      }
      case 'friend_request':
        this.names.set(f.user.id, f.user.name);
        this.requestsIn.set(f.user.id, f.user);
        this.notice(`${f.user.name} (id ${f.user.id}) asks to be your friend.`, { go: 'people' });
        this.emit('lists');
        break;
      case 'friend_request_cancelled':
        this.requestsIn.delete(f.user);
        this.emit('lists');
        break;
      case 'friend_added':
        this.names.set(f.user.id, f.user.name);
        this.friends.set(f.user.id, { online: false, ...f.user });
        this.requestsOut.delete(f.user.id);
        this.requestsIn.delete(f.user.id);
        this.notice(`${f.user.name} is now your friend.`, { go: convKey('u', f.user.id) });
        this.emit('lists');
        break;
      case 'friend_removed': {
        const fr = this.friends.get(f.user);
        this.friends.delete(f.user);
        if (fr) this.note(convKey('u', f.user), `${fr.name} is no longer your friend.`);
        this.emit('lists');
        break;
      }
      case 'group_invite':
        this.names.set(f.by.id, f.by.name);
        this.invites.set(f.group.id, { group: f.group, by: f.by });
        this.notice(`${f.by.name} invites you to the group "${f.group.name}".`, { go: 'groups' });
        this.emit('lists');
        break;
      case 'group_updated': {
        const g = this.groups.get(f.group.id);
        if (g) Object.assign(g, { name: f.group.name, desc: f.group.desc, visibility: f.group.visibility });
        const inv = this.invites.get(f.group.id);
        if (inv) Object.assign(inv.group, f.group);
        this.emit('lists');
        break;
      }
      case 'group_deleted': {
        const g = this.groups.get(f.group);
        this.dropGroup(f.group);
        this.invites.delete(f.group);
        if (g) this.notice(`The group "${g.name}" was deleted.`);
        this.emit('lists');
        break;
      }
      case 'member_joined': {
        this.names.set(f.user.id, f.user.name);
        const ms = this.members.get(f.group);
        if (ms) ms.set(f.user.id, { online: false, role: 'member', ...f.user });
        this.note(convKey('g', f.group), `${f.user.name} joined.`);
        this.emit('members');
        break;
      }
      case 'member_left': {
        const ms = this.members.get(f.group);
        if (ms) ms.delete(f.user.id);
        const text = f.by
          ? `${f.user.name} was removed by ${this.nameOf(f.by)}.`
          : `${f.user.name} left.`;
        this.note(convKey('g', f.group), text);
        this.emit('members');
        break;
      }
      case 'removed_from_group': {
        const g = this.groups.get(f.group);
        this.dropGroup(f.group);
        this.notice(`${this.nameOf(f.by)} removed you from the group "${g ? g.name : f.group}".`);
        this.emit('lists');
        break;
      }
      case 'member_role': {
        const ms = this.members.get(f.group);
        if (ms && ms.get(f.user)) ms.get(f.user).role = f.role;
        if (this.me && f.user === this.me.id) {
          const g = this.groups.get(f.group);
          if (g) g.role = f.role;
          this.emit('lists');
        }
        const who = this.me && f.user === this.me.id ? 'You are' : `${this.nameOf(f.user)} is`;
        this.note(convKey('g', f.group), `${who} now ${f.role === 'member' ? 'a member' : `the ${f.role}`}.`);
        this.emit('members');
        break;
      }
      case 'session_ended':
        this.endSession(ENDED[f.reason] || 'This session was ended by another session of your account.',
          { otherTab: f.reason === 'password_changed' });
        break;
      default:
        break;
    }
  }

  dropGroup(gid) {
    this.groups.delete(gid);
    this.members.delete(gid);
    const c = this.convs.get(convKey('g', gid));
    if (c) {
      c.unread = 0;
      this.saveUnread();
    }
  }

  nameOf(uid) {
    if (this.me && uid === this.me.id) return this.me.name;
    return this.names.get(uid) || `User ${uid}`;
  }

  // ---- messages --------------------------------------------------------------

  conv(key) {
    let c = this.convs.get(key);
    if (!c) {
      c = new Conversation(key);
      this.convs.set(key, c);
    }
    return c;
  }

  keyOfMsg(m) {
    if (m.group !== undefined && m.group !== null) return convKey('g', m.group);
    const other = this.me && m.from === this.me.id ? m.to : m.from;
    return convKey('u', other);
  }

  /** A message from the server: live or replayed (`live`), or from history. */
  receive(m, live) {
    if (!m || !Number.isSafeInteger(m.id)) return;
    const mine = this.me && m.from === this.me.id;
    if (live && !mine) this.queueAck(m.id);
    if (this.seen.has(m.id)) return;
    const key = this.keyOfMsg(m);
    const c = this.conv(key);
    this.add(c, m);
    if (mine && m.cid) this.unpend(m.cid);
    if (live && !mine) {
      const looking = this.openKey === key && document.visibilityState === 'visible';
      if (!looking) {
        c.unread++;
        this.saveUnread();
      }
      this.dispatchEvent(new CustomEvent('incoming', { detail: { key, msg: m, looking } }));
      this.emit('lists');
    }
    this.emit('messages', { key });
  }

  add(c, m) {
    this.seen.add(m.id);
    c.msgs.set(m.id, m);
    if (m.id > c.lastId) {
      c.lastId = m.id;
      c.lastTs = m.ts;
      c.lastText = m.text;
    }
    c.version++;
  }

  note(key, text) {
    const c = this.conv(key);
    this.noteSeq++;
    c.notes.push({ key: `n${this.noteSeq}`, after: c.lastId, seq: this.noteSeq, text, ts: Date.now() });
    c.version++;
    this.emit('messages', { key });
  }

  /**
   * What a conversation shows, in order: messages by id, notes after the
   * newest message of their time, then the user's unconfirmed messages.
   */
  items(key) {
    const c = this.convs.get(key);
    const out = [];
    if (c) {
      for (const m of c.msgs.values()) out.push({ key: `m${m.id}`, sort: m.id, seq: 0, msg: m });
      for (const n of c.notes) out.push({ key: n.key, sort: n.after, seq: n.seq, note: n });
      out.sort((a, b) => a.sort - b.sort || a.seq - b.seq);
    }
    for (const p of this.pending) {
      if (p.key === key) out.push({ key: `p${p.cid}`, pending: p });
    }
    return out;
  }

  queueAck(id) {
    this.acks.push(id);
    if (!this.ackTimer) this.ackTimer = setTimeout(() => this.flushAcks(), 100);
  }

  flushAcks() {
    this.ackTimer = null;
    while (this.acks.length && this.loggedIn) {
      const ids = this.acks.splice(0, 1000);
      this.request('ack', { ids }).catch(() => {});
    }
  }

  /** Sends `text` to the conversation `key`; it shows as pending at once. */
  send(key, text) {
    if (!text.trim()) throw new RequestError('bad_request', 'text');
    if (textBytes(text) > MAX_TEXT_BYTES) {
      throw new RequestError('too_long', `That message is ${textBytes(text)} bytes long; the limit is ${MAX_TEXT_BYTES}.`);
    }
    const p = { cid: newCid(), key, text, t: Date.now(), state: 'queued', error: '' };
    this.pending.push(p);
    this.savePending();
    this.emit('messages', { key });
    this.flushPending();
    return p;
  }

  flushPending() {
    if (!this.loggedIn) return;
    for (const p of this.pending) if (p.state === 'queued') this.sendOne(p);
  }

  async sendOne(p) {
    p.state = 'sending';
    p.error = '';
    const { kind, id } = splitKey(p.key);
    const [op, fields] = kind === 'u'
      ? ['chat', { to: id, text: p.text, cid: p.cid }]
      : ['group_chat', { group: id, text: p.text, cid: p.cid }];
    try {
      const r = await this.request(op, fields);
      if (!this.pending.includes(p)) return;
      this.unpend(p.cid);
      if (!this.seen.has(r.msg.id) && this.me) {
        const m = { id: r.msg.id, ts: r.msg.ts, from: this.me.id, text: p.text, cid: p.cid };
        if (kind === 'u') m.to = id;
        else m.group = id;
        this.add(this.conv(p.key), m);
      }
    } catch (e) {
      if (!this.pending.includes(p)) return;
      if (e.transient) {
        p.state = 'queued';
        if (this.loggedIn) setTimeout(() => this.flushPending(), 2000 + Math.random() * 2000);
      } else {
        p.state = 'failed';
        p.error = plain(e);
      }
    }
    this.emit('messages', { key: p.key });
  }

  unpend(cid) {
    this.done.add(cid);
    const i = this.pending.findIndex((p) => p.cid === cid);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    this.savePending();
    this.emit('messages', { key: p.key });
  }

  retry(cid) {
    const p = this.pending.find((x) => x.cid === cid);
    if (p && p.state === 'failed') {
      p.state = 'queued';
      this.emit('messages', { key: p.key });
      this.flushPending();
    }
  }

  discard(cid) {
    this.unpend(cid);
  }

  savePending() {
    if (this.me) storage.savePending(this.me.id, this.pending, this.done);
  }

  saveUnread() {
    if (!this.me) return;
    const counts = {};
    for (const c of this.convs.values()) if (c.unread > 0) counts[c.key] = c.unread;
    storage.saveUnread(this.me.id, counts);
  }

  get totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) {
      if (c.unread > 0 && this.exists(c.key)) n += c.unread;
    }
    return n;
  }

  /** Whether the user still has this conversation (a friend, a group). */
  exists(key) {
    const { kind, id } = splitKey(key);
    return kind === 'u' ? this.friends.has(id) : this.groups.has(id);
  }

  markRead(key) {
    const c = this.convs.get(key);
    if (c && c.unread) {
      c.unread = 0;
      this.saveUnread();
      this.emit('lists');
    }
  }

  /** The UI shows conversation `key` (or none). */
  open(key) {
    this.openKey = key;
    if (!key) return;
    this.markRead(key);
    this.refreshOpen();
  }

  refreshOpen() {
    const key = this.openKey;
    if (!key || !this.loggedIn) return;
    const c = this.conv(key);
    if (!c.fresh) this.loadLatest(c).catch((e) => this.notice(plain(e), { error: true }));
    if (c.kind === 'g' && this.groups.has(c.id) && !this.members.has(c.id)) {
      this.loadMembers(c.id).catch(() => {});
    }
  }

  async loadLatest(c) {
    if (c.loading || !this.exists(c.key)) return;
    c.loading = true;
    try {
      const r = await this.request('history', { ...this.target(c), limit: PAGE });
      for (const m of r.messages) if (!this.seen.has(m.id)) this.add(c, m);
      c.fresh = true;
      if (r.messages.length < PAGE) c.complete = true;
      for (const m of r.messages) if (m.cid && m.from === this.me.id) this.unpend(m.cid);
    } finally {
      c.loading = false;
      c.version++;
      this.emit('messages', { key: c.key });
    }
  }

  /** Loads the page of history before the oldest message held. */
  async loadOlder(key) {
    const c = this.conv(key);
    if (c.loading || c.complete || !this.loggedIn || !this.exists(key)) return;
    if (!c.fresh) return this.loadLatest(c);
    const before = c.oldestId;
    if (before === null) return this.loadLatest(c);
    c.loading = true;
    this.emit('messages', { key });
    try {
      const r = await this.request('history', { ...this.target(c), before, limit: PAGE });
      for (const m of r.messages) if (!this.seen.has(m.id)) this.add(c, m);
      if (r.messages.length < PAGE) c.complete = true;
    } finally {
      c.loading = false;
      c.version++;
      this.emit('messages', { key, older: true });
    }
  }

  target(c) {
    return c.kind === 'u' ? { with: c.id } : { group: c.id };
  }

  // ---- friends ---------------------------------------------------------------

  async sync() {
    const r = await this.request('sync', {});
    this.applyLists(r);
    this.emit('lists');
  }

  /** Sends a friend request (or accepts theirs). Returns the reply. */
  async addFriend(uid) {
    const r = await this.request('add_friend', { user: uid });
    if (r.status === 'friends' && r.friend) {
      this.friends.set(r.friend.id, r.friend);
      this.names.set(r.friend.id, r.friend.name);
      this.requestsIn.delete(r.friend.id);
    }
    await this.sync().catch(() => {});
    return r;
  }

  async acceptFriend(uid) {
    const r = await this.request('accept_friend', { user: uid });
    this.friends.set(r.friend.id, r.friend);
    this.names.set(r.friend.id, r.friend.name);
    this.requestsIn.delete(uid);
    this.emit('lists');
    return r.friend;
  }

  async friendOp(op, uid) {
    await this.request(op, { user: uid });
    await this.sync().catch(() => {});
  }

  // ---- groups ----------------------------------------------------------------

  async createGroup(name, desc, visibility) {
    const r = await this.request('create_group', { name, desc, visibility });
    this.groups.set(r.group.id, r.group);
    this.emit('lists');
    return r.group;
  }

  async joinGroup(gid) {
    const r = await this.request('join_group', { group: gid });
    this.groups.set(r.group.id, r.group);
    this.invites.delete(gid);
    this.conv(convKey('g', gid)).fresh = false;
    this.emit('lists');
    return r.group;
  }

  async declineInvite(gid) {
    await this.request('decline_invite', { group: gid });
    this.invites.delete(gid);
    this.emit('lists');
  }

  /** Lists a group's members (once at a time per group). */
  async loadMembers(gid) {
    this.membersLoading = this.membersLoading || new Set();
    if (this.membersLoading.has(gid)) return;
    this.membersLoading.add(gid);
    let r;
    try {
      r = await this.request('group_members', { group: gid });
    } finally {
      this.membersLoading.delete(gid);
    }
    this.members.set(gid, new Map(r.members.map((m) => [m.id, m])));
    for (const m of r.members) this.names.set(m.id, m.name);
    this.emit('members');
    this.emit('messages', { key: convKey('g', gid) });
  }

  /** An op on a group member (invite, kick, set_role, transfer_group). */
  async memberOp(op, gid, uid, extra = {}) {
    await this.request(op, { group: gid, user: uid, ...extra });
    if (op === 'transfer_group' || op === 'set_role') await this.sync().catch(() => {});
    await this.loadMembers(gid).catch(() => {});
  }

  async updateGroup(gid, fields) {
    const r = await this.request('update_group', { group: gid, ...fields });
    const old = this.groups.get(gid);
    this.groups.set(gid, { ...r.group, role: r.group.role || (old && old.role) });
    this.emit('lists');
  }

  async leaveGroup(op, gid) {
    await this.request(op, { group: gid });
    this.dropGroup(gid);
    this.emit('lists');
  }
}
