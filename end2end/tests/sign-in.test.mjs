// Scenarios 2 and 6: signing out and in, the admin's navigation, and the keyboard path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, arrivedAt, createFirstAdmin, expectAlert, isFocused, navLinks, pathOf, screenshot, serverError,
  setUpApp, signIn, signOut, submit, visit,
} from '../support/harness.mjs';

for (const mode of MODES) {
  describe(`sign-in (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('signing out ends the session', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await signOut(app);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await screenshot(app, 'login');

      // Signed-in pages now send the visitor to sign in, remembering where they were going.
      await visit(app, '/queues');
      await arrivedAt(app, '/login');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/queues');
    });

    test('a wrong password shows an alert and does not sign in', async () => {
      const { page } = app;
      await visit(app, '/login');
      const response = await signIn(app, { email: ADMIN.email, password: 'not-the-password' });
      assert.equal((await serverError(response))?.kind, 'invalid_credentials');
      assert.equal(pathOf(page), '/login');
      try {
        await expectAlert(page, 'Email or password is incorrect.');
      } finally {
        await screenshot(app, 'login-error');
      }
      assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
    });

    test('the right password reaches the queues with the admin navigation', async () => {
      const { page } = app;
      await visit(app, '/login');
      const response = await signIn(app, ADMIN);
      assert.equal(await serverError(response), null);
      await arrivedAt(app, '/queues');
      await page.getByRole('heading', { name: 'Queues', level: 1 }).waitFor();
      assert.deepEqual(await navLinks(page), ['Queues', 'Escalations', 'Team', 'Dashboard', 'Items', 'Settings']);
      await page.getByRole('banner').getByText(ADMIN.name, { exact: true }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await screenshot(app, 'queues');

      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Escalations' }).click();
      await arrivedAt(app, '/escalations');
      await page.getByRole('heading', { name: 'Escalations', level: 1 }).waitFor();
      await screenshot(app, 'escalations');

      await nav.getByRole('link', { name: 'Settings' }).click();
      await arrivedAt(app, '/settings');
      await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
      await screenshot(app, 'settings');

      await page.getByRole('main').getByRole('link', { name: 'Users' }).click();
      await arrivedAt(app, '/settings/users');
      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    });

    test('signing in returns to the page asked for', async () => {
      const { page } = app;
      await signOut(app);
      await visit(app, '/escalations');
      await arrivedAt(app, '/login');
      await signIn(app, ADMIN);
      await arrivedAt(app, '/escalations');
      await page.getByRole('heading', { name: 'Escalations', level: 1 }).waitFor();
    });

    test('the sign-in form works from the keyboard alone', async () => {
      const { page } = app;
      await signOut(app);
      await visit(app, '/login');
      const email = page.getByLabel('Email');
      const password = page.getByLabel('Password');
      const button = page.getByRole('button', { name: 'Sign in' });

      await page.keyboard.press('Tab');
      assert.ok(await isFocused(email), 'Tab from the top of the page focuses Email');
      await page.keyboard.type(ADMIN.email);
      await page.keyboard.press('Tab');
      assert.ok(await isFocused(password), 'the next Tab focuses Password');
      await page.keyboard.type(ADMIN.password);
      await page.keyboard.press('Tab');
      assert.ok(await isFocused(button), 'the next Tab focuses Sign in');
      await page.keyboard.press('Shift+Tab');
      assert.ok(await isFocused(password), 'Shift+Tab goes back to Password');

      const response = await submit(app, 'auth/login', () => page.keyboard.press('Enter'));
      assert.equal(await serverError(response), null);
      await arrivedAt(app, '/queues');
      await page.getByRole('heading', { name: 'Queues', level: 1 }).waitFor();
    });
  });
}
