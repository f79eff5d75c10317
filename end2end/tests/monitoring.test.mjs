// The dashboard and the audit log, with and without JavaScript: items submitted through the API
// and decided by the admin give the numbers; the dashboard shows them as headline numbers,
// server-drawn charts (named for screen readers, following dark mode) and tables, and its GET
// form narrows it to one model version; the audit log lists the changes and filters them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, applyWorkflow, checkAccessibility, createFirstAdmin, pathOf, screenshot, setUpApp, visit,
} from '../support/harness.mjs';

const SLUG = 'invoices';

function item(id, confidence, modelVersion = 'v3') {
  return {
    external_id: id,
    payload: { invoice_number: `INV-${id}`, total: 10 },
    prediction: { label: 'invoice' },
    confidence,
    model_version: modelVersion,
  };
}

/** Calls a server function as the signed-in browser would (its cookies, its origin). */
async function serverFn(app, endpoint, form) {
  const response = await app.page.request.post(`${app.url}/api/${endpoint}`, {
    form, headers: { origin: app.url, accept: 'application/json' }, maxRedirects: 0,
  });
  assert.ok(response.status() < 400, `${endpoint}: ${response.status()} ${await response.text()}`);
  return response.json();
}

/** 12 items of v3 (8 above the threshold, 3 to review, 1 escalated) and 3 of v4 to review; the
 *  admin approves four of the six reviewed and rejects two, one of them of v4. */
