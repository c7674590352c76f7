// With a certificate the page comes over HTTPS and the client connects
// over WSS by itself (pages always come from the server's embedded copy
// here: the dev server speaks no TLS).

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test, assert, assertEqual } from './lib/harness.mjs';
import { register, assertClean } from './lib/browser.mjs';

test('over HTTPS the client uses WSS', async (t) => {
  const dir = t.tmpdir();
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const server = await t.newServer({ args: ['--tls-cert', cert, '--tls-key', key], pagesFromDisk: false });
  assert(server.url.startsWith('https://'), `the server says https (${server.url})`);
  // A self-signed certificate: this context trusts it.
  const context = await t.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const p = t.track({ context, page, label: 'tls', errors: [], dialogs: [] });
  page.on('pageerror', (e) => p.errors.push(e.message));
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(server.url);
  await register(p, 'Tess');
  await page.waitForSelector('#conn-dot.online');
  assertEqual(sockets.map((u) => new URL(u).protocol), ['wss:'], 'one WebSocket, over TLS');
  assertClean(p);
});
