// Errors in plain words. The server's `code` is the stable part of an
// error; its `error` text is written for developers, so it is shown only
// when no better sentence is known.

/** A failed request: the server's code and text, or a local one. */
export class RequestError extends Error {
  constructor(code, text, extra = {}) {
    super(text || code);
    this.code = code;
    Object.assign(this, extra);
  }

  /** Whether trying again later may work (nothing was changed). */
  get transient() {
    return ['offline', 'disconnected', 'timeout', 'unavailable', 'rate_limited', 'internal'].includes(this.code);
  }
}

const WORDS = {
  offline: 'You are offline. It will be done when the connection is back.',
  disconnected: 'The connection was lost before the server answered.',
  timeout: 'The server did not answer in time.',
  unavailable: 'The server is busy or partly down. Try again in a moment.',
  internal: 'Something went wrong on the server. Try again in a moment.',
  bad_credentials: 'That user id and password do not match.',
  already_logged_in: 'You are already logged in.',
  no_such_user: 'There is no user with that id.',
  no_such_group: 'There is no group with that id (or it is private and you are not invited).',
  already_friends: 'You are already friends.',
  not_friend: 'You are not friends with this person (anymore).',
  already_member: 'You are already a member of that group.',
  not_member: 'Not a member of this group.',
  forbidden: 'You are not allowed to do that in this group.',
  no_such_request: 'That request or invite no longer exists.',
  not_logged_in: 'You are not logged in.',
  frame_too_large: 'That is too long to send.',
  bad_json: 'The server did not understand the request.',
  unknown_op: 'The server does not know this action (is it an older version?).',
};

/** A sentence for the user about `err` (a RequestError or anything thrown). */
export function plain(err, context = {}) {
  if (!(err instanceof RequestError)) return `Something went wrong: ${err && err.message ? err.message : err}`;
  if (err.code === 'rate_limited') {
    if (err.retry_after) {
      const s = Number(err.retry_after);
      const when = s >= 90 ? `${Math.ceil(s / 60)} minutes` : `${s} seconds`;
      return `Too many failed attempts. Try again in ${when}.`;
    }
    return 'Too many requests. Slow down and try again in a moment.';
  }
  if (err.code === 'bad_credentials' && context.password) return 'That password is not right.';
  if (err.code === 'bad_request') return fieldWords(err.message);
  return WORDS[err.code] || err.message || err.code;
}

/** `bad_request` names the field; say what the field needs. */
function fieldWords(text) {
  const t = String(text || '');
  if (/password|\bnew\b|\bold\b/.test(t)) return 'A password must be 6 to 128 bytes long.';
  if (/yourself|self/.test(t)) return 'You cannot do that to yourself.';
  if (/text/.test(t)) return 'A message must have 1 to 4096 bytes of text, not only spaces.';
  if (/desc/.test(t)) return 'A description can be at most 256 characters.';
  if (/name/.test(t)) return 'A name must have 1 to 32 characters (64 for a group), without control characters.';
  if (/user|group|to\b|with/.test(t)) return 'That is not a valid id: ids are whole numbers.';
  return `The server refused the request: ${t}`;
}
