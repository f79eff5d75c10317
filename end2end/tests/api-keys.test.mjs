// API keys (create, use from the machine API, revoke) and what a reviewer may not see in settings.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, addUser, createFirstAdmin, createWorkflow, expectAlert, expectInvalid, markPage, navLinks, screenshot,
  serverError, setUpApp, signInAs, signInFirstTime, signOut, submit, tableRows, visit,
} from '../support/harness.mjs';

const WORKFLOW = { slug: 'receipt-ocr', name: 'Receipt OCR', autoApproveAt: '0.9', escalateBelow: '0.3' };
const KEY = 'ocr-pipeline';
const REX = { name: 'Rex Reviewer', email: 'rex@example.com', password: 'reviewer-pass-789' };
const FULL_KEY = /ghk_[0-9a-f]{12}_[0-9a-f]{48}/;
const ITEM = { external_id: 'e2e-1', payload: {}, prediction: {}, confidence: 0.5 };

/** Opens the API keys page; returns its "Create a key" form and its "Keys" region. */
async function apiKeysPage(app) {
  await visit(app, '/settings/api-keys');
  return {
    form: app.page.getByRole('form', { name: 'Create a key' }),
    keys: app.page.getByRole('region', { name: 'Keys' }),
  };
}

/** Fills and submits the "Create a key" form; returns the server's answer. */
async function createKey(app, form, { name, workflows }) {
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Workflows', { exact: true }).fill(workflows);
  return submit(app, 'api-keys/create', () => form.getByRole('button', { name: 'Create key' }).click());
}

/** Sends one item to the machine API with `token`, from Node (not the browser). */
function sendItem(app, token) {
  return fetch(`${app.url}/api/v1/workflows/${WORKFLOW.slug}/items`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(ITEM),
  });
}

for (const mode of MODES) {
  describe(`API keys (${mode.name})`, () => {
    const app = setUpApp(mode);
    let token; // Shown once after creation, with or without JavaScript.

    test('an admin creates a key scoped to a workflow', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await createWorkflow(app, WORKFLOW);
      const { form, keys } = await apiKeysPage(app);
      await keys.getByText('No keys yet.').waitFor();
      const unchanged = await markPage(app);

      const response = await createKey(app, form, { name: KEY, workflows: WORKFLOW.slug });
      assert.equal(await serverError(response), null);
      await keys.getByRole('rowheader', { name: KEY, exact: true }).waitFor();
      await unchanged();
      // With JavaScript the key comes in the answer; without, the server keeps it in the session
      // for the page the browser is sent back to. Either way it is shown once.
      const shown = page.getByRole('status').filter({ hasText: FULL_KEY });
      await shown.waitFor();
      token = (await shown.innerText()).match(FULL_KEY)?.[0];
      assert.ok(token, 'the new key is shown');

      const [[name, prefix, workflows, created, lastUsed, status]] = await tableRows(keys);
      assert.deepEqual([name, workflows, lastUsed, status], [KEY, WORKFLOW.slug, 'never', 'Revoke']);
      // Only the key's public prefix is listed, never the secret.
      assert.match(prefix, /^ghk_[0-9a-f]{12}_…$/);
      assert.equal(prefix, `${token.slice(0, 17)}…`, 'the table shows the prefix of the new key');
      assert.match(created, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\s+/);
      assert.ok(created.endsWith(ADMIN.email), created);
      await screenshot(app, 'api-keys');
    });

    test('the key sends items to its workflow', async () => {
      assert.ok(token, 'the key shown after creation was captured (see "an admin creates a key scoped to a workflow")');
      const response = await sendItem(app, token);
      const body = await response.text();
      assert.equal(response.status, 201, body);
      assert.equal(JSON.parse(body).external_id, ITEM.external_id);
      assert.equal((await sendItem(app, 'ghk_000000000000_' + '0'.repeat(48))).status, 401, 'a made-up key is refused');

      const { keys } = await apiKeysPage(app);
      const [[, , , , lastUsed]] = await tableRows(keys);
      assert.match(lastUsed, /UTC$/, 'the key was used');
    });

    test('a key for an unknown workflow is refused and nothing is created', async () => {
      const { page } = app;
      const { form, keys } = await apiKeysPage(app);
      const unchanged = await markPage(app);
      const response = await createKey(app, form, { name: 'ghost', workflows: 'no-such-flow' });
      assert.equal((await serverError(response))?.field, 'workflows');
      const alert = await expectAlert(page, "There is no workflow 'no-such-flow'.");
      await expectInvalid(form.getByLabel('Workflows', { exact: true }), alert, [form.getByLabel('Name', { exact: true })]);
      await unchanged();
      assert.equal(await page.getByText(FULL_KEY).count(), 0, 'no key is shown');

      await visit(app, '/settings/api-keys');
      assert.deepEqual((await tableRows(keys)).map(([name]) => name), [KEY]);
    });

    test('revoking a key marks it revoked and it stops working', async () => {
      const { page } = app;
      // Without the key there is nothing to show that it stops working.
      assert.ok(token, 'the key shown after creation was captured (see "an admin creates a key scoped to a workflow")');
      const { keys } = await apiKeysPage(app);
      const row = keys.getByRole('row').filter({ has: page.getByRole('rowheader', { name: KEY, exact: true }) });
      const unchanged = await markPage(app);
      const response = await submit(app, 'api-keys/revoke', () =>
        page.getByRole('button', { name: `Revoke ${KEY}`, exact: true }).click(),
      );
      assert.equal(await serverError(response), null);
      await row.getByRole('cell', { name: 'Revoked', exact: true }).waitFor();
      assert.equal(await page.getByRole('button', { name: `Revoke ${KEY}` }).count(), 0);
      await unchanged();

      await apiKeysPage(app);
      await row.getByRole('cell', { name: 'Revoked', exact: true }).waitFor();
      const refused = await sendItem(app, token);
      assert.equal(refused.status, 401, `the revoked key is refused: ${await refused.text()}`);
    });

    test('a reviewer is refused the workflow and API key settings', async () => {
      const { page } = app;
      await visit(app, '/settings/users');
      await addUser(app, REX);
      await signOut(app);
      await signInFirstTime(app, REX, 'rex-own-password-1');

      for (const path of ['/settings/workflows', `/settings/workflows/${WORKFLOW.slug}`, '/settings/api-keys']) {
        const response = await visit(app, path);
        assert.equal(response.status(), 403, `${path} answers 403`);
        await page.getByRole('heading', { name: 'Not allowed', level: 1 }).waitFor();
        assert.deepEqual(await navLinks(page), ['Queues']);
        assert.equal(await page.getByRole('textbox').count(), 0, `${path} has no fields`);
        assert.equal(await page.getByText(WORKFLOW.slug).count(), 0, `${path} shows no workflow`);
      }

      // The server functions check the role too.
      for (const [endpoint, form] of [
        ['workflows/list', {}],
        ['api-keys/list', {}],
        ['api-keys/create', { name: 'sneaky', workflows: WORKFLOW.slug }],
      ]) {
        const response = await app.context.request.post(`${app.url}/api/${endpoint}`, { form });
        assert.equal(response.status(), 403, `${endpoint} answers 403`);
        assert.equal((await response.json()).kind, 'forbidden');
      }
      await signOut(app);
    });
  });
}
