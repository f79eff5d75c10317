// Scenarios 3 and 4: managing users as an admin, and what a reviewer may see.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, addUser, arrivedAt, createFirstAdmin, markPage, navLinks, screenshot, serverError, setUpApp,
  signIn, signInAs, signInFirstTime, signOut, submit, visit,
} from '../support/harness.mjs';

const RITA = { name: 'Rita Reviewer', email: 'rita@example.com', password: 'temporary-pass-123' };
const RITA_NEW_PASSWORD = 'brand-new-pass-456';
const REX = { name: 'Rex Reviewer', email: 'rex@example.com', password: 'reviewer-pass-789' };

/** Opens the users page and returns the table row of `name`. */
async function usersPageRow(app, name) {
  await visit(app, '/settings/users');
  const row = app.page.getByRole('row', { name });
  await row.waitFor();
  return row;
}

/** The text of the row's status badge ("Active" or "Disabled"), once it shows `expected`. */
async function expectStatus(row, expected) {
  await row.getByRole('cell', { name: expected, exact: true }).waitFor();
  const other = expected === 'Active' ? 'Disabled' : 'Active';
  assert.equal(await row.getByRole('cell', { name: other, exact: true }).count(), 0);
}

for (const mode of MODES) {
  describe(`users page (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('an admin adds a reviewer', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      const unchanged = await markPage(app);
      await addUser(app, RITA);
      await unchanged();
      if (app.js) {
        await page.getByRole('status').filter({ hasText: `Added ${RITA.email} as Reviewer.` }).waitFor();
      }

      const row = await usersPageRow(app, RITA.name);
      await row.getByRole('cell', { name: RITA.email, exact: true }).waitFor();
      assert.equal(await page.getByLabel(`Role for ${RITA.name}`, { exact: true }).inputValue(), 'reviewer');
      await expectStatus(row, 'Active');
      assert.equal(await page.getByRole('table').getByRole('row').count(), 3, 'header, admin and reviewer');
    });

    test("an admin changes the reviewer's role to lead", async () => {
      const { page } = app;
      await usersPageRow(app, RITA.name);
      const unchanged = await markPage(app);
      await page.getByLabel(`Role for ${RITA.name}`, { exact: true }).selectOption('lead');
      const response = await submit(app, 'users/set-role', () =>
        page.getByRole('button', { name: `Change role of ${RITA.name}` }).click(),
      );
      assert.equal(await serverError(response), null);
      await unchanged();

      // The server kept it: a fresh page shows the new role.
      await usersPageRow(app, RITA.name);
      assert.equal(await page.getByLabel(`Role for ${RITA.name}`, { exact: true }).inputValue(), 'lead');
      assert.equal(await page.getByLabel(`Role for ${ADMIN.name}`, { exact: true }).inputValue(), 'admin');
    });

    test('an admin disables and enables the user', async () => {
      const { page } = app;
      const row = await usersPageRow(app, RITA.name);
      const unchanged = await markPage(app);

      let response = await submit(app, 'users/set-disabled', () =>
        page.getByRole('button', { name: `Disable ${RITA.name}` }).click(),
      );
      assert.equal(await serverError(response), null);
      await expectStatus(row, 'Disabled');
      await page.getByRole('button', { name: `Enable ${RITA.name}` }).waitFor();
      await unchanged();
      await screenshot(app, 'users-data');

      response = await submit(app, 'users/set-disabled', () =>
        page.getByRole('button', { name: `Enable ${RITA.name}` }).click(),
      );
      assert.equal(await serverError(response), null);
      await expectStatus(row, 'Active');
      await page.getByRole('button', { name: `Disable ${RITA.name}` }).waitFor();
      await unchanged();

      await usersPageRow(app, RITA.name);
      await expectStatus(row, 'Active');
    });

    test("an admin resets the user's password, which then signs them in", async () => {
      const { page } = app;
      const row = await usersPageRow(app, RITA.name);
      const unchanged = await markPage(app);
      await row.getByText('Reset password').click();
      await page.getByLabel(`New password for ${RITA.name}`, { exact: true }).fill(RITA_NEW_PASSWORD);
      const response = await submit(app, 'users/reset-password', () =>
        page.getByRole('button', { name: `Set new password for ${RITA.name}` }).click(),
      );
      assert.equal(await serverError(response), null);
      await unchanged();
      if (app.js) {
        await page.getByRole('status').filter({ hasText: `New password set for ${RITA.email}.` }).waitFor();
      }
      await expectStatus(row, 'Active');

      // The temporary password no longer works; the new one does (Rita chooses her own first), and
      // Rita now has a lead's navigation.
      await signOut(app);
      const refused = await signIn(app, RITA);
      assert.equal((await serverError(refused))?.kind, 'invalid_credentials');
      await signInFirstTime(app, { email: RITA.email, password: RITA_NEW_PASSWORD }, 'rita-own-password-1');
      assert.deepEqual(await navLinks(page), ['Queues', 'Escalations', 'Team', 'Dashboard', 'Items']);
      await page.getByRole('banner').getByText(RITA.name, { exact: true }).waitFor();
      await screenshot(app, 'lead-queues');
      await signOut(app);
    });

    test('a reviewer sees only the queues and is refused admin and lead pages', async () => {
      const { page } = app;
      await signInAs(app, ADMIN);
      await visit(app, '/settings/users');
      await addUser(app, REX);
      await signOut(app);

      await signInFirstTime(app, REX, 'rex-own-password-1');
      await page.getByRole('heading', { name: 'Queues', level: 1 }).waitFor();
      assert.deepEqual(await navLinks(page), ['Queues']);
      await screenshot(app, 'reviewer-queues');

      for (const [path, shot] of [['/settings/users', 'not-allowed'], ['/escalations', 'not-allowed-escalations']]) {
        const response = await visit(app, path);
        assert.equal(response.status(), 403, `${path} answers 403`);
        await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
        await screenshot(app, shot);
        assert.deepEqual(await navLinks(page), ['Queues']);
        assert.equal(await page.getByRole('heading', { name: 'Users' }).count(), 0);
        assert.equal(await page.getByRole('heading', { name: 'Escalations' }).count(), 0);
      }
    });
  });
}
