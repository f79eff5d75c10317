// Scenario 5: an address that is not a page.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MODES, arrivedAt, screenshot, setUpApp, visit } from '../support/harness.mjs';

for (const mode of MODES) {
  describe(`unknown address (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('shows "Page not found" with status 404 and a way back', async () => {
      const { page } = app;
      const response = await visit(app, '/no/such/page');
      assert.equal(response.status(), 404);
      await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor();
      assert.equal(await page.title(), 'Page not found · Gatehouse');
      await screenshot(app, '404');

      await page.getByRole('link', { name: 'Go to Gatehouse' }).click();
      await arrivedAt(app, '/setup'); // a new instance starts at the first admin's setup
      await page.getByRole('heading', { name: 'Create the first admin' }).waitFor();
    });
  });
}
