// Debian's Chromium driven by playwright-core, and what a test does with a
// page: register a user, befriend, open a conversation, read messages.

import { chromium } from 'playwright-core';
import { assert, eventually } from './harness.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Launches Chromium. playwright gives each launch a fresh temporary profile
 * directory (and each context below its own storage), removed at close.
 */
export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30000 });
}

/** Console messages that are expected and harmless. */
const EXPECTED_CONSOLE = [
  /WebSocket connection to .* failed/,
  /Failed to load resource: net::ERR_CONNECTION_REFUSED/,
  /Password forms should have/,
];

/**
 * A browser page of its own (own storage: its own user). Records console
 * errors, uncaught exceptions and dialogs (alert, confirm: the client never
 * opens one, so any is a failure).
 */
export async function openPage(browser, url, { width = 1100, height = 720, label = 'page' } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const p = { context, page, label, errors: [], dialogs: [] };
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warning') && !EXPECTED_CONSOLE.some((r) => r.test(m.text()))) {
      p.errors.push(`${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => p.errors.push(`uncaught: ${e.message}`));
  page.on('dialog', (d) => {
    p.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  return p;
}

/** Registers `name` in the page (logged in after). Returns the new id. */
export async function register(p, name, password = 'secret12') {
  const { page } = p;
  await page.click('#tab-register');
  await page.fill('#register-name', name);
  await page.fill('#register-password', password);
  await page.fill('#register-password2', password);
  await page.click('#register-form button[type=submit]');
  await page.waitForSelector('#welcome-dialog[open]', { timeout: 10000 });
  const id = Number(await page.textContent('#welcome-id'));
  assert(Number.isSafeInteger(id) && id > 0, `the welcome dialog shows an id (${id})`);
  await page.click('#welcome-ok');
  await page.waitForSelector('#app:not([hidden])');
  p.id = id;
  p.name = name;
  p.password = password;
  return id;
}

/** A new page with a newly registered user. */
export async function newUser(browser, url, name, opts = {}) {
  const p = await openPage(browser, url, { ...opts, label: name });
  await register(p, name);
  return p;
}

export async function showTab(p, tab) {
  await p.page.click(`#tab-${tab}`);
  await p.page.waitForSelector(`#panel-${tab}:not([hidden])`);
}

/** Sends a friend request from the page to `id`. */
export async function requestFriend(p, id) {
  await showTab(p, 'people');
  await p.page.fill('#add-friend-id', String(id));
  await p.page.click('#panel-people form[aria-label="Add a friend"] button[type=submit]');
}

export async function openConversation(p, hash) {
  await p.page.evaluate((h) => { location.hash = h; }, hash);
  await p.page.waitForSelector('#scroller');
}

/** Types and sends a message in the open conversation. */
export async function say(p, text) {
  await p.page.fill('#composer-text', text);
  await p.page.press('#composer-text', 'Enter');
}

/** The messages shown in the open conversation: {text, mine, state, id}. */
export function shownMessages(p) {
  return p.page.$$eval('#messages .msg', (els) => els.map((el) => ({
    text: el.querySelector('.text').textContent,
    mine: el.classList.contains('mine'),
    state: el.dataset.state,
    id: el.dataset.id ? Number(el.dataset.id) : null,
  })));
}

/** Waits until the open conversation shows `text` (sent, when `sent`). */
export async function waitForText(p, text, { timeoutMs = 10000, sent = false } = {}) {
  return eventually(async () => {
    const ms = await shownMessages(p);
    return ms.find((m) => m.text === text && (!sent || m.state === 'sent'));
  }, { timeoutMs, what: `"${text}" in ${p.label}'s conversation` });
}

/** No uncaught errors, unexpected console errors or dialogs on the page. */
export function assertClean(p) {
  assert(!p.errors.length, `${p.label}: console errors: ${p.errors.join(' | ')}`);
  assert(!p.dialogs.length, `${p.label}: dialogs opened: ${p.dialogs.join(' | ')}`);
}
