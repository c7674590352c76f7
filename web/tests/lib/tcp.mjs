// A raw TCP user: newline-delimited JSON to the server's TCP port, as any
// third-party client would speak it.

import net from 'node:net';

export class TcpUser {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => resolve(new TcpUser(sock)));
      sock.once('error', reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.nextId = 1;
    this.waiting = new Map();
    /** Every event received, in order. */
    this.events = [];
    this.eventWaiters = [];
    this.closed = false;
    this.autoAck = true;
    sock.setEncoding('utf8');
    sock.on('data', (d) => this.onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(new Error('connection closed'));
      this.waiting.clear();
    });
  }

  onData(d) {
    this.buf += d;
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (!line.trim()) continue;
      const f = JSON.parse(line);
      if ('re' in f) {
        const w = this.waiting.get(f.re);
        if (w) {
          this.waiting.delete(f.re);
          w.resolve(f);
        }
      } else {
        // A well-behaved client acks what it got, so a later login does
        // not replay it.
        if (f.ev === 'msg' && this.autoAck) this.call('ack', { ids: [f.msg.id] }).catch(() => {});
        this.events.push(f);
        for (const w of [...this.eventWaiters]) w();
      }
    }
  }

  /** Sends a request; resolves with the raw reply (ok or not). */
  call(op, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.sock.write(`${JSON.stringify({ ...fields, op, id })}\n`);
    });
  }

  /** Sends a request; resolves with the reply, throws when it is an error. */
  async req(op, fields = {}) {
    const r = await this.call(op, fields);
    if (!r.ok) throw new Error(`${op} failed: ${r.code} ${r.error}`);
    return r;
  }

  /** Waits for an event matching `pred` (already received or to come). */
  waitEvent(pred, timeoutMs = 10000, what = 'event') {
    const found = () => this.events.find(pred);
    return new Promise((resolve, reject) => {
      const hit = found();
      if (hit) {
        resolve(hit);
        return;
      }
      const check = () => {
        const e = found();
        if (e) {
          done();
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`TCP user: no ${what} in ${timeoutMs} ms; events: ${JSON.stringify(this.events).slice(-800)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.eventWaiters = this.eventWaiters.filter((w) => w !== check);
      };
      this.eventWaiters.push(check);
    });
  }

  /** The texts of the `msg` events received so far, in order. */
  texts(pred = () => true) {
    return this.events.filter((e) => e.ev === 'msg' && pred(e.msg)).map((e) => e.msg.text);
  }

  close() {
    this.sock.destroy();
  }
}

/** Registers and logs in a TCP user. Returns {tcp, id, token}. */
export async function tcpUser(port, name, password = 'secret12') {
  const tcp = await TcpUser.connect(port);
  const reg = await tcp.req('register', { name, password });
  const login = await tcp.req('login', { user: reg.user.id, password });
  tcp.id = reg.user.id;
  tcp.token = login.token;
  tcp.password = password;
  return tcp;
}
