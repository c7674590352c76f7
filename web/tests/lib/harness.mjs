// A very small test runner: named async tests, run one after another, each
// with a time limit; failures are collected, never thrown past the run.

export const tests = [];

/** Registers a test. `fn` gets a context (see run.mjs). */
export function test(name, fn, { timeoutMs = 60000 } = {}) {
  tests.push({ name, fn, timeoutMs });
}

export class AssertionError extends Error {}

export function assert(cond, message) {
  if (!cond) throw new AssertionError(message || 'assertion failed');
}

export function assertEqual(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${message || 'not equal'}:\n  expected ${e}\n  actual   ${a}`);
}

/** Polls `fn` until it returns something truthy (returned), or fails. */
export async function eventually(fn, { timeoutMs = 10000, what = 'condition', everyMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new AssertionError(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
