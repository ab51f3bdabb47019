// An org admin sets up the org's audit sink in the console (Settings → Audit sink): a refused
// URL shows the API's reason, a good one is saved with a toast, the secret is never shown again
// (not in the form, not in the page), the delivery status appears, pausing and removing work.
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { cli, collectErrors } from './helpers';

const ADMIN = 'sink.admin@demo.example';
const PASSWORD = 'audit sink admin password';
const SECRET = 'a sink secret nobody sees again';

test.beforeAll(() => {
  try {
    cli('user', 'create', '--org', 'demo', '--email', ADMIN, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('already exists')) throw e;
  }
});

test('an admin configures the audit sink and sees its status', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/console/demo');
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/console\/demo$/);
  await page.getByTestId('tab-audit-sink').click();
  await expect(page).toHaveURL(/\/console\/demo\/audit-sink$/);
  await expect(page.getByTestId('sink-delete')).toHaveCount(0);

  // Plain http to a public host is refused, with the API's reason.
  await page.getByTestId('sink-url').fill('http://siem.example.com/ingest');
  await page.getByTestId('sink-secret').fill(SECRET);
  await page.getByTestId('sink-save').click();
  await expect(page.getByTestId('audit-sink-page').getByRole('alert')).toContainText('http');

  await page.getByTestId('sink-url').fill('https://siem.example.com/ingest');
  await page.getByTestId('sink-save').click();
  await expect(page.getByTestId('audit-sink-saved')).toBeVisible();
  await expect(page.getByTestId('sink-status')).toBeVisible();
  await expect(page.getByTestId('sink-state')).toHaveText('sending');
  await expect(page.getByTestId('sink-secret')).toHaveValue('');
  expect(await page.content()).not.toContain(SECRET);
  // The page with its status is axe-clean too (the screenshots journey sees it without a sink).
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((x) => x.id)).toEqual([]);

  // Paused, then removed.
  await page.getByTestId('sink-enabled').uncheck();
  await page.getByTestId('sink-save').click();
  await expect(page.getByTestId('sink-state')).toHaveText('paused');
  await page.reload();
  await expect(page.getByTestId('sink-url')).toHaveValue('https://siem.example.com/ingest');
  await expect(page.getByTestId('sink-enabled')).not.toBeChecked();
  await page.getByTestId('sink-delete').click();
  await expect(page.getByTestId('audit-sink-deleted')).toBeVisible();
  await expect(page.getByTestId('sink-status')).toHaveCount(0);
  // The browser logs the refused save (422) and the first look-up of a missing sink (404).
  expect(errors.filter((e) => !/status of (404|422)/.test(e))).toEqual([]);
});
