// An escalation from start to end, with and without JavaScript: a reviewer escalates an item
// with a note, the lead finds it in the inbox by its reason, opens its page and assigns it to
// another reviewer, who finds it under "Assigned to me", reviews and approves it; the item's
// history shows every step, and the team page counts the work. Then escalations at risk and
// overdue, as the inbox highlights them.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import {
  MODES, applyWorkflow, checkAccessibility, cli, createFirstAdmin, pathOf, reloadUntil, screenshot, serverError,
  setUpApp, signInAs, signOut, submit, visit,
} from '../support/harness.mjs';

const LEAD = { email: 'lena@example.com', password: 'lead-password-123' };
const RITA = { email: 'rita@example.com', password: 'reviewer-password-1' };
const ROB = { email: 'rob@example.com', password: 'reviewer-password-2' };
const SLUG = 'invoices';

const WORKFLOW = {
  slug: SLUG,
  name: 'Invoice extraction',
  members: [LEAD.email, RITA.email, ROB.email],
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

const invoice = (externalId, confidence) => ({
  external_id: externalId,
  payload: { invoice_number: externalId, vendor: 'ACME GmbH' },
  prediction: { label: 'invoice', total: 120 },
  confidence,
});

/**
 * Moves the open escalation of `externalId` back in time by `minutes`, as if it had been
 * opened that long ago: the only way to see an SLA run out in a test that lasts seconds. The
 * server's sweeper then climbs and flags it as it would have.
 */
function backdate(app, externalId, minutes) {
  const file = app.server.databaseUrl.replace('sqlite://', '');
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1], timeout=10)',
    'ms = int(sys.argv[3]) * 60000',
    "db.execute('update escalations set opened_at = opened_at - ?, level_since = level_since - ?, "
      + "due_at = due_at - ? where resolved_at is null "
      + "and item_id = (select id from items where external_id = ?)', (ms, ms, ms, sys.argv[2]))",
    'db.commit()',
  ].join('\n');
  execFileSync('python3', ['-c', script, file, externalId, String(minutes)]);
}

