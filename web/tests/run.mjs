// Runs the browser tests: starts a chatserver (the binary given as the
// first argument, or $CHAT_SERVER), launches Chromium, runs every test of
// *.test.mjs in order, and exits non-zero when one fails. Screenshots go
// to $WEB_SHOTS (default target/web-shots at the repository root).
//
//   node web/tests/run.mjs path/to/chatserver [name filter]
//
// WEB_FROM_DISK=1 serves web/ from disk instead of the binary's embedded
// copy (for working on the client without rebuilding the server);
// WEB_KEEP_LOGS=1 keeps the servers' logs after a run that passed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tests, withTimeout } from './lib/harness.mjs';
import { launch } from './lib/browser.mjs';
import { ChatServer } from './lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const bin = path.resolve(process.argv[2] || process.env.CHAT_SERVER || '');
const filter = process.argv[3] || '';
if (!process.argv[2] && !process.env.CHAT_SERVER) {
  console.error('usage: node web/tests/run.mjs path/to/chatserver [filter]');
  process.exit(2);
}
if (!fs.existsSync(bin)) {
  console.error(`no chatserver binary at ${bin}`);
  process.exit(2);
}
const shots = path.resolve(root, process.env.WEB_SHOTS || 'target/web-shots');
fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.startsWith('FAIL-')) fs.rmSync(path.join(shots, f));
const fromDisk = process.env.WEB_FROM_DISK === '1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-web-tests-'));

for (const f of fs.readdirSync(here).filter((n) => n.endsWith('.test.mjs')).sort()) {
  await import(path.join(here, f));
}

const started = Date.now();
const servers = [];
/** A chatserver of its own for a test (restarts, say), in its own directory. */
async function newServer({ args = [], pagesFromDisk = fromDisk } = {}) {
  const dir = fs.mkdtempSync(path.join(work, 'server-'));
  const s = new ChatServer(bin, dir, { fromDisk: pagesFromDisk, args });
  servers.push(s);
  return s.start();
}

const shared = await newServer();
console.log(`chatserver: ${shared.serverUrl} (TCP ${shared.tcpPort})${fromDisk ? `, pages from disk at ${shared.url}` : ''}`);
const browser = await launch();
console.log(`chromium ${browser.version()}`);

const failures = [];
let ran = 0;
for (const t of tests) {
  if (filter && !t.name.includes(filter)) continue;
  ran++;
  const pages = [];
  const ctx = {
    browser,
    /** A fresh directory for the test's files. */
    tmpdir: () => fs.mkdtempSync(path.join(work, 'tmp-')),
    server: shared,
    newServer,
    /** Remembers a page so that it is closed (and shot on failure) after the test. */
    track(p) {
      pages.push(p);
      return p;
    },
    /** Saves a screenshot of `p` as NAME.png in the shots folder. */
    async shot(p, name, opts = {}) {
      // Without the passing notices, which would hide part of the page.
      await p.page.evaluate(() => document.querySelectorAll('.toast').forEach((el) => el.remove()));
      await p.page.screenshot({ path: path.join(shots, `${name}.png`), ...opts });
    },
  };
  const t0 = Date.now();
  try {
    await withTimeout(t.fn(ctx), t.timeoutMs, `test "${t.name}"`);
    console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures.push(t.name);
    console.log(`FAIL ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n     ${String(e && e.stack || e).split('\n').join('\n     ')}`);
    let i = 0;
    for (const p of pages) {
      const name = `FAIL-${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}-${i++}-${p.label}.png`;
      await p.page.screenshot({ path: path.join(shots, name) }).catch(() => {});
      if (p.errors.length) console.log(`     ${p.label} console: ${p.errors.join(' | ')}`);
    }
  }
  for (const p of pages) await p.context.close().catch(() => {});
}

await browser.close();
for (const s of servers) await s.close();
const secs = ((Date.now() - started) / 1000).toFixed(1);
if (!ran) {
  console.log(`no test matches "${filter}"`);
  process.exit(1);
}
if (failures.length) {
  console.log(`\n${failures.length} of ${ran} browser tests failed in ${secs} s (server logs under ${work}):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
if (process.env.WEB_KEEP_LOGS === '1') console.log(`server logs kept under ${work}`);
else fs.rmSync(work, { recursive: true, force: true });
console.log(`\nall ${ran} browser tests passed in ${secs} s; screenshots in ${shots}`);
