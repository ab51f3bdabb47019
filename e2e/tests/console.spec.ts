// The admin console, served by the real binary under its strict Content-Security-Policy.
import { expect, test, type Page } from '@playwright/test';

/** Collects console errors (CSP violations are reported there too) and uncaught page errors. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      errors.push(`console.error: ${message.text()} (${message.location().url})`);
    }
  });
  page.on('pageerror', (error) => {
    errors.push(`pageerror: ${error.message}`);
  });
  return errors;
}

/** Waits until the app has mounted and shows the deployment from the server's configuration. */
async function expectDeploymentShown(page: Page): Promise<void> {
  await expect(page.getByTestId('load-error')).toHaveCount(0);
  await expect(page.getByTestId('deployment-name')).toHaveText('Portcullis E2E');
  await expect(page.getByTestId('deployment-version')).toHaveText(/^version \S+/);
  // The HTML's loading state is gone once the app has mounted.
  await expect(page.getByTestId('console-loading')).toHaveCount(0);
}

test('readyz reports ready', async ({ request }) => {
  const response = await request.get('/readyz');
  expect(response.status()).toBe(200);
  const body = await response.json();
  expect(body.status).toBe('ready');
});

test('console shows the deployment name and version from the server', async ({ page }) => {
  await page.goto('/console/');
  await expect(page).toHaveTitle('Portcullis console');
  await expectDeploymentShown(page);
});

test('a deep link under /console/ renders the app', async ({ page }) => {
  const response = await page.goto('/console/some/deep/link');
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle('Portcullis console');
  await expectDeploymentShown(page);
});

test('the console loads without console errors or CSP violations', async ({ page }) => {
  const errors = collectErrors(page);
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(message.text())) {
      violations.push(message.text());
    }
  });
  await page.goto('/console/');
  await expectDeploymentShown(page);
  await page.waitForLoadState('networkidle');
  expect(violations).toEqual([]);
  expect(errors).toEqual([]);
});
