// Layout at a laptop half-screen, dark mode, and visible keyboard focus.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MODES, createFirstAdmin, screenshot, setUpApp, visit } from '../support/harness.mjs';

/** Whether the page itself scrolls sideways (a wide table may scroll inside its own box). */
function overflowsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

for (const mode of MODES) {
  describe(`layout (${mode.name})`, () => {
    const app = setUpApp(mode);

    test('pages fit a half-screen laptop window and work in dark mode', async () => {
      const { page } = app;
      await createFirstAdmin(app);
      await page.setViewportSize({ width: 640, height: 800 });
      for (const path of ['/settings/users', '/queues', '/settings']) {
        await visit(app, path);
        assert.equal(await overflowsSideways(page), false, `${path} scrolls sideways at 640 px`);
      }
      await visit(app, '/settings/users');
      await screenshot(app, 'narrow-users');

      await page.emulateMedia({ colorScheme: 'dark' });
      await page.setViewportSize({ width: 1280, height: 800 });
      await visit(app, '/settings/users');
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(background, 'rgb(246, 247, 249)', 'dark mode changes the page background');
      await screenshot(app, 'dark-users');
      await page.emulateMedia({ colorScheme: 'light' });
    });

    test('keyboard focus is visible', async () => {
      const { page } = app;
      await visit(app, '/queues');
      // The first Tab reaches the skip link, which appears when focused.
      await page.keyboard.press('Tab');
      const skip = page.getByRole('link', { name: 'Skip to main content' });
      assert.equal(await skip.evaluate((el) => el === document.activeElement), true);
      const box = await skip.boundingBox();
      assert.ok(box && box.y >= 0, 'the focused skip link is on screen');
      await page.keyboard.press('Tab');
      const outline = await page.evaluate(() => {
        const style = getComputedStyle(document.activeElement);
        return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
      });
      assert.notEqual(outline.style, 'none', 'the focused link shows an outline');
      assert.ok(outline.width >= 2, `outline is at least 2px (was ${outline.width})`);
      await screenshot(app, 'focus-visible');
    });
  });
}
