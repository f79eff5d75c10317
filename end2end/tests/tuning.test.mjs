// The tuning page, with and without JavaScript: past decisions imported through the API give
// the evidence; the page draws the trade-off curve and the calibration, states the
// recommendation and why, answers a what-if, and applies the recommendation (with a reason and
// a confirmation) as a settings version that the workflow's history shows with its evidence.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MODES, checkAccessibility, cli, createFirstAdmin, pathOf, screenshot, serverError, setUpApp, submit, visit,
} from '../support/harness.mjs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SLUG = 'invoices';

/** 400 clean verdicts at 0.96, 300 at 0.85 with 3 wrong, 300 at 0.5 with 90 wrong. */
function history() {
  const lines = [];
  const add = (prefix, n, confidence, wrong) => {
    for (let i = 0; i < n; i += 1) {
      lines.push(JSON.stringify({
        external_id: `${prefix}-${i}`, confidence, model_version: 'v3',
        verdict: i < wrong ? 'wrong' : 'right', review_probability: 1,
      }));
    }
  };
  add('a', 400, 0.96, 0);
  add('b', 300, 0.85, 3);
  add('c', 300, 0.5, 90);
  return lines.join('\n');
}

async function setUpWorkflow(app) {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-wf-'));
  const file = path.join(dir, 'workflow.json');
  await writeFile(file, JSON.stringify({ slug: SLUG, name: 'Invoice extraction', auto_approve_at: 0.9, escalate_below: 0.2, audit_rate: 0.05, tune_auto_reject: true }));
  await cli(app, ['workflow', 'apply', file]);
  await rm(dir, { recursive: true, force: true });
  const key = (await cli(app, ['api-key', 'create', '--workflow', SLUG, '--admin'])).match(/ghk_[0-9a-f_]+/)[0];
  const response = await fetch(`${app.url}/api/v1/workflows/${SLUG}/history`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: history(),
  });
  assert.equal(response.status, 200, await response.text());
}

for (const mode of MODES) {
  describe(`threshold tuning (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('the charts and the recommendation, a what-if, and applying it into the history', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await setUpWorkflow(app);
      await visit(app, `/settings/workflows/${SLUG}`);
      await page.getByRole('link', { name: 'Threshold tuning' }).click();
      await page.getByRole('heading', { name: 'Threshold tuning', level: 1 }).waitFor();
      assert.equal(pathOf(page), `/settings/workflows/${SLUG}/tuning`);

      // Both charts are drawn on the server, with their titles for screen readers.
      assert.equal(await page.locator('svg.chart').count(), 2);
      await page.getByRole('img', { name: 'Automation against error' }).waitFor();
      await page.getByRole('img', { name: 'Stated confidence against observed accuracy' }).waitFor();
      assert.ok(await page.locator('svg.chart path.band').count() === 1, 'the bound is drawn as a band');
      const box = page.locator('#recommendation');
      assert.match(await box.innerText(), /Auto-approve at 0\.505: automates 70\.00 % of items/);
      await page.getByRole('rowheader', { name: '0.9 – 1.0' }).waitFor();
      // The auto-reject band is tuned too: at 0.5, 210 of 300 were right, so none is safe.
      await page.getByRole('heading', { name: 'Auto-reject band' }).waitFor();
      await page.getByText('No auto-reject band can be recommended yet.', { exact: false }).waitFor();
      await page.getByRole('form', { name: 'Set the auto-reject band' }).waitFor();
      await screenshot(app, 'tuning');
      await checkAccessibility(app, 'the tuning page');
      // The charts take their colours from the page's, so they follow dark mode.
      await page.emulateMedia({ colorScheme: 'dark' });
      const axis = await page.locator('svg.chart line.axis').first().evaluate((el) => getComputedStyle(el).stroke);
      assert.notEqual(axis, 'rgb(79, 88, 104)', 'the axes change colour in dark mode');
      await screenshot(app, 'tuning-dark');
      await checkAccessibility(app, 'the tuning page in dark mode');
      await page.emulateMedia({ colorScheme: 'light' });

      // What if the threshold were 0.5? Its bound is far above the target.
      await page.getByLabel('What if the threshold were').fill('0.5');
      await page.getByRole('button', { name: 'Show its numbers' }).click();
      await page.locator('#what-if-result').waitFor();
      assert.match(await page.locator('#what-if-result').innerText(), /At 0\.5: automates 100\.00 % \(1000 items\)/);
      assert.match(page.url(), /[?&]at=0\.5(&|$)/);

      // Applying needs the confirmation (the browser asks for the box), then a version is made.
      const form = page.getByRole('form', { name: 'Apply the recommendation' });
      await form.getByLabel('Reason').fill('A thousand past decisions support it');
      await form.getByLabel('I have looked at the evidence and want this change').check();
      const applied = await submit(app, 'tuning/apply', () => form.getByRole('button', { name: 'Apply recommendation' }).click());
      assert.equal(await serverError(applied), null);
      await page.getByText('Applied. The new settings version is in the workflow').waitFor();
      assert.match(await page.locator('.page-header .lead').innerText(), /Settings version 2\./);
      await screenshot(app, 'tuning-applied');

      await visit(app, `/settings/workflows/${SLUG}`);
      const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '2', exact: true }) });
      const text = await row.innerText();
      assert.match(text, /A thousand past decisions support it/);
      assert.match(text, /auto_approve_at/);
      assert.match(text, /Evidence: Applied the recommendation: 0\.505 automates 70\.0 %/);
    });
  });
}
