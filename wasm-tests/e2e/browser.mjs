#!/usr/bin/env node
// Drives headless Debian Chromium (playwright-core) through a list of steps in
// ONE fresh browser context and prints one JSON result to stdout.
//
//   node browser.mjs STEPS_JSON_FILE
//
// STEPS_JSON_FILE: {"steps": [...], "extra_args": [...]?, "ignore_https_errors": bool?}
// Output: {"results": [one entry per executed step]}. A failing step yields
// {"error": "..."} and stops the run; the exit code is still 0. See README.md.

import { readFileSync } from 'node:fs';
import process from 'node:process';

import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 20_000;
const TEXT_LIMIT = 4000;
const QUIET_MS = 300;

const BASE_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

function emit(obj, code = 0) {
  process.stdout.write(`${JSON.stringify(obj)}\n`, () => process.exit(code));
}

if (process.argv.length !== 3) {
  process.stderr.write('usage: node browser.mjs STEPS_JSON_FILE\n');
  process.exit(2);
}

// ---- navigation tracking -------------------------------------------------
// A main-frame navigation may chain (redirects, self-submitting forms). We
// consider the page settled once no main-frame navigation request is in
// flight, the document is fully loaded, and nothing happened for QUIET_MS.
let lastNavEvent = Date.now();
const pendingNav = new Set();
let lastFailedNav = null; // {url, error} of the last main-frame navigation that failed

function track(page) {
  const isMainNav = (req) => req.isNavigationRequest() && req.frame() === page.mainFrame();
  page.on('request', (req) => {
    if (isMainNav(req)) { pendingNav.add(req); lastNavEvent = Date.now(); lastFailedNav = null; }
  });
  const done = (req) => {
    if (pendingNav.delete(req)) lastNavEvent = Date.now();
  };
  page.on('requestfinished', done);
  page.on('requestfailed', (req) => {
    if (isMainNav(req)) lastFailedNav = { url: req.url(), error: req.failure()?.errorText ?? 'failed' };
    done(req);
  });
  page.on('response', (resp) => done(resp.request()));
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) lastNavEvent = Date.now();
  });
}

async function settle(page, deadline) {
  while (Date.now() < deadline) {
    let complete = false;
    try {
      complete = (await page.evaluate(() => document.readyState)) === 'complete';
    } catch {
      complete = false; // context destroyed mid-navigation
    }
    if (complete && pendingNav.size === 0 && Date.now() - lastNavEvent >= QUIET_MS) return;
    await sleep(50);
  }
  throw new Error('timed out waiting for navigation to settle');
}

async function snapshot(page, fallbackStatus) {
  const info = await page.evaluate((limit) => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      status: nav && nav.responseStatus ? nav.responseStatus : null,
      text: (document.body ? document.body.innerText : '').slice(0, limit),
    };
  }, TEXT_LIMIT);
  const url = page.url();
  if (url.startsWith('chrome-error://') && lastFailedNav) {
    // Chromium's error page: report the URL it failed to load instead.
    return {
      status: null, url: lastFailedNav.url, text: info.text, net_error: lastFailedNav.error,
    };
  }
  return {
    status: info.status ?? fallbackStatus ?? null,
    url,
    text: info.text,
  };
}

// ---- steps -------------------------------------------------------------------
async function stepGoto(ctx, url, deadline) {
  const resp = await ctx.page.goto(url, { waitUntil: 'load', timeout: deadline - Date.now() });
  await settle(ctx.page, deadline);
  return snapshot(ctx.page, resp ? resp.status() : null);
}

async function submitAndSettle(page, locator, deadline) {
  await locator.click({ timeout: Math.max(1, deadline - Date.now()) });
  await sleep(50);
  await settle(page, deadline);
}

