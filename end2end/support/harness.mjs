// Test support: a Gatehouse server on a fresh database, a headless Chromium with JavaScript on
// or off, and small helpers shared by the scenarios. Lives outside tests/ so `node --test` does
// not run it as a test file.

import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { access, constants, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach } from 'node:test';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BINARY = process.env.GATEHOUSE_BIN ?? path.join(ROOT, 'target/debug/gatehouse');
const SITE_ROOT = process.env.LEPTOS_SITE_ROOT ?? path.join(ROOT, 'target/site');
export const SCREENSHOT_DIR = path.join(ROOT, 'end2end/screenshots');

/** The two ways every scenario runs. */
export const MODES = [
  { name: 'js', js: true },
  { name: 'nojs', js: false },
];

export const ADMIN = { name: 'Ada Admin', email: 'ada@example.com', password: 'admin-password-123' };

/** Starts `gatehouse serve` on a free port and an empty database; resolves once /healthz is 200. */
export async function startServer(env = {}) {
  // The binary may be briefly absent while it is being rebuilt: wait for it rather than fail.
  await waitFor(120_000, () => access(BINARY, constants.X_OK).then(() => true));
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-e2e-'));
  const child = spawn(BINARY, ['serve', '--bind', '127.0.0.1:0'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${dir}/db.sqlite`,
      LEPTOS_SITE_ROOT: SITE_ROOT,
      GATEHOUSE_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let spawnError;
  child.stdout.on('data', (chunk) => (log += chunk));
  child.stderr.on('data', (chunk) => (log += chunk));
  child.once('error', (error) => (spawnError = error));
  const exited = new Promise((resolve) => child.once('close', resolve));
  // If the test process dies early (uncaught error, Ctrl-C), take the server down with it.
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!spawnError && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const url = await waitFor(30_000, async () => {
      if (spawnError) throw new Error(`could not start ${BINARY}: ${spawnError.message}`);
      if (child.exitCode !== null) throw new Error(`gatehouse exited with ${child.exitCode}:\n${log}`);
      const base = log.match(/running at (http:\/\/\S+)/)?.[1];
      if (!base) return undefined;
      const response = await fetch(`${base}/healthz`).catch(() => undefined);
      return response?.status === 200 ? base : undefined;
    });
    // A fresh instance prints the token that creating its first admin needs.
    const setupToken = () => log.match(/^Setup token: (\S+)$/m)?.[1];
    return { url, stop, log: () => log, setupToken, databaseUrl: `sqlite://${dir}/db.sqlite` };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A fresh headless Chromium profile with JavaScript on or off, and its one page. */
export async function openBrowser({ js }) {
  const profile = await mkdtemp(path.join(tmpdir(), 'gatehouse-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    javaScriptEnabled: js,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = watchErrors(page, { js });
  const close = async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

/** 4xx answers a test may provoke on purpose: refused, not found, conflict, invalid, throttled. */
const EXPECTED_4XX = new Set([401, 403, 404, 409, 422, 429]);

/** A file the page needs to look and work right: its stylesheet, scripts, WebAssembly, icon. */
function isStaticAsset(request, pathname) {
  return (
    pathname.startsWith('/pkg/') ||
    /\.(css|m?js|wasm)$/.test(pathname) ||
    pathname.includes('favicon') ||
    ['stylesheet', 'script', 'font', 'image'].includes(request.resourceType())
  );
}

/**
 * What went wrong in the page: uncaught exceptions, console errors, and failed loads. Every 5xx
 * answer, every request that failed, and every 4xx for a static asset is an error. A 4xx from a
 * server function (/api/…) or for a document is expected when it is one of EXPECTED_4XX (the
 * tests provoke those on purpose and assert on them); any other 4xx is an error.
 */
function watchErrors(page, { js }) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // The browser's own line for an answer with an error status names no address; the
    // 'response' listener below judges each such answer with its address and status.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(`console: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    const status = response.status();
    if (status < 400) return;
    const request = response.request();
    const { pathname } = new URL(response.url());
    const what = `${status} for ${request.method()} ${response.url()} (${request.resourceType()})`;
    if (status >= 500) {
      errors.push(`response: ${what}`);
    } else if (isStaticAsset(request, pathname)) {
      errors.push(`response: static asset missing: ${what}`);
    } else if (
      !EXPECTED_4XX.has(status) ||
      !(pathname.startsWith('/api/') || request.resourceType() === 'document')
    ) {
      errors.push(`response: unexpected ${what}`);
    }
  });
  // A request the page issued before it navigated (to another document, or on the client with
  // the history API) may be cancelled by the browser or by the app (a server function's fetch
  // is aborted when what asked for it is dropped). Only that cancellation is let pass: each
  // request remembers how many navigations had started when it was sent.
  let navigations = 0;
  const sentAfter = new WeakMap();
  page.on('request', (request) => {
    sentAfter.set(request, navigations);
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations += 1;
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'unknown failure';
    const superseded = reason === 'net::ERR_ABORTED' && sentAfter.has(request) && sentAfter.get(request) < navigations;
    // A server function's fetch is also aborted, without any navigation, when the resource that
    // sent it runs again before the answer is in (an action refetches what it changed): the page
    // dropped its own question, the server did not fail one.
    const refetched =
      reason === 'net::ERR_ABORTED' &&
      request.resourceType() === 'fetch' &&
      new URL(request.url()).pathname.startsWith('/api/');
    // With JavaScript off, Chromium refuses the page's module script itself (as "csp").
    const scriptsOff = !js && reason === 'csp' && request.resourceType() === 'script';
    if (!superseded && !refetched && !scriptsOff) {
      errors.push(`requestfailed: ${request.method()} ${request.url()} (${request.resourceType()}): ${reason}`);
    }
  });
  return errors;
}

/**
 * One server (fresh database) and one browser for a mode, started before the enclosing
 * `describe` block's tests and stopped after them. Call inside `describe`; `app.page`,
 * `app.url`, … are filled in by the `before` hook.
 */
export function setUpApp(mode, env = {}) {
  const app = { mode: mode.name, js: mode.js };
  before(async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    const server = await startServer(env);
    Object.assign(app, { server, url: server.url });
    Object.assign(app, await openBrowser(mode));
  });
  beforeEach(() => {
    app.errors?.splice(0);
  });
  afterEach(() => {
    // A page must not throw, log errors or fail to load anything (a panic in the WebAssembly, a
    // 5xx answer or a missing stylesheet shows up here); see watchErrors.
    assert.deepEqual(app.errors, [], `browser errors in ${app.mode} mode`);
  });
  after(async () => {
    await app.close?.();
    await app.server?.stop();
  });
  return app;
}

/** Retries `check` (which throws or returns undefined) until it returns a value. */
async function waitFor(timeoutMs, check, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline) throw failure ?? new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** In hydrated mode, waits until the app is interactive; without JavaScript, nothing to wait for. */
export async function ready(app) {
  if (app.js) await app.page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached' });
}

/** Opens `pathname` and waits until the page is usable. */
export async function visit(app, pathname) {
  const response = await app.page.goto(app.url + pathname);
  await ready(app);
  return response;
}

/**
 * Waits until `locator` shows on the page at `pathname`, loading that page anew until it does:
 * for what the server does in the background, which a page shows only once it is loaded again.
 * Each round gives the page as it is half a second to show it. Fails after `timeoutMs`, naming
 * `what` and what the page shows instead.
 */
export async function reloadUntil(app, pathname, locator, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // A timeout of 0 would mean "no timeout" to Playwright: never pass less than 1 ms.
      await locator.first().waitFor({ timeout: Math.max(1, Math.min(500, deadline - Date.now())) });
      return;
    } catch (error) {
      if (error?.name !== 'TimeoutError') throw error;
    }
    if (Date.now() >= deadline) {
      const main = (await app.page.getByRole('main').first().innerText().catch(() => '')).replace(/\s+/g, ' ');
      assert.fail(`${what} did not show at ${pathname} within ${timeoutMs} ms; main: "${main}"`);
    }
    await visit(app, pathname);
  }
}

