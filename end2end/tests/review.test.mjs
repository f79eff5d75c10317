// A reviewer works a queue by keyboard alone: start, approve, reject with a reason, skip, undo;
// a hostile payload is shown as inert text.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MODES, applyWorkflow, arrivedAt, checkAccessibility, cli, createFirstAdmin, expectAlert, pathOf, screenshot,
  serverError, setUpApp, signInAs, signOut, submit, tabTo, visit,
} from '../support/harness.mjs';

const REVIEWER = { email: 'rita@example.com', password: 'reviewer-password-1' };
const SLUG = 'invoices';
const HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';

const WORKFLOW = {
  slug: SLUG,
  name: 'Invoice extraction',
  members: [REVIEWER.email],
  payload_schema: { type: 'object', required: ['invoice_number'] },
  prediction_schema: {
    type: 'object',
    required: ['label'],
    properties: { label: { type: 'string' }, total: { type: 'number' } },
  },
  labels: ['invoice', 'receipt'],
  reason_codes: ['wrong_vendor', 'unreadable'],
  auto_approve_at: 0.9,
  escalate_below: 0.1,
  audit_rate: 0,
};

function item(externalId, priority, payload = {}) {
  return {
    external_id: externalId,
    payload: { invoice_number: externalId, ...payload },
    prediction: { label: 'invoice', total: 120.5, field_confidences: { total: 0.42, label: 0.97 } },
    confidence: 0.55,
    model_version: 'v7',
    priority,
  };
}

let apiKey;