async function setUpNumbers(app) {
  const key = await applyWorkflow(app, {
    slug: SLUG, name: 'Invoice extraction', auto_approve_at: 0.9, escalate_below: 0.2, audit_rate: 0,
    reason_codes: ['blurry'], members: [ADMIN.email],
  });
  const items = [
    ...Array.from({ length: 8 }, (_, i) => item(`auto-${i}`, 0.95)),
    ...Array.from({ length: 3 }, (_, i) => item(`low-${i}`, 0.5)),
    item('unsure', 0.1),
    ...Array.from({ length: 3 }, (_, i) => item(`new-${i}`, 0.5, 'v4')),
  ];
  const response = await fetch(`${app.url}/api/v1/workflows/${SLUG}/items:batch`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  assert.equal(response.status, 200, await response.text());
  for (let i = 0; i < 6; i += 1) {
    const itemId = await serverFn(app, 'review/start', { slug: SLUG });
    const held = await serverFn(app, 'review/item', { slug: SLUG, item_id: String(itemId) });
    const form = { item_id: String(itemId), lease_token: held.lease_token };
    const reject = held.external_id === 'low-2' || held.external_id === 'new-0';
    await serverFn(app, reject ? 'review/reject' : 'review/approve', reject ? { ...form, reason_code: 'blurry' } : form);
  }
}

for (const mode of MODES) {
  describe(`monitoring (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('the dashboard: headline numbers, charts with their tables, one model version', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await setUpNumbers(app);
      await visit(app, '/');
      await page.getByRole('link', { name: 'Dashboard' }).click();
      await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      assert.equal(pathOf(page), '/dashboard');
      const tile = (label) => page.locator('.tile').filter({ has: page.locator('.tile-label').getByText(label, { exact: true }) });
      assert.equal(await tile('Items').locator('.tile-value').innerText(), '15');
      assert.equal(await tile('Automation rate').locator('.tile-value').innerText(), '53 %');
      assert.equal(await tile('Overridden, reviewed items').locator('.tile-value').innerText(), '33 %');
      assert.match(await tile('Overridden, reviewed items').innerText(), /2 of 6 verdicts/);
      // The sweeper opens the escalated item's escalation in its own time: 0 or 1 open, in words.
      assert.match(await tile('Open escalations').innerText(), /with the leads, 0 with the admins/);

      // Four charts drawn on the server, each named and described for screen readers.
      assert.equal(await page.locator('svg.chart').count(), 4);
      for (const name of ['Items by route', 'Override rate over time', 'Rejections by reason code', 'Override rate by model version']) {
        await page.getByRole('img', { name }).waitFor();
      }
      // The numbers beneath, in tables that need no JavaScript to open.
      const volume = page.locator('#volume');
      await volume.getByText(/The numbers/).click();
      const caption = volume.getByRole('table').locator('caption');
      assert.equal(await caption.innerText(), 'Items a day by route');
      const versions = page.locator('#versions table');
      await page.locator('#versions summary').click();
      assert.match(await versions.innerText(), /v3[\s\S]*12[\s\S]*67 %/);
      const reviewers = page.locator('#reviewers table');
      assert.match(await reviewers.innerText(), /ada@example\.com\s+4\s+2\s+0\s+0\s+6/);
      await screenshot(app, 'dashboard');
      await checkAccessibility(app, 'the dashboard');
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(app, 'dashboard-dark');
      await checkAccessibility(app, 'the dashboard in dark mode');
      await page.emulateMedia({ colorScheme: 'light' });

      // One model version, the last 24 hours: a plain GET form, so the address can be shared.
      await page.getByLabel('Model version', { exact: true }).selectOption('v4');
      await page.getByLabel('Range', { exact: true }).selectOption('24h');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.waitForURL(/model_version=v4/);
      await page.locator('.tile-value').first().filter({ hasText: /^3$/ }).waitFor();
      assert.match(page.url(), /range=24h/);
      assert.equal(await tile('Overridden, reviewed items').locator('.tile-value').innerText(), '33 %');
      assert.match(await page.locator('#dashboard-range').innerText(), /by hour/);
    });

    test('item search finds an item and opens its whole history', async () => {
      const { page } = app;
      await visit(app, '/');
      await page.getByRole('link', { name: 'Items', exact: true }).click();
      await page.getByRole('heading', { name: 'Items', level: 1 }).waitFor();
      // Navigated in the browser, the heading shows before the search's rows arrive.
      await page.locator('table tbody tr').nth(14).waitFor();
      assert.equal(await page.locator('table tbody tr').count(), 15);
      await page.getByLabel('Route reason').selectOption('below_threshold');
      await page.getByLabel('Model version').fill('v4');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.waitForURL(/model_version=v4/);
      await page.getByRole('status').filter({ hasText: '3 items on this page' }).waitFor();
      await screenshot(app, 'items');
      await checkAccessibility(app, 'the item search');
      await page.getByRole('link', { name: 'new-0' }).click();
      await page.getByRole('heading', { name: 'new-0', level: 1 }).waitFor();
      assert.match(await page.locator('.page-header .lead').innerText(), /rejected · outcome: rejected/);
      const history = page.getByRole('region', { name: 'History' });
      assert.match(await history.innerText(), /ada@example\.com/);
      await screenshot(app, 'item');
      await checkAccessibility(app, "an item's page");
    });

    test('the audit log lists every change and filters it', async () => {
      const { page } = app;
      await visit(app, '/settings');
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
      assert.equal(pathOf(page), '/settings/audit');
      const rows = page.locator('table tbody tr');
      const actions = await page.locator('table tbody tr td:nth-child(3)').allInnerTexts();
      assert.ok(actions.includes('workflow.create'), actions.join(', '));
      assert.ok(actions.includes('setup.first_admin'), actions.join(', '));
      assert.ok(actions.includes('item.reject'), actions.join(', '));
      await screenshot(app, 'audit');
      await checkAccessibility(app, 'the audit log');

      await page.getByLabel('Action').fill('item.reject');
      await page.getByLabel('Workflow').selectOption(SLUG);
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/action=item\.reject/);
      await page.getByRole('status').filter({ hasText: 'events on this page' }).waitFor();
      assert.equal(await rows.count(), 2);
      assert.match(await rows.first().innerText(), /ada@example\.com[\s\S]*item\.reject[\s\S]*invoices[\s\S]*blurry/);
      await page.getByLabel('Actor').fill('nobody@example.com');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('No event matches.').waitFor();
    });
  });
}