/** Waits until the page is at `pathname` (full or client-side navigation) and usable. */
export async function arrivedAt(app, pathname) {
  await app.page.waitForURL((url) => url.pathname === pathname);
  await ready(app);
}

/** The path of the current page. */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

const AXE_SOURCE = await readFile(path.join(ROOT, 'end2end/node_modules/axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (WCAG 2.2 A and AA rules) on the page as it is now and fails on any serious or
 * critical finding, naming the rule and the elements. Evaluated through the browser's debugging
 * protocol, so the page's Content-Security-Policy is left as it is. Hydrated mode only.
 */
export async function checkAccessibility(app, what = pathOf(app.page)) {
  // Nothing can be evaluated in a page without JavaScript; the hydrated page checked in the other
  // mode has the same markup, rendered by the server.
  if (!app.js) return;
  await app.page.evaluate(AXE_SOURCE);
  const violations = await app.page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `accessibility of ${what} (${app.mode}): ${JSON.stringify(serious, null, 2)}`);
}

export async function screenshot(app, name) {
  await app.page.screenshot({ path: path.join(SCREENSHOT_DIR, `${app.mode}-${name}.png`), fullPage: true });
}

/**
 * Runs `action`, which submits a form to the server function at `/api/<endpoint>`, and returns
 * the server's answer. Without JavaScript the browser then follows the redirect: this also waits
 * for that page to load. With JavaScript the page updates in place afterwards (or navigates on
 * the client); callers wait for what they expect.
 */
export async function submit(app, endpoint, action) {
  const loaded = app.js ? undefined : app.page.waitForEvent('load');
  const [response] = await Promise.all([
    app.page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/api/${endpoint}`,
    ),
    action(),
  ]);
  await loaded;
  await ready(app);
  return response;
}

/**
 * The error a server function answered with, as `{ kind, message, ... }`, or null on success.
 * Hydrated, it is the JSON body; without JavaScript the server redirects back to the form with
 * the error encoded in the `__err` query parameter.
 */
export async function serverError(response) {
  if (response.status() >= 300 && response.status() < 400) {
    // Each failed post appends its error to the form's address, so the latest is the last one.
    const encoded = new URL(response.headers().location, response.url()).searchParams.getAll('__err').at(-1);
    return encoded ? JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) : null;
  }
  return response.ok() ? null : response.json();
}

/** Waits for an alert containing `text`; on failure says what the page shows instead. */
export async function expectAlert(page, text, timeout = 5000) {
  const alert = page.getByRole('alert').filter({ hasText: text });
  try {
    await alert.waitFor({ timeout });
  } catch {
    const alerts = await page.getByRole('alert').allInnerTexts();
    const main = (await page.getByRole('main').first().innerText().catch(() => '')).replace(/\s+/g, ' ');
    assert.fail(
      `expected an alert with "${text}" at ${page.url()}; alerts: ${JSON.stringify(alerts)}; main: "${main}"`,
    );
  }
  return alert;
}

/** Whether `locator` is the focused element. */
export function isFocused(locator) {
  return locator.evaluate((element) => element === document.activeElement);
}

/** Hydrated mode only: returns a check that the page was not reloaded since (forms ran in place). */
export async function markPage(app) {
  if (!app.js) return async () => {};
  await app.page.evaluate(() => (window.__e2eMark = true));
  return async () =>
    assert.equal(await app.page.evaluate(() => window.__e2eMark), true, 'the hydrated page reloaded');
}

/** The main navigation's link names, in order. */
export async function navLinks(page) {
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.waitFor();
  return nav.getByRole('link').allInnerTexts().then((names) => names.map((n) => n.trim()));
}

// --- Flows used by several scenarios -----------------------------------------------------------

/** Fills the setup form; `token` (the server's printed setup token) only when given. */
export async function fillSetup(page, { name, email, password, confirm = password, token }) {
  if (token !== undefined) await page.getByLabel('Setup token').fill(token);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Confirm password').fill(confirm);
}

/** Creates the first admin through /setup; ends signed in on the users page. */
export async function createFirstAdmin(app, admin = ADMIN) {
  const token = app.server.setupToken();
  assert.ok(token, `the server printed no setup token:\n${app.server.log()}`);
  await visit(app, '/setup');
  await fillSetup(app.page, { ...admin, token });
  const response = await submit(app, 'setup/first-admin', () =>
    app.page.getByRole('button', { name: 'Create admin account' }).click(),
  );
  assert.equal(await serverError(response), null, 'creating the first admin failed');
  await arrivedAt(app, '/settings/users');
}

/** Fills and submits the sign-in form of the open /login page; returns the server's answer. */
export async function signIn(app, { email, password }) {
  await app.page.getByLabel('Email').fill(email);
  await app.page.getByLabel('Password').fill(password);
  return submit(app, 'auth/login', () => app.page.getByRole('button', { name: 'Sign in' }).click());
}

/** Signs in from /login and waits for the queues. */
export async function signInAs(app, user) {
  await visit(app, '/login');
  const response = await signIn(app, user);
  assert.equal(await serverError(response), null, `signing in as ${user.email} failed`);
  await arrivedAt(app, '/queues');
}

/**
 * Signs in from /login with a password an admin chose, which leads to the account page, chooses
 * `ownPassword` there and waits for the queues. Returns the user with their own password.
 */
export async function signInFirstTime(app, user, ownPassword) {
  await visit(app, '/login');
  const response = await signIn(app, user);
  assert.equal(await serverError(response), null, `signing in as ${user.email} failed`);
  await arrivedAt(app, '/account');
  const form = app.page.getByRole('form', { name: 'Change your password' });
  await form.getByLabel('Current password').fill(user.password);
  await form.getByLabel('New password', { exact: true }).fill(ownPassword);
  await form.getByLabel('New password again').fill(ownPassword);
  const changed = await submit(app, 'account/change-password', () =>
    form.getByRole('button', { name: 'Change password' }).click(),
  );
  assert.equal(await serverError(changed), null, `${user.email} could not choose a password`);
  await arrivedAt(app, '/queues');
  return { ...user, password: ownPassword };
}

export async function signOut(app) {
  await submit(app, 'auth/logout', () => app.page.getByRole('button', { name: 'Sign out' }).click());
  await arrivedAt(app, '/login');
}

/** Adds a user through the "Add a user" form of the open /settings/users page. */
export async function addUser(app, { email, name, role = 'reviewer', password }) {
  const form = app.page.getByRole('form', { name: 'Add a user' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Role').selectOption(role);
  await form.getByLabel('Temporary password').fill(password);
  const response = await submit(app, 'users/add', () => form.getByRole('button', { name: 'Add user' }).click());
  assert.equal(await serverError(response), null, `adding ${email} failed`);
  await app.page.getByRole('row', { name }).waitFor();
}

/**
 * Creates a workflow through the "New workflow" form of /settings/workflows (opened unless it is
 * the current page); ends on the new workflow's page.
 */
export async function createWorkflow(app, { slug, name, autoApproveAt = '', escalateBelow = '', note = '' }) {
  if (pathOf(app.page) !== '/settings/workflows') await visit(app, '/settings/workflows');
  const form = app.page.getByRole('form', { name: 'New workflow' });
  await form.getByLabel('Slug', { exact: true }).fill(slug);
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Auto-approve at').fill(autoApproveAt);
  await form.getByLabel('Escalate below').fill(escalateBelow);
  await form.getByLabel('Note (optional)').fill(note);
  const response = await submit(app, 'workflows/save', () =>
    form.getByRole('button', { name: 'Create workflow' }).click(),
  );
  assert.equal(await serverError(response), null, `creating the workflow ${slug} failed`);
  await arrivedAt(app, `/settings/workflows/${slug}`);
  await app.page.getByRole('heading', { name, level: 1 }).waitFor();
}

/** The texts of a table's body rows (those with a row header), each as [header, ...cells]. */
export async function tableRows(scope) {
  const rows = await scope.getByRole('row').filter({ has: scope.page().getByRole('rowheader') }).all();
  return Promise.all(
    rows.map(async (row) =>
      [...(await row.getByRole('rowheader').allInnerTexts()), ...(await row.getByRole('cell').allInnerTexts())].map(
        (text) => text.trim(),
      ),
    ),
  );
}

/**
 * Asserts that `field` is marked invalid and described by the form's error `alert` (and, for
 * each of `valid`, that it is not marked).
 */
export async function expectInvalid(field, alert, valid = []) {
  assert.equal(await field.getAttribute('aria-invalid'), 'true', 'the field named by the error is aria-invalid');
  const alertId = await alert.getAttribute('id');
  const describedBy = ((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/);
  assert.ok(alertId && describedBy.includes(alertId), `the field is described by the error (${describedBy})`);
  for (const other of valid) assert.equal(await other.getAttribute('aria-invalid'), null, 'other fields stay valid');
}

/** Runs the gatehouse command line against the app's database; resolves with its stdout. */
export async function cli(app, args, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      BINARY,
      args,
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: app.server.databaseUrl, GATEHOUSE_LOG: 'warn', ...env } },
      (error, stdout, stderr) => (error ? reject(new Error(`gatehouse ${args.join(' ')}: ${stderr}`)) : resolve(stdout)),
    );
  });
}

/**
 * Creates `workflow` (a `gatehouse workflow apply` file's contents) through the command line and
 * an API key for it; resolves with the key.
 */
export async function applyWorkflow(app, workflow) {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-wf-'));
  const file = path.join(dir, 'workflow.json');
  await writeFile(file, JSON.stringify(workflow));
  await cli(app, ['workflow', 'apply', file]);
  await rm(dir, { recursive: true, force: true });
  return (await cli(app, ['api-key', 'create', '--workflow', workflow.slug])).match(/ghk_[0-9a-f_]+/)[0];
}

/** Presses Tab (at most `max` times) until `locator` has the focus: a keyboard user's way there. */
export async function tabTo(page, locator, max = 80) {
  for (let i = 0; i < max; i += 1) {
    if (await isFocused(locator)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`could not reach ${locator} with the Tab key`);
}
