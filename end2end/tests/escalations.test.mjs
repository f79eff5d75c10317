// The leads' escalations inbox: low-confidence items arrive escalated and are listed with their
// reason, level and time left; the filters narrow the list and live in the address.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MODES, applyWorkflow, checkAccessibility, cli, createFirstAdmin, pathOf, reloadUntil, screenshot, serverError,
  setUpApp, signInAs, signOut, submit, visit,
} from '../support/harness.mjs';

const LEAD = { email: 'lena@example.com', password: 'lead-password-123' };
const REVIEWER = { email: 'rita@example.com', password: 'reviewer-password-1' };
const SLUG = 'invoices';

const WORKFLOW = {
  slug: SLUG,
  name: 'Invoice extraction',
  members: [LEAD.email, REVIEWER.email],
  auto_approve_at: 0.9,
  escalate_below: 0.3,
  audit_rate: 0,
  escalation_sla_secs: 3600,
};

async function submitItems(app, apiKey, items) {
  const response = await fetch(`${app.url}/api/v1/workflows/${SLUG}/items:batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  assert.ok(response.ok, await response.text());
}

const lowConfidence = (externalId) => ({
  external_id: externalId,
  payload: { invoice_number: externalId },
  prediction: { label: 'invoice' },
  confidence: 0.12,
});

for (const mode of MODES) {
  describe(`escalations inbox (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('a lead sees escalated items with their reason and time left, and filters them', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await cli(app, ['user', 'add', LEAD.email, '--role', 'lead', '--name', 'Lena Lead'], {
        GATEHOUSE_PASSWORD: LEAD.password,
      });
      await cli(app, ['user', 'add', REVIEWER.email, '--role', 'reviewer', '--name', 'Rita Reviewer'], {
        GATEHOUSE_PASSWORD: REVIEWER.password,
      });
      const apiKey = await applyWorkflow(app, WORKFLOW);
      await signOut(app);
      await signInAs(app, LEAD);

      await visit(app, '/escalations');
      await page.getByRole('heading', { name: 'Nothing escalated' }).waitFor();
      await screenshot(app, 'escalations-empty');
      await checkAccessibility(app, 'the empty inbox');

      await submitItems(app, apiKey, ['INV-101', 'INV-102', 'INV-103'].map(lowConfidence));
      // The escalation sweeper opens an escalation for each within a second or so.
      const rows = page.getByRole('table').getByRole('row');
      await reloadUntil(app, '/escalations', page.getByText('3 open escalations'), 'three open escalations');
      assert.equal(await rows.count(), 4, 'a header row and three escalations');
      const first = rows.filter({ has: page.getByRole('rowheader', { name: 'INV-101', exact: true }) });
      await first.getByRole('cell', { name: 'Low confidence', exact: true }).waitFor();
      await first.getByRole('cell', { name: '1: leads', exact: true }).waitFor();
      assert.match(await first.getByRole('cell', { name: /left$/ }).innerText(), /^\d+ min left$|^1 h left$/);
      assert.match(await page.title(), /^\(3\) Escalations · Gatehouse$/, 'the title leads with what needs the lead');
      await screenshot(app, 'escalations-full');
      await checkAccessibility(app, 'the inbox with escalations');

      // A lead hands the selected ones to a member of the workflow, from the inbox.
      await page.getByLabel('Select INV-101').check();
      await page.getByLabel('Select INV-103').check();
      await page.getByLabel('Assign selected to').selectOption(REVIEWER.email);
      const assigned = await submit(app, 'escalations/assign-selected', () =>
        page.getByRole('button', { name: 'Assign selected' }).click(),
      );
      assert.equal(await serverError(assigned), null);
      const third = rows.filter({ has: page.getByRole('rowheader', { name: 'INV-103', exact: true }) });
      await third.getByRole('cell', { name: REVIEWER.email, exact: true }).waitFor();
      await first.getByRole('cell', { name: REVIEWER.email, exact: true }).waitFor();
      assert.equal(pathOf(page), '/escalations');

      // Filtering is a plain form: the filtered view has an address of its own.
      await page.getByLabel('Level').selectOption('2');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('No open escalation matches these filters.').waitFor();
      assert.equal(pathOf(page), '/escalations');
      assert.match(page.url(), /[?&]level=2(&|$)/);
      await screenshot(app, 'escalations-filtered');
      await page.getByRole('link', { name: 'Clear filters' }).click();
      await page.getByText('3 open escalations').waitFor();
    });
  });
}

// The navigation's counts are asked again every 30 seconds while a page is open (short
// polling). The browser's clock is a fake one here, moved on by the test, so nobody waits half a
// minute; the server, its sweeper included, keeps real time.
describe('navigation counts (js)', () => {
  const app = setUpApp(MODES[0]);

  test('a lead on an open page sees a new escalation counted without a reload', async () => {
    const { page } = app;
    await createFirstAdmin(app);
    await cli(app, ['user', 'add', LEAD.email, '--role', 'lead', '--name', 'Lena Lead'], {
      GATEHOUSE_PASSWORD: LEAD.password,
    });
    const apiKey = await applyWorkflow(app, { ...WORKFLOW, members: [LEAD.email] });
    await signOut(app);
    await page.clock.install();
    await signInAs(app, LEAD);
    await visit(app, '/queues');
    const escalations = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Escalations/ });
    await escalations.waitFor();
    assert.equal(await escalations.locator('.nav-count').count(), 0, 'nothing needs the lead yet');
    assert.doesNotMatch(await page.title(), /^\(\d+\)/);
    // A reload would lose this mark.
    await page.evaluate(() => { window.stillTheSamePage = true; });

    await submitItems(app, apiKey, ['INV-201', 'INV-202'].map(lowConfidence));
    // The sweeper opens their escalations within a few seconds of real time; each half minute
    // of the page's clock asks for the counts again.
    const deadline = Date.now() + 20_000;
    let shown = '';
    while (Date.now() < deadline) {
      await page.clock.runFor(30_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      shown = await escalations.innerText();
      if (/2/.test(shown)) break;
    }
    assert.match(shown, /^Escalations\s*2/, 'the link carries the new count');
    assert.equal(await escalations.locator('.nav-count').getAttribute('data-count'), '2');
    await page.waitForFunction(() => document.title.startsWith('(2) '));
    assert.equal(await page.evaluate(() => window.stillTheSamePage), true, 'the page was not reloaded');
    assert.equal(pathOf(page), '/queues');
    await screenshot(app, 'navigation-count-refreshed');
  });
});
