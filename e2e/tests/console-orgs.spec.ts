// Operators (admins of the platform org, `system`) manage orgs in the console: create one with
// its signing algorithm, then disable it after a confirmation that names the effect; its
// discovery then answers as disabled. Other orgs' admins have no Orgs link.
import { expect, test, type Page } from '@playwright/test';
import { cli, collectErrors } from './helpers';

const OPERATOR = 'operator@system.example';
const PASSWORD = 'operator password';

test.beforeAll(() => {
  try {
    cli('user', 'create', '--org', 'system', '--email', OPERATOR, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    if (!`${e}${(e as { stdout?: Buffer }).stdout ?? ''}`.includes('already exists')) throw e;
  }
});

async function signInAsOperator(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page).toHaveURL(/\/o\/system\/login/);
  await page.getByLabel('Email').fill(OPERATOR);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('an operator creates an org, disables it after confirming, and its discovery refuses', async ({ page, request }) => {
  const errors = collectErrors(page);
  const slug = `ops-${Date.now().toString(36)}`;
  await page.setViewportSize({ width: 1280, height: 900 });
  await signInAsOperator(page, '/console/system');
  await expect(page).toHaveURL(/\/console\/system$/);
  await page.getByTestId('tab-orgs').click();
  await expect(page).toHaveURL(/\/console\/system\/orgs$/);
  await expect(page.getByTestId('org-row').filter({ hasText: 'demo' }).first()).toBeVisible();

  // A bad slug is refused beside its field, and nothing is created.
  await page.getByTestId('org-slug').fill('Not A Slug');
  await page.getByTestId('org-create').click();
  await expect(page.getByTestId('field-error-slug')).toBeVisible();
  await expect(page.locator(`[data-testid=org-row][data-slug="Not A Slug"]`)).toHaveCount(0);

  // Create it with RS256 keys.
  await page.getByTestId('org-slug').fill(slug);
  await page.getByTestId('org-name').fill('Ops Test Org');
  await page.getByTestId('org-alg').selectOption('RS256');
  await page.getByTestId('org-create').click();
  await expect(page.getByTestId('orgs-notice')).toContainText(`Created ${slug}`);
  await expect(page.getByTestId('field-error-slug')).toHaveCount(0);
  const row = page.locator(`[data-testid=org-row][data-slug="${slug}"]`);
  await expect(row.getByTestId('org-status')).toHaveText('active');
  const discovery = `/o/${slug}/.well-known/openid-configuration`;
  const live = await request.get(discovery);
  expect(live.status()).toBe(200);
  expect((await live.json()).id_token_signing_alg_values_supported).toContain('RS256');
  const jwks = await (await request.get(`/o/${slug}/jwks`)).json();
  expect(jwks.keys.map((k: { kty: string }) => k.kty)).toEqual(['RSA']);
  await page.screenshot({ path: 'screenshots/orgs-1280.png', fullPage: true });

  // Disabling asks first, naming the effect; cancelling changes nothing.
  await row.getByTestId('org-disable').click();
  const dialog = page.getByTestId('org-disable-dialog');
  await expect(dialog).toContainText(`Every session of ${slug} ends at once`);
  await expect(dialog).toContainText('Every endpoint of the org refuses');
  await page.getByTestId('org-disable-cancel').click();
  await expect(dialog).toHaveCount(0);
  expect((await request.get(discovery)).status()).toBe(200);

  await row.getByTestId('org-disable').click();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: 'screenshots/orgs-confirm-390.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByTestId('org-disable-confirm').click();
  await expect(page.getByTestId('orgs-notice')).toContainText(`${slug} is disabled`);
  await expect(row.getByTestId('org-status')).toHaveText('disabled');
  const refused = await request.get(discovery);
  expect(refused.status()).toBe(403);
  expect(await refused.text()).toContain('Organization disabled');

  // Enabled again, it answers again.
  await row.getByTestId('org-enable').click();
  await expect(row.getByTestId('org-status')).toHaveText('active');
  expect((await request.get(discovery)).status()).toBe(200);
  // (The refused slug answered 422, which the browser logs.)
  expect(errors.filter((e) => !e.includes('status of 422'))).toEqual([]);
});

test('an org admin has no Orgs link, and the page at its URL shows the refusal', async ({ page }) => {
  const admin = 'orgs.nonoperator@demo.example';
  try {
    cli('user', 'create', '--org', 'demo', '--email', admin, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    if (!`${e}${(e as { stdout?: Buffer }).stdout ?? ''}`.includes('already exists')) throw e;
  }
  await page.goto('/console/demo/orgs');
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(admin);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/console\/demo\/orgs$/);
  await expect(page.getByTestId('tab-templates')).toBeVisible();
  await expect(page.getByTestId('tab-orgs')).toHaveCount(0);
  await expect(page.getByTestId('form-error')).toContainText('403');
  await expect(page.getByTestId('org-row')).toHaveCount(0);
});
