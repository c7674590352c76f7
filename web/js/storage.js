// What survives a reload, in localStorage: the session (user id, name and
// login token), the messages still waiting for the server's `ok` (resent
// with the same `cid`, so a retry is never a duplicate), and unread counts.
// A storage that refuses (private mode, quota) only costs that survival.

const SESSION = 'chat.session';

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    if (value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the page works on, a reload forgets */
  }
}

/** {user, name, token} or null. */
export function loadSession() {
  const s = read(SESSION, null);
  if (s && Number.isSafeInteger(s.user) && typeof s.token === 'string') return s;
  return null;
}

export function saveSession(s) {
  write(SESSION, s);
}

export function forgetSession() {
  write(SESSION, undefined);
}

export const SESSION_KEY = SESSION;

/** This page's mark on the pending messages it stores. */
const TAB = Math.random().toString(36).slice(2);

/**
 * Every unconfirmed message stored for `uid`, oldest first, whichever tab
 * wrote it: a page takes them all up (a tab that was closed leaves its
 * own behind). Two tabs sending the same one is harmless: same `cid`.
 */
export function loadPending(uid) {
  const list = read(`chat.pending.${uid}`, []);
  return Array.isArray(list)
    ? list.filter((p) => p && typeof p.cid === 'string' && typeof p.text === 'string' && typeof p.key === 'string')
      .sort((a, b) => a.t - b.t)
    : [];
}

/**
 * Stores this page's unconfirmed messages, keeping those of other tabs
 * except the ones this page saw confirmed or dropped (`done`, by cid).
 */
export function savePending(uid, list, done = new Set()) {
  const key = `chat.pending.${uid}`;
  const mine = new Set(list.map((p) => p.cid));
  const stored = read(key, []);
  const others = Array.isArray(stored)
    ? stored.filter((p) => p && p.tab !== TAB && !mine.has(p.cid) && !done.has(p.cid))
    : [];
  const all = [...others, ...list.map(({ cid, key: k, text, t }) => ({ cid, key: k, text, t, tab: TAB }))];
  write(key, all.length ? all : undefined);
}

export function loadUnread(uid) {
  const o = read(`chat.unread.${uid}`, {});
  return o && typeof o === 'object' ? o : {};
}

export function saveUnread(uid, counts) {
  write(`chat.unread.${uid}`, Object.keys(counts).length ? counts : undefined);
}

/** Forgets everything kept for this user (logout, deleted account). */
export function forgetUser(uid) {
  write(`chat.pending.${uid}`, undefined);
  write(`chat.unread.${uid}`, undefined);
}