for (const mode of MODES) {
  describe(`escalation flow (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('escalated by a reviewer, assigned by the lead, decided by another reviewer, all in the history', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      for (const [who, role, name] of [[LEAD, 'lead', 'Lena Lead'], [RITA, 'reviewer', 'Rita Reviewer'], [ROB, 'reviewer', 'Rob Reviewer']]) {
        await cli(app, ['user', 'add', who.email, '--role', role, '--name', name], { GATEHOUSE_PASSWORD: who.password });
      }
      const apiKey = await applyWorkflow(app, WORKFLOW);
      await submitItems(app, apiKey, [invoice('INV-201', 0.6), invoice('INV-301', 0.1), invoice('INV-302', 0.1)]);
      await signOut(app);

      // Rita escalates the item she reviews, with a note for the lead.
      await signInAs(app, RITA);
      await visit(app, `/review/${SLUG}`);
      await submit(app, 'review/start', () => page.getByRole('button', { name: 'Start reviewing' }).click());
      await page.getByRole('heading', { name: 'INV-201', level: 1 }).waitFor();
      await page.locator('summary', { hasText: 'Escalate' }).click();
      await page.getByLabel('Note for the lead').fill('The total does not match the lines');
      const escalated = await submit(app, 'review/escalate', () =>
        page.getByRole('button', { name: 'Escalate to a lead' }).click(),
      );
      assert.equal(await serverError(escalated), null);
      await signOut(app);

      // The lead finds it by its reason; the filtered view has an address of its own.
      await signInAs(app, LEAD);
      await reloadUntil(app, '/escalations', page.getByText('3 open escalations'), 'three open escalations');
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: /^Escalations/ }).locator('.nav-count[data-count="3"]').waitFor();
      await page.getByLabel('Reason').selectOption('reviewer');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('1 open escalation matches these filters').waitFor();
      assert.match(page.url(), /[?&]reason=reviewer(&|$)/);
      const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'INV-201' }) });
      await row.getByRole('cell', { name: 'rita@example.com: The total does not match the lines' }).waitFor();
      await screenshot(app, 'escalations-by-reason');
      await checkAccessibility(app, 'the inbox filtered by reason');

      // Its page: the item, why it is here, and what the lead can do.
      await page.getByRole('link', { name: 'INV-201', exact: true }).click();
      await page.getByRole('heading', { name: 'INV-201', level: 1 }).waitFor();
      assert.match(pathOf(page), /^\/escalations\/\d+$/);
      const escalationPath = pathOf(page);
      await page.getByText('Escalated by a reviewer').waitFor();
      await page.getByRole('button', { name: 'Send back to queue' }).waitFor();
      await screenshot(app, 'escalation-page');
      await checkAccessibility(app, 'an escalation page');
      await page.getByLabel('Assign to').selectOption(ROB.email);
      await page.getByLabel('Note for them').fill('You know this vendor');
      const assigned = await submit(app, 'escalations/assign-selected', () =>
        page.getByRole('button', { name: 'Assign', exact: true }).click(),
      );
      assert.equal(await serverError(assigned), null);
      await page.getByText(`Assigned to ${ROB.email}`).waitFor();
      await screenshot(app, 'escalation-assigned');
      await checkAccessibility(app, 'an escalation page once assigned');
      await signOut(app);

      // Rob finds it under "Assigned to me", reviews and approves it.
      await signInAs(app, ROB);
      await visit(app, '/queues');
      const queuesLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Queues/ });
      await queuesLink.locator('.nav-count[data-count="1"]').waitFor();
      assert.match(await page.title(), /^\(1\) /);
      const claimed = await submit(app, 'review/claim-assigned', () =>
        page.getByRole('button', { name: 'Review INV-201' }).click(),
      );
      assert.equal(await serverError(claimed), null);
      await page.getByRole('heading', { name: 'INV-201', level: 1 }).waitFor();
      assert.match(pathOf(page), /^\/review\/invoices\/\d+$/);
      const approved = await submit(app, 'review/approve', () => page.getByRole('button', { name: /^Approve/ }).click());
      assert.equal(await serverError(approved), null);
      await signOut(app);

      // The history shows every step, and the escalation is closed.
      await signInAs(app, LEAD);
      await visit(app, escalationPath);
      await page.getByText('This escalation is closed: the item is approved.').waitFor();
      const history = page.getByRole('list').filter({ hasText: 'Escalated by rita@example.com' });
      const steps = await history.getByRole('listitem').allInnerTexts();
      assert.deepEqual(
        steps.map((s) => s.split(' · ')[0]),
        ['Escalated by rita@example.com', 'Assigned by lena@example.com', 'Approved by rob@example.com'],
        steps.join('\n'),
      );
      assert.match(steps[1], /to rob@example\.com: You know this vendor/);
      await screenshot(app, 'escalation-resolved');

      // The team page counts the work: Rob decided one today, Rita escalated one.
      await visit(app, '/team');
      const robRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /rob@example\.com/ }) });
      assert.equal(await robRow.getByRole('cell').nth(2).innerText(), '1', 'decisions today');
      await page.getByRole('rowheader', { name: 'Escalated by a reviewer' }).waitFor();
      await screenshot(app, 'team');
      await checkAccessibility(app, 'the team page');
    });

    test('escalations at risk and overdue are highlighted, in words', async () => {
      const { page } = app;
      // INV-301 opened 50 minutes ago: 10 of its 60 left. INV-302 130 minutes ago: it climbed
      // to the admins after 60 and has been overdue there for 10.
      backdate(app, 'INV-301', 50);
      backdate(app, 'INV-302', 130);
      // The sweeper climbs and flags it within a second or so.
      await reloadUntil(app, '/escalations', page.getByText('Flagged', { exact: true }), 'a flagged escalation');
      const riskRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'INV-301' }) });
      assert.match(await riskRow.innerText(), /At risk: \d+ min left/);
      const lateRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'INV-302' }) });
      assert.match(await lateRow.innerText(), /2: admins\s+Flagged/);
      assert.match(await lateRow.innerText(), /Overdue/);
      await screenshot(app, 'escalations-at-risk');
      await checkAccessibility(app, 'the inbox with rows at risk');

      // Its page tells the climb and the flag in its history, by the system, in order.
      await page.getByRole('link', { name: 'INV-302', exact: true }).click();
      await page.getByRole('heading', { name: 'INV-302', level: 1 }).waitFor();
      const steps = await page.getByRole('region', { name: 'History' }).innerText();
      assert.match(steps, /Climbed to the admins by system[^]*SLA of 1 h ran out[^]*Flagged overdue by system/);
      await screenshot(app, 'escalation-climbed');
      await checkAccessibility(app, 'an escalation page with its climb and flag');
      await visit(app, '/escalations');

      // The lead decides one directly from its page, and is back in the inbox without it.
      await page.getByRole('link', { name: 'INV-301', exact: true }).click();
      await page.getByRole('heading', { name: 'INV-301', level: 1 }).waitFor();
      const decided = await submit(app, 'escalations/decide', () =>
        page.getByRole('button', { name: 'Approve', exact: true }).click(),
      );
      assert.equal(await serverError(decided), null);
      await page.getByText('1 open escalation').waitFor();
      assert.equal(pathOf(page), '/escalations');
      assert.equal(await page.getByRole('rowheader', { name: 'INV-301' }).count(), 0);
    });
  });
}
