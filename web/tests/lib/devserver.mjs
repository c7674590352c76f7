// For working on the client without rebuilding the server: serves the
// files of web/ from disk with the headers the server sends (the same CSP),
// and pipes WebSocket upgrades at /ws to a running chatserver's web port
// unchanged (its Host and Origin stay this server's, which the chatserver's
// origin check accepts as the page's own origin).
//
//   node web/tests/lib/devserver.mjs PORT CHATSERVER_WEB_PORT
//
// The test runner uses it when WEB_FROM_DISK=1.

import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
  + "style-src 'self'; script-src 'self'; frame-ancestors 'none'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** Starts the dev server on `port`, proxying /ws to `upstreamPort`. */
export function startDevServer(port, upstreamPort) {
  const server = http.createServer((req, res) => {
    let p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (p === '/') p = '/index.html';
    const file = path.join(WEB, p);
    const rel = path.relative(WEB, file);
    if (rel.startsWith('..') || rel.split(path.sep)[0] === 'tests' || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': CSP,
    });
    fs.createReadStream(file).pipe(res);
  });
  server.on('upgrade', (req, socket, head) => {
    const up = net.connect(upstreamPort, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head && head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    const end = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', end);
    socket.on('error', end);
    up.on('close', end);
    socket.on('close', end);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, upstream] = process.argv.slice(2).map(Number);
  await startDevServer(port, upstream);
  console.log(`dev server: http://127.0.0.1:${port}/ (WebSocket to 127.0.0.1:${upstream})`);
}