async function submitItems(app, items) {
  const response = await fetch(`${app.url}/api/v1/workflows/${SLUG}/items:batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  assert.ok(response.ok, await response.text());
}

/** A workflow with the reviewer as member and three waiting items, the hostile one first. */
async function seed(app) {
  await cli(app, ['user', 'add', REVIEWER.email, '--role', 'reviewer', '--name', 'Rita Reviewer'], {
    GATEHOUSE_PASSWORD: REVIEWER.password,
  });
  apiKey = await applyWorkflow(app, WORKFLOW);
  await submitItems(app, [
    item('INV-HOSTILE', 10, {
      vendor: HOSTILE,
      terms: 'javascript:window.__xss = 3',
      invoice_pdf: 'https://files.example.com/inv-1.pdf',
      notes: 'A long note that must wrap rather than overflow the table. '.repeat(8),
      lines: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }],
    }),
    item('INV-2', 5),
    item('INV-3', 1),
  ]);
}

/** The item page the reviewer is on: /review/invoices/<id>. */
function onItemPage(page) {
  return /^\/review\/invoices\/\d+$/.test(pathOf(page));
}

async function waitForItem(app, externalId) {
  await app.page.getByRole('heading', { name: externalId, level: 1 }).waitFor();
  assert.ok(onItemPage(app.page), `on an item page (${pathOf(app.page)})`);
}

/** Presses a decision's key (hydrated) or tabs to its button and presses Enter (no JavaScript). */
async function decide(app, endpoint, key, buttonName) {
  const { page } = app;
  return submit(app, endpoint, async () => {
    if (app.js) {
      await page.keyboard.press(key);
    } else {
      await tabTo(page, page.getByRole('button', { name: buttonName }));
      await page.keyboard.press('Enter');
    }
  });
}

for (const mode of MODES) {
  describe(`review (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('a reviewer works the queue by keyboard; a hostile payload stays inert', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await seed(app);
      await signOut(app);
      await signInAs(app, REVIEWER);

      const card = page.getByRole('listitem').filter({ hasText: 'Invoice extraction' });
      assert.equal(await card.locator('[data-stat="waiting"]').innerText(), '3');
      await screenshot(app, 'queues');
      await checkAccessibility(app);

      // A queue's own page, opened directly, says what waits there and offers to start.
      await visit(app, `/review/${SLUG}`);
      await page.getByRole('heading', { name: '3 items are waiting' }).waitFor();
      await page.getByRole('button', { name: 'Start reviewing' }).waitFor();
      await screenshot(app, 'review-queue');
      await checkAccessibility(app);
      await visit(app, '/queues');

      // Start reviewing with the keyboard alone.
      const start = page.getByRole('button', { name: 'Start reviewing Invoice extraction' });
      await tabTo(page, start);
      await submit(app, 'review/start', () => page.keyboard.press('Enter'));
      await waitForItem(app, 'INV-HOSTILE');

      // The hostile payload is text; the javascript: value is not a link; the https one is, safely.
      const payload = page.getByRole('region', { name: 'Payload' });
      await payload.getByText(HOSTILE, { exact: true }).waitFor();
      assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0, 'no javascript: link');
      assert.equal(await page.locator('main script, main img').count(), 0, 'no element from the payload');
      const link = payload.getByRole('link', { name: 'https://files.example.com/inv-1.pdf' });
      assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
      assert.equal(await page.evaluate(() => window.__xss), undefined, 'nothing from the payload ran');
      // The prediction: confidence as a meter, the low field flagged, why it is here.
      const prediction = page.getByRole('region', { name: 'Prediction' });
      assert.equal(await prediction.getByRole('meter', { name: 'Confidence' }).getAttribute('value'), '55');
      await prediction.getByRole('row', { name: /total/ }).getByText('low confidence').waitFor();
      await prediction.getByText('Confidence below the auto-approve threshold').waitFor();
      await screenshot(app, 'review-item');
      await checkAccessibility(app);

      // Approve: the next item opens at once, with an undo offer, and all it takes is the one
      // request (the decision's answer carries the next item and the offer, or, without
      // JavaScript, redirects to a page rendered with both).
      const calls = [];
      const record = (request) => {
        const { pathname } = new URL(request.url());
        if (pathname.startsWith('/api/')) calls.push(pathname);
      };
      page.on('request', record);
      let response = await decide(app, 'review/approve', 'a', 'Approve');
      assert.ok(response.status() < 400, `approve answered ${response.status()}`);
      await waitForItem(app, 'INV-2');
      await page.getByRole('status').filter({ hasText: 'Approved INV-HOSTILE.' }).waitFor();
      page.off('request', record);
      assert.deepEqual(calls, ['/api/review/approve']);

      if (app.js) {
        // Undo with its key: the approved item comes back; approve it again.
        await submit(app, 'review/undo', () => page.keyboard.press('u'));
        await waitForItem(app, 'INV-HOSTILE');
        await page.getByRole('region', { name: 'History' }).getByText('(undone)').waitFor();
        await decide(app, 'review/approve', 'a', 'Approve');
        await waitForItem(app, 'INV-2');
      }

      // Reject with a reason code, by keyboard: open the form, choose, submit.
      if (app.js) {
        await page.keyboard.press('r');
      } else {
        await tabTo(page, page.getByText('Reject r', { exact: true }));
        await page.keyboard.press('Enter');
      }
      const reason = page.getByLabel('Reason');
      await tabTo(page, reason);
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      assert.equal(await reason.inputValue(), 'unreadable');
      await tabTo(page, page.getByRole('button', { name: 'Reject item' }));
      response = await submit(app, 'review/reject', () => page.keyboard.press('Enter'));
      assert.ok(response.status() < 400, `reject answered ${response.status()}`);
      await waitForItem(app, 'INV-3');
      await page.getByRole('status').filter({ hasText: 'Rejected INV-2.' }).waitFor();

      // A decision the server refuses says why and leaves the reviewer on the item: an
      // escalation whose note is only spaces (the form's `required` lets it through).
      if (app.js) {
        await page.keyboard.press('e');
      } else {
        await tabTo(page, page.getByText('Escalate e', { exact: true }));
        await page.keyboard.press('Enter');
      }
      await tabTo(page, page.getByLabel('Note for the lead'));
      await page.keyboard.type('   ');
      await tabTo(page, page.getByRole('button', { name: 'Escalate to a lead' }));
      response = await submit(app, 'review/escalate', () => page.keyboard.press('Enter'));
      assert.equal((await serverError(response))?.kind, 'invalid');
      await expectAlert(page, 'Say why you escalate: the lead reads it first.');
      await waitForItem(app, 'INV-3');

      // Skip the last one: nothing else is left for this reviewer.
      response = await decide(app, 'review/skip', 's', 'Skip');
      assert.ok(response.status() < 400, `skip answered ${response.status()}`);
      await arrivedAt(app, `/review/${SLUG}`);
      await page.getByRole('heading', { name: 'Nothing left to review' }).waitFor();
      await screenshot(app, 'review-done');
      await checkAccessibility(app);

      await visit(app, '/queues');
      const mine = page.getByRole('listitem').filter({ hasText: 'Invoice extraction' });
      assert.equal(await mine.locator('[data-stat="waiting"]').innerText(), '1');
      assert.equal(await mine.locator('[data-stat="mine-today"]').innerText(), '2');
    });

    test('counts follow new items; a correction is made in the generated form; ? lists the keys', async () => {
      const { page } = app;
      await visit(app, '/queues');
      const waiting = page.getByRole('listitem').filter({ hasText: 'Invoice extraction' }).locator('[data-stat="waiting"]');
      assert.equal(await waiting.innerText(), '1');
      await submitItems(app, [item('INV-4', 0)]);
      if (app.js) {
        // Short polling: the open page catches up without a reload.
        await page.waitForFunction((el) => el.textContent.trim() === '2', await waiting.elementHandle(), {
          timeout: 10_000,
        });
      } else {
        await visit(app, '/queues');
        assert.equal(await waiting.innerText(), '2');
      }

      await submit(app, 'review/start', () =>
        page.getByRole('button', { name: 'Start reviewing Invoice extraction' }).click(),
      );
      await waitForItem(app, 'INV-3');
      // Correct: open the form by keyboard, change the total, save.
      if (app.js) {
        await page.keyboard.press('c');
      } else {
        await tabTo(page, page.getByText('Correct c', { exact: true }));
        await page.keyboard.press('Enter');
      }
      const total = page.getByLabel('total', { exact: true });
      await tabTo(page, total);
      await total.fill('99.5');
      assert.equal(await page.getByLabel('label', { exact: true }).inputValue(), 'invoice', 'labels are a choice');
      await tabTo(page, page.getByRole('button', { name: 'Save correction' }));
      const response = await submit(app, 'review/correct', () => page.keyboard.press('Enter'));
      assert.ok(response.status() < 400, `correct answered ${response.status()}`);
      await waitForItem(app, 'INV-4');
      await page.getByRole('status').filter({ hasText: 'Corrected INV-3.' }).waitFor();
      // The next item's forms start fresh: nothing typed for the last one is carried over.
      assert.equal(await page.locator('details[open]').count(), 0, 'no decision form left open');
      assert.equal(await page.getByLabel('total', { exact: true }).inputValue(), '120.5');

      const help = page.getByText('Keyboard shortcuts ?', { exact: true });
      if (app.js) {
        await page.keyboard.press('?');
      } else {
        await tabTo(page, help);
        await page.keyboard.press('Enter');
      }
      await page.getByText('Reject (choose a reason)').waitFor();
      await screenshot(app, 'review-keys');
    });
  });
}
