// An org admin sets up the org's audit sink in the console (Settings → Audit sink): a refused
// URL shows the API's reason, a good one is saved with a toast, the secret is never shown again
// (not in the form, not in the page), the delivery status appears, pausing and removing work.
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
  expect(errors.filter((e) => !e.includes('404'))).toEqual([]);
});
