// The demo shop (examples/demo-shop) against the real provider: the two use cases of DESIGN §1.
// Sign in to the catalog (standard app) with a password and a security key, go on to checkout (privileged app:
// MFA), sign out from checkout (Single Logout): the catalog is still browsable, checkout asks for
// sign-in again.
import { expect, test } from '@playwright/test';
import { addVirtualAuthenticator, cli, collectErrors, signInWithPassword } from './helpers';

const CATALOG = 'http://127.0.0.1:9001/';
const CHECKOUT = 'http://127.0.0.1:9002/';

test('catalog survives Single Logout from checkout; checkout asks to sign in again', async ({ page }) => {
  const errors = collectErrors(page);
  await addVirtualAuthenticator(page);
  cli('user', 'create', '--org', 'demo', '--email', 'shopper@demo.example', '--password', 'shopper password');

  // A security key first (the checkout needs a second factor; a passkey would also sign the
  // user straight back in through the sign-in page's autofill at the end).
  await signInWithPassword(page, 'demo', 'shopper@demo.example', 'shopper password');
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  await page.getByTestId('add-security-key').click();
  await expect(page.getByTestId('credential')).toHaveCount(1);
  // A key added during a sign-in counts from the next one (it cannot step up the sign-in it was
  // added in): sign out, and sign in with the password and the key.
  await page.getByTestId('sign-out').click();
  await signInWithPassword(page, 'demo', 'shopper@demo.example', 'shopper password');
  await expect(page).toHaveURL(/\/o\/demo\/login\/key/);
  await page.getByTestId('webauthn-go').click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);

  // The catalog: single sign-on, no password again.
  await page.goto(CATALOG);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(CATALOG);
  await expect(page.getByTestId('signed-in')).toContainText('shopper@demo.example');

  // Checkout: the privileged app needs MFA, which this sign-in has (password and key): single
  // sign-on again.
  await page.goto(CHECKOUT);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(CHECKOUT);
  await expect(page.getByTestId('signed-in')).toContainText('shopper@demo.example');
  await page.getByTestId('place-order').click();
  await expect(page.getByTestId('order-placed')).toBeVisible();

  // Single Logout from checkout: Portcullis ends the IdP session and comes back to checkout.
  await page.goto(CHECKOUT);
  await page.getByTestId('single-logout').click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:9002\/\?state=/, { timeout: 15_000 });
  await expect(page.getByTestId('sign-in')).toBeVisible();

  // The catalog is still browsable, and learns (back-channel) that the IdP session ended.
  await expect(async () => {
    await page.goto(CATALOG);
    await expect(page.getByTestId('idp-signed-out')).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId('catalog')).toBeVisible();
  await expect(page.getByTestId('signed-in')).toContainText('shopper@demo.example');

  // Checkout asks for sign-in again: the IdP session is gone, so the sign-in form shows.
  await page.goto(CHECKOUT);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(/\/o\/demo\/login\?/);
  await expect(page.getByLabel('Password')).toBeVisible();
  expect(errors).toEqual([]);
});
