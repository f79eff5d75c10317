// Scenario 7: repeated wrong passwords are slowed down. With one free failure, the second wrong
// password is still checked, and the attempt right after it must wait.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, MODES, createFirstAdmin, expectAlert, pathOf, screenshot, serverError, setUpApp, signIn, signOut, visit,
} from '../support/harness.mjs';

for (const mode of MODES) {
  describe(`sign-in throttling (${mode.name})`, () => {
    const app = setUpApp(mode, { GATEHOUSE_LOGIN_FREE_FAILURES: '1' });

    test('quick wrong passwords lead to a "Too many failed sign-in attempts" alert', async (t) => {
      const { page } = app;
      await createFirstAdmin(app);
      await signOut(app);
      await visit(app, '/login');

      for (const attempt of [1, 2]) {
        const response = await signIn(app, { email: ADMIN.email, password: `wrong-password-${attempt}` });
        assert.equal((await serverError(response))?.kind, 'invalid_credentials', `attempt ${attempt}`);
      }
      const secondFailureAt = Date.now();
      // Even the right password is refused while the account must wait (1 second after 2 failures).
      const response = await signIn(app, ADMIN);
      const error = await serverError(response);
      const elapsed = Date.now() - secondFailureAt;
      t.diagnostic(`third attempt answered ${elapsed} ms after the second failure`);
      assert.equal(error?.kind, 'too_many_attempts', `third attempt, ${elapsed} ms after the second failure`);
      assert.match(error.message, /^Too many failed sign-in attempts\. Wait \d+ seconds? and try again\.$/);
      assert.equal(pathOf(page), '/login');
      try {
        await expectAlert(page, 'Too many failed sign-in attempts');
      } finally {
        await screenshot(app, 'login-throttled');
      }
      assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
    });
  });
}
