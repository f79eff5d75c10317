// Settings index, workflows (create, validate, change with a reason, history) and webhooks (add,
// a test event and its attempt, a secret rotation).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, arrivedAt, checkAccessibility, createFirstAdmin, createWorkflow, expectAlert, expectInvalid,
  markPage, pathOf, reloadUntil, screenshot, serverError, setUpApp, submit, tableRows, visit,
} from '../support/harness.mjs';

const WORKFLOW = {
  slug: 'invoice-extraction',
  name: 'Invoice extraction',
  autoApproveAt: '0.9',
  escalateBelow: '0.3',
  note: 'First version',
};
const WORKFLOW_PAGE = `/settings/workflows/${WORKFLOW.slug}`;
const REASON = 'Fewer auto-approvals after the March audit';
const HOOK_URL = 'https://hooks.example.com/gatehouse';
const EVENTS = 'item.auto_approved, item.auto_rejected, item.approved, item.rejected, item.corrected, item.escalated';

/** Opens the workflow's page and returns its settings form. */
async function settingsForm(app) {
  await visit(app, WORKFLOW_PAGE);
  return app.page.getByRole('form', { name: 'Workflow settings' });
}

for (const mode of MODES) {
  describe(`workflows (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('the settings index links to users, workflows and API keys', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      for (const [name, path] of [
        ['Users', '/settings/users'],
        ['Workflows', '/settings/workflows'],
        ['API keys', '/settings/api-keys'],
      ]) {
        await visit(app, '/settings');
        await page.getByRole('main').getByRole('link', { name, exact: true }).click();
        await arrivedAt(app, path);
        await page.getByRole('heading', { name, level: 1 }).waitFor();
      }
    });

    test('an admin creates a workflow; the list shows it with its thresholds', async () => {
      const { page } = app;
      await visit(app, '/settings/workflows');
      await page.getByText('No workflows yet.').waitFor();
      await createWorkflow(app, WORKFLOW);
      await page.getByText('settings version 1').waitFor();

      await visit(app, '/settings/workflows');
      const table = page.getByRole('region', { name: 'All workflows' });
      assert.deepEqual(await tableRows(table), [
        [`${WORKFLOW.name}\n${WORKFLOW.slug}`, '0.90', '0.30', '5 %', '100 %', '0', 'Active', '1'],
      ]);
      await table.getByRole('link', { name: WORKFLOW.name }).waitFor();
      await screenshot(app, 'workflows');
    });

    test('the new-workflow form names a bad value and creates nothing', async () => {
      const { page } = app;
      const cases = [
        {
          values: { Slug: 'receipts', Name: 'Receipts', 'Auto-approve at': '0.5', 'Escalate below': '0.8' },
          field: ['Escalate below', 'escalate_below'],
          message: 'escalate_below (0.8) must not be above auto_approve_at (0.5)',
        },
        {
          values: { Slug: 'Bad Slug', Name: 'Bad slug' },
          field: ['Slug', 'slug'],
          message: "'Bad Slug' is not a valid slug",
        },
      ];
      for (const { values, field: [label, name], message } of cases) {
        await visit(app, '/settings/workflows');
        const unchanged = await markPage(app);
        const form = page.getByRole('form', { name: 'New workflow' });
        for (const [fieldLabel, value] of Object.entries(values)) {
          await form.getByLabel(fieldLabel, { exact: true }).fill(value);
        }
        const response = await submit(app, 'workflows/save', () =>
          form.getByRole('button', { name: 'Create workflow' }).click(),
        );
        const error = await serverError(response);
        assert.deepEqual([error?.kind, error?.field], ['invalid', name]);
        assert.ok(error.message.includes(message), error.message);
        const alert = await expectAlert(page, message);
        await expectInvalid(form.getByLabel(label, { exact: true }), alert, [form.getByLabel('Name', { exact: true })]);
        await unchanged();
        assert.equal(pathOf(page), '/settings/workflows', 'still on the list page');
      }

      await visit(app, '/settings/workflows');
      const rows = await tableRows(page.getByRole('region', { name: 'All workflows' }));
      assert.deepEqual(rows.map((row) => row[0].split('\n')[0]), [WORKFLOW.name], 'no workflow was created');
      const response = await visit(app, '/settings/workflows/receipts');
      assert.equal(response.status(), 404);
      await page.getByRole('heading', { name: 'Workflow not available' }).waitFor();
    });

    test('a change needs a reason; the settings history keeps it', async () => {
      const { page } = app;
      let form = await settingsForm(app);
      const unchanged = await markPage(app);
      const posts = [];
      const count = (request) =>
        request.method() === 'POST' && request.url().endsWith('/api/workflows/save') && posts.push(request);
      page.on('request', count);
      try {
        // An empty reason: the browser does not even send the form.
        await form.getByLabel('Auto-approve at').fill('0.95');
        await form.getByRole('button', { name: 'Save changes' }).click();
        const reason = form.getByLabel('Reason for this change');
        assert.equal(await reason.evaluate((input) => input.validity.valueMissing), true);
        assert.equal(posts.length, 0, 'a form without a reason is not sent');

        // A blank reason: the server refuses it.
        await reason.fill('   ');
        let response = await submit(app, 'workflows/save', () => form.getByRole('button', { name: 'Save changes' }).click());
        assert.equal((await serverError(response))?.field, 'reason');
        const alert = await expectAlert(page, 'Say why you are changing the settings');
        await expectInvalid(form.getByLabel('Reason for this change'), alert, [form.getByLabel('Auto-approve at')]);
        await page.getByText('settings version 1').waitFor();

        // With a reason, it saves.
        await form.getByLabel('Auto-approve at').fill('0.95');
        await form.getByLabel('Reason for this change').fill(REASON);
        response = await submit(app, 'workflows/save', () => form.getByRole('button', { name: 'Save changes' }).click());
        assert.equal(await serverError(response), null);
        if (app.js) {
          await form.getByRole('status').filter({ hasText: `Saved: ${WORKFLOW.name} is now at version 2.` }).waitFor();
        }
        await unchanged();
        assert.equal(posts.length, 2);
      } finally {
        page.off('request', count);
      }

      const history = page.getByRole('region', { name: 'Settings history' });
      await history.getByRole('rowheader', { name: '2', exact: true }).waitFor();
      await page.getByText('settings version 2').waitFor();
      const rows = await tableRows(history);
      assert.deepEqual(
        rows.map(([version, , who, why, what]) => [version, who, why, what]),
        [
          ['2', ADMIN.email, REASON, 'auto_approve_at'],
          ['1', ADMIN.email, WORKFLOW.note, 'created'],
        ],
      );
      assert.match(rows[0][1], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
      await screenshot(app, 'workflow-history');

      // The server kept it.
      form = await settingsForm(app);
      assert.equal(await form.getByLabel('Auto-approve at').inputValue(), '0.95');
      assert.equal(await form.getByLabel('Reason for this change').inputValue(), '', 'the reason field starts empty');
    });

    test('a payload schema that is not JSON is refused', async () => {
      const { page } = app;
      const form = await settingsForm(app);
      const unchanged = await markPage(app);
      await form.getByLabel('Payload schema (JSON Schema)').fill('{ "type": "object", ');
      await form.getByLabel('Reason for this change').fill('Try a broken schema');
      const response = await submit(app, 'workflows/save', () => form.getByRole('button', { name: 'Save changes' }).click());
      assert.equal((await serverError(response))?.field, 'payload_schema');
      const alert = await expectAlert(page, 'payload_schema is not valid JSON');
      await expectInvalid(form.getByLabel('Payload schema (JSON Schema)'), alert, [
        form.getByLabel('Prediction schema (JSON Schema)'),
      ]);
      await unchanged();
      if (app.js) {
        // The page was not reloaded: what the admin typed is still there to fix.
        assert.equal(await form.getByLabel('Payload schema (JSON Schema)').inputValue(), '{ "type": "object", ');
        assert.equal(await form.getByLabel('Reason for this change').inputValue(), 'Try a broken schema');
      }

      await settingsForm(app);
      await page.getByText('settings version 2').waitFor();
      assert.equal((await tableRows(page.getByRole('region', { name: 'Settings history' }))).length, 2);
    });

    test('an admin adds a webhook endpoint; a bad URL is refused', async () => {
      const { page } = app;
      await visit(app, WORKFLOW_PAGE);
      const webhooks = page.getByRole('region', { name: 'Webhooks' });
      const form = webhooks.getByRole('form', { name: 'Add a webhook endpoint' });
      await webhooks.getByText('No endpoints yet').waitFor();
      const unchanged = await markPage(app);

      // type=url accepts ftp://x; the server wants http(s).
      await form.getByLabel('Endpoint URL').fill('ftp://x');
      let response = await submit(app, 'webhooks/add', () => form.getByRole('button', { name: 'Add endpoint' }).click());
      assert.equal((await serverError(response))?.field, 'url');
      const alert = await expectAlert(page, 'Give an http:// or https:// URL with a host.');
      await expectInvalid(form.getByLabel('Endpoint URL'), alert);
      assert.equal(await webhooks.getByRole('listitem').count(), 0, 'nothing was added');

      await form.getByLabel('Endpoint URL').fill(HOOK_URL);
      response = await submit(app, 'webhooks/add', () => form.getByRole('button', { name: 'Add endpoint' }).click());
      assert.equal(await serverError(response), null);
      const endpoint = webhooks.getByRole('listitem').filter({ hasText: HOOK_URL });
      await endpoint.waitFor();
      const shown = (await endpoint.innerText()).replace(/\s+/g, ' ').trim();
      assert.ok(shown.startsWith(`${HOOK_URL} ${EVENTS}`), shown);
      await endpoint.getByText('No delivery attempts yet.').waitFor();
      assert.equal(await page.getByRole('alert').count(), 0, 'the earlier error is gone');
      await unchanged();
      // The signing secret is shown once: from the answer with JavaScript, and without it from
      // the session, where the server keeps it for the page the browser is sent back to.
      const secret = webhooks.getByRole('status').filter({ hasText: 'whsec_' });
      await secret.waitFor();
      assert.match(await secret.innerText(), /whsec_[A-Za-z0-9+/]{43}=/);
      await screenshot(app, 'workflow-webhook');

      await visit(app, WORKFLOW_PAGE);
      await endpoint.waitFor();
      assert.equal(await page.getByText('whsec_').count(), 0, 'the secret is not shown again');
    });

    test('a test event shows as an attempt; a rotated secret is shown once and the old one signs on', async () => {
      const { page } = app;
      await visit(app, WORKFLOW_PAGE);
      const webhooks = page.getByRole('region', { name: 'Webhooks' });
      const endpoint = webhooks.getByRole('listitem').filter({ hasText: HOOK_URL });
      const response = await submit(app, 'webhooks/test', () =>
        endpoint.getByRole('button', { name: `Send test event to ${HOOK_URL}` }).click(),
      );
      assert.equal(await serverError(response), null);
      // The worker sends it within its poll interval; the host does not resolve here, so the
      // attempt is recorded without an answer. The page shows it once loaded again.
      const attempt = endpoint.getByRole('row').filter({ hasText: 'webhook.test' });
      await reloadUntil(app, WORKFLOW_PAGE, attempt, 'the attempt to deliver the test event');
      await attempt.getByText('No answer').waitFor();

      const rotated = await submit(app, 'webhooks/rotate-secret', () =>
        endpoint.getByRole('button', { name: `Rotate secret of ${HOOK_URL}` }).click(),
      );
      assert.equal(await serverError(rotated), null);
      const secret = webhooks.getByRole('status').filter({ hasText: 'whsec_' });
      await secret.waitFor();
      assert.match(await secret.innerText(), /whsec_[A-Za-z0-9+/]{43}=/);
      await endpoint.getByText(/Old secret signs too until/).waitFor();
      await screenshot(app, 'workflow-webhook-attempts');
      await checkAccessibility(app);
    });
  });
}
