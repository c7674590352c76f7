// A chatserver process for the tests: its own SQLite file, fixed free
// loopback ports (so that a restart keeps them), cheap password hashing.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDevServer } from './devserver.mjs';

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class ChatServer {
  /**
   * @param {string} bin the chatserver binary
   * @param {string} dir a fresh directory for the database and the log
   */
  constructor(bin, dir, { fromDisk = false, args = [] } = {}) {
    this.bin = bin;
    this.dir = dir;
    this.fromDisk = fromDisk;
    /** More command-line arguments (TLS, say). */
    this.extraArgs = args;
    this.proc = null;
    this.starts = 0;
  }

  async start() {
    if (!this.tcpPort) {
      this.tcpPort = await freePort();
      this.webPort = await freePort();
    }
    this.starts++;
    const log = fs.openSync(path.join(this.dir, `server-${this.starts}.log`), 'w');
    const args = [
      '127.0.0.1', String(this.tcpPort),
      '--web', `127.0.0.1:${this.webPort}`,
      '--db', `sqlite://${path.join(this.dir, 'chat.db')}`,
      '--argon2-memory-kib', '1024', '--argon2-passes', '1',
      '--shutdown-grace', '2',
      ...this.extraArgs,
    ];
    const proc = spawn(this.bin, args, { stdio: ['ignore', log, 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    let stderr = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chatserver did not start in 20 s: ${stderr}`)), 20000);
      proc.stderr.on('data', (d) => {
        stderr += d;
        fs.appendFileSync(path.join(this.dir, `server-${this.starts}.log`), d);
        const m = /web client: (\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`chatserver exited (${code}) at start: ${stderr}`));
      });
    });
    this.serverUrl = url;
    if (this.fromDisk && !this.dev) {
      this.devPort = await freePort();
      this.dev = await startDevServer(this.devPort, this.webPort);
    }
    /** Where pages come from: the server itself, or the dev server. */
    this.pagePort = this.fromDisk ? this.devPort : this.webPort;
    this.url = this.fromDisk ? `http://127.0.0.1:${this.devPort}/` : url;
    return this;
  }

  /** SIGKILL: a crash, nothing flushed beyond what was committed. */
  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  /** SIGTERM, the clean way; SIGKILL after 10 s. */
  async stop() {
    if (!this.proc) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc && this.proc.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
    this.proc = null;
  }

  async close() {
    await this.stop();
    if (this.dev) {
      this.dev.closeAllConnections?.();
      this.dev.close();
      this.dev = null;
    }
  }
}
