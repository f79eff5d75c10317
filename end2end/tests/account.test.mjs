// The account page: a password an admin chose is replaced at first sign-in, one's sessions are
// listed and ended, and one's own password is changed.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MODES, addUser, arrivedAt, checkAccessibility, createFirstAdmin, expectAlert, expectInvalid, screenshot,
  serverError, setUpApp, signIn, signInAs, signOut, submit, visit,
} from '../support/harness.mjs';

const RITA = { name: 'Rita Reviewer', email: 'rita@example.com', password: 'chosen-by-admin-1' };
const RITA_OWN = 'rita-chose-this-2';
const RITA_LATER = 'rita-changed-it-3';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** Signs in outside the browser (another device, as far as the server can tell); returns its cookie. */
async function signInElsewhere(app, { email, password }) {
  const response = await fetch(`${app.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': FIREFOX },
    body: new URLSearchParams({ email, password }),
    redirect: 'manual',
  });
  assert.equal(response.status, 200, 'signing in elsewhere');
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('gatehouse_session='));
  return cookie.split(';')[0];
}

/** Whom the session with `cookie` belongs to now (null once it has ended). */
async function whoIs(app, cookie) {
  const response = await fetch(`${app.url}/api/auth/me`, { method: 'POST', headers: { cookie } });
  return response.json();
}

/** Fills and submits the password form of the open account page; returns the server's answer. */
async function changePassword(app, current, next, again = next) {
  const form = app.page.getByRole('form', { name: 'Change your password' });
  await form.getByLabel('Current password').fill(current);
  await form.getByLabel('New password', { exact: true }).fill(next);
  await form.getByLabel('New password again').fill(again);
  return submit(app, 'account/change-password', () => form.getByRole('button', { name: 'Change password' }).click());
}

for (const mode of MODES) {
  describe(`account page (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('a password an admin chose is replaced at first sign-in, before anything else', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await addUser(app, RITA);
      await signOut(app);

      await visit(app, '/login');
      assert.equal(await serverError(await signIn(app, RITA)), null);
      await arrivedAt(app, '/account');
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'An admin chose the password you signed in with' }).waitFor();
      await checkAccessibility(app);
      await screenshot(app, 'account-choose-password');

      // Every other page leads back here until she has chosen.
      await visit(app, '/queues');
      await arrivedAt(app, '/account');

      const form = page.getByRole('form', { name: 'Change your password' });
      const refused = await changePassword(app, RITA.password, RITA_OWN, 'not-the-same-password');
      assert.equal((await serverError(refused))?.field, 'new_password_confirm');
      const alert = await expectAlert(page, 'The two new passwords do not match.');
      await expectInvalid(form.getByLabel('New password again'), alert, [form.getByLabel('Current password')]);
      await screenshot(app, 'account-error');

      assert.equal(await serverError(await changePassword(app, RITA.password, RITA_OWN)), null);
      await arrivedAt(app, '/queues');
      await page.getByRole('heading', { name: 'Queues', level: 1 }).waitFor();
    });

    test('the account page lists her sessions and ends another one', async () => {
      const { page } = app;
      const elsewhere = await signInElsewhere(app, { email: RITA.email, password: RITA_OWN });
      assert.equal((await whoIs(app, elsewhere))?.email, RITA.email);

      // The name in the top bar leads to the account page.
      await visit(app, '/queues');
      await page.getByRole('banner').getByRole('link', { name: `${RITA.name} (your account)` }).click();
      await arrivedAt(app, '/account');
      const table = page.getByRole('table');
      await table.getByRole('row', { name: /Firefox on Linux/ }).waitFor();
      await table.getByText('This session').waitFor();
      assert.equal(await table.getByRole('row').count(), 3, 'header, this session, the other one');
      await checkAccessibility(app);
      await screenshot(app, 'account');

      const response = await submit(app, 'account/end-session', () =>
        table.getByRole('button', { name: /^End the session of Firefox on Linux/ }).click(),
      );
      assert.equal(await serverError(response), null);
      await table.getByRole('row', { name: /Firefox on Linux/ }).waitFor({ state: 'detached' });
      assert.equal(await whoIs(app, elsewhere), null, 'the other session ended');
      await table.getByText('This session').waitFor();
    });

    test('she changes her own password; the other sessions end and this one stays', async () => {
      const { page } = app;
      const elsewhere = await signInElsewhere(app, { email: RITA.email, password: RITA_OWN });
      await visit(app, '/account');
      const refused = await changePassword(app, 'not-my-password', RITA_LATER);
      assert.equal((await serverError(refused))?.field, 'current_password');
      await expectAlert(page, 'That is not your current password.');

      assert.equal(await serverError(await changePassword(app, RITA_OWN, RITA_LATER)), null);
      await page.getByRole('status').filter({ hasText: 'Your password was changed.' }).waitFor();
      assert.equal(await whoIs(app, elsewhere), null, 'the other session ended');
      await page.getByRole('table').getByText('This session').waitFor();
      await screenshot(app, 'account-changed');

      await signOut(app);
      await signInAs(app, { email: RITA.email, password: RITA_LATER });
      await signOut(app);
    });
  });
}
