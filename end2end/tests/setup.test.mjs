// Scenario 1: creating the first admin on a new instance.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, arrivedAt, checkAccessibility, expectAlert, fillSetup, navLinks, pathOf, screenshot, serverError, setUpApp, submit,
  visit,
} from '../support/harness.mjs';

for (const mode of MODES) {
  describe(`first admin (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('without the printed setup token nobody becomes admin', async () => {
      const { page } = app;
      await visit(app, '/');
      await arrivedAt(app, '/setup');
      await page.getByRole('heading', { name: 'Create the first admin' }).waitFor();
      assert.equal(await page.getByLabel('Setup token').inputValue(), '', 'no token without the printed address');
      await fillSetup(page, { ...ADMIN, token: 'not-the-token' });
      const response = await submit(app, 'setup/first-admin', () =>
        page.getByRole('button', { name: 'Create admin account' }).click(),
      );
      const refused = await serverError(response);
      assert.equal(refused?.field, 'setup_token', JSON.stringify(refused));
      await expectAlert(page, 'That is not the setup token');
      assert.equal(await page.getByLabel('Setup token').getAttribute('aria-invalid'), 'true');
      await screenshot(app, 'setup-wrong-token');
      await checkAccessibility(app, 'the setup page with an error');
    });

    test('a password mismatch shows the error and creates nothing', async () => {
      const { page } = app;
      // The address the server prints carries the token and fills it in.
      const token = app.server.setupToken();
      assert.ok(token, 'the server printed a setup token');
      await visit(app, `/setup?token=${token}`);
      await page.getByRole('heading', { name: 'Create the first admin' }).waitFor();
      assert.equal(await page.getByLabel('Setup token').inputValue(), token);
      await screenshot(app, 'setup');
      await checkAccessibility(app, 'the setup page');

      await fillSetup(page, { ...ADMIN, confirm: 'another-password-456' });
      const response = await submit(app, 'setup/first-admin', () =>
        page.getByRole('button', { name: 'Create admin account' }).click(),
      );
      assert.deepEqual(await serverError(response), {
        kind: 'invalid',
        field: 'password_confirm',
        message: 'The two passwords do not match.',
      });
      assert.equal(pathOf(page), '/setup');
      try {
        await expectAlert(page, 'The two passwords do not match.');
      } finally {
        await screenshot(app, 'setup-error');
      }
      assert.equal(await page.getByLabel('Confirm password').getAttribute('aria-invalid'), 'true');

      // Nothing was created: the instance still asks for its first admin.
      await visit(app, '/');
      await arrivedAt(app, '/setup');
      await page.getByRole('heading', { name: 'Create the first admin' }).waitFor();
    });

    test('creating the first admin signs in and lists them on the users page', async () => {
      const { page } = app;
      await visit(app, '/');
      await arrivedAt(app, '/setup');
      await fillSetup(page, { ...ADMIN, token: app.server.setupToken() });
      await submit(app, 'setup/first-admin', () => page.getByRole('button', { name: 'Create admin account' }).click());
      await arrivedAt(app, '/settings/users');

      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
      const row = page.getByRole('row', { name: ADMIN.name });
      await row.getByRole('cell', { name: ADMIN.email, exact: true }).waitFor();
      assert.equal(await page.getByLabel(`Role for ${ADMIN.name}`, { exact: true }).inputValue(), 'admin');
      await row.getByRole('cell', { name: 'Active', exact: true }).waitFor();
      assert.deepEqual(await navLinks(page), ['Queues', 'Escalations', 'Team', 'Dashboard', 'Items', 'Settings']);
      await page.getByRole('banner').getByText(ADMIN.name, { exact: true }).waitFor();
      await screenshot(app, 'users');

      // Setup is now closed, and the start page leads the signed-in admin to the queues.
      await visit(app, '/setup');
      await page.getByRole('heading', { name: 'Gatehouse is set up' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Create admin account' }).count(), 0);
      await visit(app, '/');
      await arrivedAt(app, '/queues');
    });
  });
}