async function stepLogin(ctx, { user, password = 'x' }, deadline) {
  const { page } = ctx;
  if (typeof user !== 'string') throw new Error('login.user must be a string');
  await settle(page, deadline);
  const form = page.locator('form:has(input[name="login"])').first();
  try {
    await form.waitFor({ state: 'visible', timeout: Math.max(1, Math.min(5000, deadline - Date.now())) });
  } catch {
    throw new Error(`no login form on ${page.url()}`);
  }
  await form.locator('input[name="login"]').fill(user);
  await form.locator('input[name="password"]').fill(String(password));
  await submitAndSettle(page, form.locator('[type="submit"]').first(), deadline);

  // oidc-provider's dev interactions may show a consent ("Continue") page.
  for (let i = 0; i < 3; i += 1) {
    const consent = page.locator('form:has(input[name="prompt"][value="consent"]) [type="submit"]');
    if (await consent.count() === 0) break;
    await submitAndSettle(page, consent.first(), deadline);
  }
  return snapshot(page, null);
}

async function stepFetch(ctx, opts) {
  const req = typeof opts === 'string' ? { url: opts } : opts;
  if (!req || typeof req.url !== 'string') throw new Error('fetch.url must be a string');
  return ctx.page.evaluate(async ({ url, method, headers, body, redirect, limit }) => {
    const r = await fetch(url, {
      method: method || 'GET',
      headers: headers || {},
      body: body === undefined ? undefined : body,
      redirect: redirect || 'follow',
      credentials: 'include',
    });
    const text = await r.text();
    return {
      status: r.status,
      body: text.slice(0, limit),
      headers: Object.fromEntries(r.headers.entries()),
      url: r.url,
      redirected: r.redirected,
    };
  }, { ...req, limit: TEXT_LIMIT });
}

async function runStep(ctx, step, deadline) {
  const keys = Object.keys(step ?? {});
  if (keys.length !== 1) throw new Error(`a step must have exactly one key, got ${JSON.stringify(keys)}`);
  const [kind] = keys;
  const arg = step[kind];
  switch (kind) {
    case 'goto':
      return stepGoto(ctx, arg, deadline);
    case 'login':
      return stepLogin(ctx, arg ?? {}, deadline);
    case 'fetch':
      return stepFetch(ctx, arg);
    case 'cookies':
      return { cookies: await ctx.context.cookies() };
    case 'add_cookies':
      await ctx.context.addCookies(arg);
      return { ok: true };
    case 'clear_cookies':
      await ctx.context.clearCookies();
      return { ok: true };
    case 'screenshot': {
      // What a person would see now: the page as rendered, written as PNG to arg.path.
      if (!arg || typeof arg.path !== 'string') throw new Error('screenshot.path must be a string');
      await settle(ctx.page, deadline);
      await ctx.page.screenshot({ path: arg.path });
      return { path: arg.path, url: ctx.page.url(), title: await ctx.page.title(),
               text: (await ctx.page.locator('body').innerText()).slice(0, TEXT_LIMIT) };
    }
    case 'wait':
      await sleep(Math.min(Number(arg) || 0, STEP_TIMEOUT_MS - 100));
      return { ok: true };
    default:
      throw new Error(`unknown step ${JSON.stringify(kind)}`);
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  let spec;
  try {
    spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
    if (!Array.isArray(spec.steps)) throw new Error('"steps" must be an array');
  } catch (err) {
    emit({ results: [], error: `bad steps file: ${err.message}` }, 2);
    return;
  }

  const results = [];
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [...BASE_ARGS, ...(spec.extra_args ?? [])],
      timeout: 30_000,
    });
  } catch (err) {
    emit({ results, error: `browser launch failed: ${err.message}` }, 2);
    return;
  }

  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: Boolean(spec.ignore_https_errors) });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    track(page);
    const ctx = { browser, context, page };

    for (const step of spec.steps) {
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      try {
        results.push(await withTimeout(runStep(ctx, step, deadline), STEP_TIMEOUT_MS));
      } catch (err) {
        results.push({ error: String(err?.message ?? err).split('\n')[0] });
        break;
      }
    }
  } catch (err) {
    results.push({ error: `context setup failed: ${err.message}` });
  }
  await withTimeout(browser.close(), 5000).catch(() => {});
  emit({ results });
}

await main();
