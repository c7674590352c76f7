// A TCP proxy in front of the server's web port, to play a bad network:
// pages load through it (its Host and Origin are consistent, so the
// server's origin check passes), and a test can cut every connection at
// once or silently swallow what the server sends on the open ones.

import net from 'node:net';

export class FlakyProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    /** Open connection pairs: {client, server, mute}. */
    this.pairs = new Set();
    this.server = net.createServer((client) => this.onClient(client));
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      this.url = `http://127.0.0.1:${this.port}/`;
      resolve(this);
    }));
  }

  onClient(client) {
    const server = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, server, mute: false };
    this.pairs.add(pair);
    client.on('data', (d) => server.write(d));
    server.on('data', (d) => {
      if (!pair.mute) client.write(d);
    });
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const s of [client, server]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /** From now on, nothing the server sends on the open connections arrives. */
  muteReplies() {
    for (const p of this.pairs) p.mute = true;
  }

  /** Cuts every open connection (new ones go through). */
  cutAll() {
    for (const p of this.pairs) {
      p.client.resetAndDestroy?.() ?? p.client.destroy();
      p.server.destroy();
    }
    this.pairs.clear();
  }

  close() {
    this.cutAll();
    this.server.close();
  }
}
