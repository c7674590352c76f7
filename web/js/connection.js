// The WebSocket to the server (`/ws` beside the page). Each text message is
// one JSON frame. Requests get an `id` and their promise settles with the
// reply whose `re` matches; events go out as 'frame' events. While started,
// the connection comes back by itself after any loss, waiting a random time
// between 0 and min(30 s, 1 s x 2^n) before the n-th try (full jitter), so
// that thousands of pages do not all knock at once after a restart.
//
// It knows nothing of logins: the client listens for 'open' and logs in.

import { RequestError } from './errors.js';

export const HEARTBEAT_SECONDS = 20;

export class Connection extends EventTarget {
  /**
   * @param {string} url ws:// or wss:// address
   * @param {object} opts timings (tests may shorten them)
   */
  constructor(url, opts = {}) {
    super();
    this.url = url;
    this.pingEveryMs = opts.pingEveryMs ?? HEARTBEAT_SECONDS * 1000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15000;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 30000;
    /** 'idle' (not started), 'connecting', 'open', 'waiting' (to retry). */
    this.state = 'idle';
    /** Failed tries since the last healthy connection: the n of the backoff. */
    this.attempt = 0;
    /** When the next try starts (ms since the epoch), while 'waiting'. */
    this.retryAt = 0;
    this.socket = null;
    this.nextId = 1;
    /** Requests in flight: id -> {resolve, reject, timer, op}. */
    this.inflight = new Map();
    this.retryTimer = null;
    this.pingTimer = null;
    this.started = false;
    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
  }

  /** Connects, and keeps reconnecting until stop(). */
  start() {
    if (this.started) return;
    this.started = true;
    this.open();
  }

  stop() {
    this.started = false;
    clearTimeout(this.retryTimer);
    this.drop('stopped', false);
    this.setState('idle');
  }

  /** Skips the rest of the wait, when waiting to retry. */
  reconnectNow() {
    if (this.started && this.state === 'waiting') {
      clearTimeout(this.retryTimer);
      this.open();
    }
  }

  /**
   * Resolves once the socket is open, trying at once if it is waiting to
   * retry (someone is pressing a button); rejects with `offline` after
   * `timeoutMs`.
   */
  whenOpen(timeoutMs = 5000) {
    if (this.isOpen) return Promise.resolve();
    this.reconnectNow();
    return new Promise((resolve, reject) => {
      const onOpen = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.removeEventListener('open', onOpen);
        reject(new RequestError('offline', 'not connected'));
      }, timeoutMs);
      this.addEventListener('open', onOpen, { once: true });
    });
  }

  /** The login went through: the next loss starts the backoff from 1 s again. */
  markHealthy() {
    this.attempt = 0;
  }

  get isOpen() {
    return this.state === 'open';
  }

  /**
   * Sends a request. Resolves with the reply (without `re` and `ok`) or
   * rejects with a RequestError: the server's code, or `offline`,
   * `disconnected`, `timeout` when the reply cannot come.
   */
  request(op, fields = {}, { timeoutMs } = {}) {
    if (!this.isOpen) return Promise.reject(new RequestError('offline', 'not connected'));
    const id = this.nextId++;
    const frame = JSON.stringify({ ...fields, op, id });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A reply that does not come means a dead connection: replies are
        // answered in order, so nothing after it would come either.
        this.inflight.delete(id);
        reject(new RequestError('timeout', `no reply to ${op}`));
        this.drop('no reply', true);
      }, timeoutMs ?? this.requestTimeoutMs);
      this.inflight.set(id, { resolve, reject, timer, op });
      try {
        this.socket.send(frame);
      } catch (e) {
        clearTimeout(timer);
        this.inflight.delete(id);
        reject(new RequestError('disconnected', String(e)));
      }
    });
  }

  open() {
    if (!this.started) return;
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry(String(e));
      return;
    }
    this.socket = ws;
    ws.onopen = () => {
      if (this.socket !== ws) return;
      this.setState('open');
      this.pingTimer = setInterval(() => this.heartbeat(), this.pingEveryMs);
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (e) => {
      if (this.socket !== ws) return;
      this.onFrame(e.data);
    };
    ws.onclose = (e) => {
      if (this.socket !== ws) return;
      this.drop(e.reason || `closed (${e.code})`, true, e.code);
    };
    ws.onerror = () => {
      // A 'close' event always follows; it does the work.
    };
  }

  heartbeat() {
    if (!this.isOpen) return;
    this.request('ping').catch(() => {});
  }

  onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('unreadable frame from the server', data);
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    if ('re' in frame) {
      const waiting = frame.re === null ? undefined : this.inflight.get(frame.re);
      if (!waiting) {
        if (frame.ok === false) console.warn('server error without a request', frame);
        return;
      }
      this.inflight.delete(frame.re);
      clearTimeout(waiting.timer);
      if (frame.ok) {
        const { re, ok, ...body } = frame;
        waiting.resolve(body);
      } else {
        const { re, ok, code, error, ...extra } = frame;
        waiting.reject(new RequestError(code || 'internal', error, extra));
      }
      return;
    }
    if (typeof frame.ev === 'string') {
      this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    }
  }

  /**
   * Forgets the current socket (closing it when still open), fails what was
   * in flight, and schedules the next try when `retry`.
   */
  drop(reason, retry, code) {
    const ws = this.socket;
    this.socket = null;
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
    const failed = [...this.inflight.values()];
    this.inflight.clear();
    for (const r of failed) {
      clearTimeout(r.timer);
      r.reject(new RequestError('disconnected', reason));
    }
    const wasOpen = this.state === 'open';
    if (ws) this.dispatchEvent(new CustomEvent('close', { detail: { reason, code, wasOpen } }));
    if (retry) this.scheduleRetry(reason);
  }

  scheduleRetry(reason) {
    if (!this.started) return;
    clearTimeout(this.retryTimer);
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempt, 30));
    const delay = Math.random() * cap;
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.lastError = reason;
    this.setState('waiting');
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new Event('state'));
  }
}

/** The WebSocket address of the server that served this page. */
export function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}
