// Security keys and passkeys in Chromium with a CDP virtual authenticator (no hardware).
import { expect, test } from '@playwright/test';
import { addVirtualAuthenticator, cli, collectErrors, signInWithPassword } from './helpers';

test('enrol a passkey on the account page, sign out, sign in with the passkey alone', async ({ page }) => {
  const errors = collectErrors(page);
  await addVirtualAuthenticator(page);
  cli('user', 'create', '--org', 'demo', '--email', 'passkey.user@demo.example', '--password', 'passkey user password');
  await signInWithPassword(page, 'demo', 'passkey.user@demo.example', 'passkey user password');
  await expect(page).toHaveURL(/\/o\/demo\/account$/);

  await page.locator('[data-mode="register"] #credential-name').fill('Laptop passkey');
  await page.getByTestId('add-passkey').click();
  await expect(page.getByTestId('credential')).toHaveCount(1);
  await expect(page.getByTestId('credential')).toContainText('Laptop passkey');
  await expect(page.getByTestId('credential')).toContainText('passkey');

  await page.getByTestId('sign-out').click();
  await expect(page.getByText('You have signed out.')).toBeVisible();
  const probe = await page.request.get('/o/demo/account', { maxRedirects: 0 });
  expect(probe.status()).toBe(303);

  // On the sign-in page the passkey is offered in the email field's autofill (conditional
  // mediation), which the virtual authenticator accepts at once; the button is the fallback.
  await page.goto('/o/demo/login');
  try {
    await expect(page).toHaveURL(/\/o\/demo\/account$/, { timeout: 3000 });
  } catch {
    await page.getByTestId('passkey-login').click();
  }
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  await expect(page.getByTestId('email')).toHaveText('passkey.user@demo.example');
  expect(errors).toEqual([]);
});

test('an org requiring MFA makes a user without a factor enrol one before the account page', async ({ page }) => {
  const errors = collectErrors(page);
  await addVirtualAuthenticator(page);
  cli('org', 'create', 'strict');
  cli('user', 'create', '--org', 'strict', '--email', 'bob@strict.example', '--password', 'bob strict password');
  cli('org', 'set-session-policy', 'strict', '--mfa', 'required');
  // The server's in-process cache keeps policy copies for up to a second.
  await page.waitForTimeout(1100);

  await signInWithPassword(page, 'strict', 'bob@strict.example', 'bob strict password');
  await expect(page).toHaveURL(/\/o\/strict\/login\/enrol/);
  // No session yet: the account page still asks to sign in.
  const probe = await page.request.get('/o/strict/account', { maxRedirects: 0 });
  expect(probe.status()).toBe(303);

  await page.getByTestId('webauthn-go').click();
  await expect(page).toHaveURL(/\/o\/strict\/account$/);
  await expect(page.getByTestId('email')).toHaveText('bob@strict.example');
  await expect(page.getByTestId('credential')).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('the passkey button signs in where autofill is not used', async ({ page }) => {
  const errors = collectErrors(page);
  // Hide conditional mediation so the page falls back to the explicit button.
  await page.addInitScript(() => {
    Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: undefined });
  });
  await addVirtualAuthenticator(page);
  cli('user', 'create', '--org', 'demo', '--email', 'button.user@demo.example', '--password', 'button user password');
  await signInWithPassword(page, 'demo', 'button.user@demo.example', 'button user password');
  await page.getByTestId('add-passkey').click();
  await expect(page.getByTestId('credential')).toHaveCount(1);
  await page.getByTestId('sign-out').click();
  await page.goto('/o/demo/login');
  await expect(page).toHaveURL(/\/o\/demo\/login$/);
  await page.getByTestId('passkey-login').click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  await expect(page.getByTestId('email')).toHaveText('button.user@demo.example');
  expect(errors).toEqual([]);
});

test('step-up accepts a passkey (it verifies the user, as a passkey must)', async ({ page }) => {
  const errors = collectErrors(page);
  await addVirtualAuthenticator(page);
  cli('user', 'create', '--org', 'demo', '--email', 'stepup.passkey@demo.example', '--password', 'step up passkey password');
  await signInWithPassword(page, 'demo', 'stepup.passkey@demo.example', 'step up passkey password');
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  await page.getByTestId('add-passkey').click();
  await expect(page.getByTestId('credential')).toHaveCount(1);
  // The passkey cannot step up the sign-in it was added in; it can the next one.
  await page.goto('/o/demo/login/step-up?return_to=/o/demo/account');
  await page.getByTestId('webauthn-go').click();
  await expect(page.getByText('counts from your next sign-in')).toBeVisible();
  await page.goto('/o/demo/account');
  await page.getByTestId('sign-out').click();
  // Sign in again with the passkey (the explicit button: autofill is hidden so the page waits).
  await page.addInitScript(() => {
    Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable', { value: undefined });
  });
  await page.goto('/o/demo/login');
  await page.getByTestId('passkey-login').click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);

  await page.goto('/o/demo/login/step-up?return_to=/o/demo/account');
  await page.getByTestId('webauthn-go').click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  // The refused step-up above logs its 403 response; nothing else may fail.
  expect(errors.filter((e) => !e.includes('status of 403'))).toEqual([]);
});
