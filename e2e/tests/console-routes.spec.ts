// The console's URLs: every page and object has one (`/console/{org}/apps/{id}`, …), a deep link
// survives the sign-in and a reload, the back button goes back; times read relative to now and
// lifetimes as durations.
import { expect, test, type Page } from '@playwright/test';
import { cli, collectErrors } from './helpers';

const ADMIN = 'routes.admin@demo.example';
const PASSWORD = 'routes admin password';

test.beforeAll(() => {
  // Once per run (a worker started again after a failure finds them there).
  try {
    cli('user', 'create', '--org', 'demo', '--email', ADMIN, '--password', PASSWORD, '--role', 'admin');
    cli('app', 'create', '--org', 'demo', '--name', 'Routed app', '--redirect-uri', 'https://routed.example/cb');
  } catch (e) {
    if (!String((e as { stdout?: Buffer }).stdout ?? e).includes('already exists')) throw e;
  }
});

/** Opens `path`: the console starts the sign-in to the org of the URL by itself. */
async function openSignedIn(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('a deep link survives the sign-in and a reload', async ({ page }) => {
  const errors = collectErrors(page);
  await openSignedIn(page, '/console/demo/deliveries?status=failed');
  // Back on the page the link named, not the dashboard, and without the code in the address.
  await expect(page).toHaveURL(/\/console\/demo\/deliveries\?status=failed$/);
  await expect(page.getByTestId('deliveries-page')).toBeVisible();
  await expect(page.getByTestId('deliveries-filter-failed')).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('deliveries-filter-all')).not.toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('dashboard-page')).toHaveCount(0);

  // A reload signs in again silently (the IdP session lives) and comes back to the same page.
  await page.reload();
  await expect(page).toHaveURL(/\/console\/demo\/deliveries\?status=failed$/);
  await expect(page.getByTestId('deliveries-page')).toBeVisible();
  await expect(page.getByTestId('deliveries-filter-failed')).toHaveAttribute('aria-current', 'page');

  // The filter is a link like any other: "All" drops the status from the URL.
  await page.getByTestId('deliveries-filter-all').click();
  await expect(page).toHaveURL(/\/console\/demo\/deliveries$/);
  await expect(page.getByTestId('deliveries-filter-all')).toHaveAttribute('aria-current', 'page');
  expect(errors).toEqual([]);
});

test('the back button returns to the previous page', async ({ page }) => {
  await openSignedIn(page, '/console/demo/apps');
  await expect(page).toHaveURL(/\/console\/demo\/apps$/);
  await expect(page.getByTestId('apps-page')).toBeVisible();
  await page.getByTestId('tab-users').click();
  await expect(page).toHaveURL(/\/console\/demo\/users$/);
  await expect(page.getByTestId('users-page')).toBeVisible();
  await page.getByTestId('tab-audit').click();
  await expect(page.getByTestId('audit-page')).toBeVisible();

  await page.goBack();
  await expect(page).toHaveURL(/\/console\/demo\/users$/);
  await expect(page.getByTestId('users-page')).toBeVisible();
  await expect(page.getByTestId('audit-page')).toHaveCount(0);
  await page.goBack();
  await expect(page).toHaveURL(/\/console\/demo\/apps$/);
  await expect(page.getByTestId('apps-page')).toBeVisible();
  await page.goForward();
  await expect(page.getByTestId('users-page')).toBeVisible();

  // A user's details have their URL too, and back closes them.
  const row = page.getByTestId('user-row').filter({ hasText: ADMIN });
  await row.getByTestId('user-details').click();
  await expect(page).toHaveURL(/\/console\/demo\/users\/[^/]+$/);
  await expect(page.getByTestId('user-detail')).toContainText(ADMIN);
  await page.goBack();
  await expect(page).toHaveURL(/\/console\/demo\/users$/);
  await expect(page.getByTestId('user-detail')).toHaveCount(0);
});

test("an app's own URL opens its editor, with durations for people", async ({ page }) => {
  const errors = collectErrors(page);
  await openSignedIn(page, '/console/demo/apps');
  const edit = page.getByTestId('app-row').filter({ hasText: 'Routed app' }).getByTestId('app-edit');
  const href = await edit.getAttribute('href');
  expect(href).toMatch(/^\/console\/demo\/apps\/[^/]+$/);

  // Opened directly (a fresh load: the console signs in again, silently).
  await page.goto(href as string);
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByTestId('app-editor')).toBeVisible();
  await expect(page.getByTestId('edit-name')).toHaveValue('Routed app');
  // Lifetimes read as durations, not seconds or bare minutes.
  await expect(page.getByTestId('edit-lifetime')).toHaveValue(/^\d+ (min|h|days?)( \d+ (h|min))*$/);

  // A bare number is refused (minutes or seconds would be a guess); the editor stays.
  await page.getByTestId('edit-lifetime').fill('480');
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('app-editor').getByRole('alert')).toContainText('unit');
  await expect(page).toHaveURL(new RegExp(`${href}$`));

  await page.getByTestId('edit-lifetime').fill('8h');
  await page.getByTestId('edit-idle').fill('1 h 30 min');
  await page.getByTestId('edit-save').click();
  await expect(page).toHaveURL(/\/console\/demo\/apps$/);
  await expect(page.getByTestId('app-editor')).toHaveCount(0);
  await edit.click();
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByTestId('edit-lifetime')).toHaveValue('8 h');
  await expect(page.getByTestId('edit-idle')).toHaveValue('1 h 30 min');

  // The session policy too: a bare number does not save; a duration does, and reads back.
  await page.getByTestId('tab-policy').click();
  await expect(page).toHaveURL(/\/console\/demo\/policy$/);
  await page.getByTestId('policy-idle').fill('45');
  await page.getByTestId('policy-idle').blur();
  await expect(page.getByTestId('policy-page').getByRole('alert')).toContainText('Idle timeout');
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-saved')).toHaveCount(0);
  await page.getByTestId('policy-idle').fill('45 min');
  await page.getByTestId('policy-idle').blur();
  await expect(page.getByTestId('policy-page').getByRole('alert')).toHaveCount(0);
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-saved')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('policy-idle')).toHaveValue('45 min');
  expect(errors).toEqual([]);
});

test('times read relative to now, with the exact local time on hover', async ({ page }) => {
  await openSignedIn(page, '/console/demo/sessions');
  const when = page.getByTestId('session-row').first().locator('time').first();
  await expect(when).toHaveText(/^(just now|\d+ (min|h|days?) ago)$/);
  await expect(when).toHaveAttribute('datetime', /^\d{4}-\d{2}-\d{2}T/);
  await expect(when).toHaveAttribute('title', /\d{4}/);
  await expect(page.getByTestId('sessions-page')).not.toContainText(/\d{4}-\d{2}-\d{2}T\d{2}:/);
});
