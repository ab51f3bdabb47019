// Accessibility: axe-core (WCAG 2 A and AA rules) on the hosted pages and on every console
// page, in the light and the dark scheme; no serious or critical violation may stand.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { cli } from './helpers';

const ADMIN = 'a11y.admin@demo.example';
const PASSWORD = 'a11y admin password';

test.beforeAll(() => {
  try {
    cli('user', 'create', '--org', 'demo', '--email', ADMIN, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    // A worker started again after a failure finds the user there.
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('already exists')) throw e;
  }
});

async function serious(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  // axe ran its rules on this page (a page it could not analyse would pass nothing).
  expect(result.passes.length).toBeGreaterThan(0);
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('the hosted pages have no serious accessibility violations', async ({ page }) => {
  const found: Record<string, string[]> = {};
  for (const path of ['/o/demo/', '/o/demo/login', '/o/demo/signup', '/o/demo/password/forgot']) {
    await page.goto(path);
    found[path] = await serious(page);
  }
  await page.goto('/o/demo/login');
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  found['/o/demo/account'] = await serious(page);
  expect(found).toEqual(Object.fromEntries(Object.keys(found).map((k) => [k, []])));
  // The check can fail: an image without a text alternative, planted, is found.
  await page.evaluate(() => document.body.append(Object.assign(document.createElement('img'), { src: 'data:,' })));
  expect((await serious(page)).join('\n')).toContain('image-alt');
});

test('every console page has no serious accessibility violations', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('/console/demo');
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/console\/demo$/);
  const found: Record<string, string[]> = {};
  for (const tab of ['', '/apps', '/users', '/sessions', '/deliveries', '/policy', '/audit', '/keys', '/templates', '/templates/password_reset']) {
    await page.goto(`/console/demo${tab}`);
    await expect(page.getByTestId('signed-in-org')).toContainText('demo');
    await page.waitForLoadState('networkidle');
    found[tab || '/'] = await serious(page);
    // The dark scheme has its own colours: their contrast is checked too.
    await page.emulateMedia({ colorScheme: 'dark' });
    found[`${tab || '/'} (dark)`] = await serious(page);
    await page.emulateMedia({ colorScheme: 'light' });
  }
  // One app's page (its settings in sections, sessions, deliveries, secret).
  await page.goto('/console/demo/apps');
  await page.getByTestId('app-edit').first().click();
  await expect(page.getByTestId('app-detail-name')).toBeVisible();
  await page.waitForLoadState('networkidle');
  found['/apps/{id}'] = await serious(page);
  expect(found).toEqual(Object.fromEntries(Object.keys(found).map((k) => [k, []])));
});
