// The admin console signed in through Portcullis itself (code + PKCE, public client): apps,
// a session revoked after its preview, and the back-channel delivery it caused.
import { expect, test } from '@playwright/test';
import { addVirtualAuthenticator, collectErrors, signInWithPassword } from './helpers';

const CATALOG = 'http://127.0.0.1:9001/';

test('an admin registers an app, revokes a session after the preview and sees the delivery', async ({ browser }) => {
  // A shopper signs in to the catalog (an app with a back-channel logout URI).
  const shopper = await (await browser.newContext()).newPage();
  await shopper.goto(CATALOG);
  await shopper.getByTestId('sign-in').click();
  await expect(shopper).toHaveURL(/\/o\/demo\/login/);
  await shopper.getByLabel('Email').fill('alice@demo.example');
  await shopper.getByLabel('Password').fill('portcullis-demo');
  await shopper.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(shopper.getByTestId('signed-in')).toContainText('alice@demo.example');

  // The admin has a passkey (enrolled on the account page, then signed out)...
  const admin = await (await browser.newContext()).newPage();
  const errors = collectErrors(admin);
  await addVirtualAuthenticator(admin);
  await signInWithPassword(admin, 'demo', 'admin@demo.example', 'portcullis-demo');
  await expect(admin).toHaveURL(/\/o\/demo\/account$/);
  await admin.getByTestId('add-passkey').click();
  await expect(admin.getByTestId('credential')).toHaveCount(1);
  await admin.getByTestId('sign-out').click();
  await expect(admin.getByText('You have signed out.')).toBeVisible();

  // ...so signing in to the console takes it: the passkey alone (autofill), or the password and
  // then the key (the org's MFA policy: users with a key use it).
  await admin.goto('/console/');
  await admin.getByTestId('org').fill('demo');
  await admin.getByTestId('console-sign-in').click();
  await expect(admin).toHaveURL(/\/o\/demo\/login|\/console\/demo$/);
  try {
    await expect(admin).toHaveURL(/\/console\/demo$/, { timeout: 3000 });
  } catch {
    await admin.getByLabel('Email').fill('admin@demo.example');
    await admin.getByLabel('Password').fill('portcullis-demo');
    await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(admin).toHaveURL(/\/o\/demo\/login\/key/);
    await admin.getByTestId('webauthn-go').click();
  }
  // Signed in, the console goes to the org's dashboard, a page with its own URL.
  await expect(admin).toHaveURL(/\/console\/demo$/);
  await expect(admin.getByTestId('signed-in-org')).toContainText('demo');

  // The dashboard first.
  await expect(admin.getByTestId('stat-sessions')).toHaveText(/^\d+$/);
  await expect(admin.getByTestId('activity-chart')).toContainText(/[1-9]\d* sign-ins/);
  await admin.screenshot({ path: 'screenshots/dashboard.png', fullPage: true });

  // Apps: the demo shop's are listed; register a privileged one.
  await admin.getByTestId('tab-apps').click();
  await expect(admin.getByTestId('app-row').filter({ hasText: 'Demo Shop Catalog' })).toHaveCount(1);
  await admin.getByTestId('app-name').fill('Payments');
  await admin.getByTestId('app-redirect').fill('https://payments.example.com/callback');
  await admin.getByTestId('app-profile').selectOption('privileged');
  await admin.getByTestId('app-create').click();
  await expect(admin.getByTestId('app-created')).toContainText('Payments');
  await expect(admin.getByTestId('app-row').filter({ hasText: 'Payments' })).toContainText('privileged');
  await admin.screenshot({ path: 'screenshots/apps.png', fullPage: true });

  // Edit it: a shorter idle timeout, kept after saving.
  await admin.getByTestId('app-row').filter({ hasText: 'Payments' }).getByTestId('app-edit').click();
  await expect(admin.getByTestId('edit-idle')).toHaveValue('10 min');
  await admin.getByTestId('edit-idle').fill('5 min');
  await admin.getByTestId('edit-save').click();
  await expect(admin.getByTestId('app-editor')).toHaveCount(0);
  await admin.getByTestId('app-row').filter({ hasText: 'Payments' }).getByTestId('app-edit').click();
  await expect(admin.getByTestId('edit-idle')).toHaveValue('5 min');
  await admin.getByRole('button', { name: 'Cancel' }).click();

  // The catalog's back-channel receiver gets a test logout token and says so (the demo shop
  // checks it like any other: signature, issuer, audience, event).
  await admin.getByTestId('app-row').filter({ hasText: 'Demo Shop Catalog' }).getByTestId('app-edit').click();
  await admin.getByTestId('app-test-logout').click();
  await expect(admin.getByTestId('app-test-logout-result')).toContainText('Delivered: the app answered HTTP 200');
  await admin.getByRole('button', { name: 'Cancel' }).click();

  // A second app whose back-channel receiver always answers 500 ("Reports").
  await admin.getByTestId('app-name').fill('Reports');
  await admin.getByTestId('app-redirect').fill('https://reports.example.com/callback');
  await admin.getByTestId('app-profile').selectOption('standard');
  await admin.getByTestId('app-backchannel').fill('http://127.0.0.1:9001/broken-backchannel');
  await admin.getByTestId('app-create').click();
  await expect(admin.getByTestId('app-created')).toContainText('Reports');
  const created = await admin.getByTestId('app-created').locator('code').allTextContents();
  const [reportsId, reportsSecret] = created;
  // Its receiver refuses: a test logout token shows what it answered.
  await admin.getByTestId('app-row').filter({ hasText: 'Reports' }).getByTestId('app-edit').click();
  await admin.getByTestId('app-test-logout').click();
  await expect(admin.getByTestId('app-test-logout-result')).toContainText('Not delivered: HTTP 500');
  await admin.getByRole('button', { name: 'Cancel' }).click();
  // The shopper signs in to Reports too: single sign-on through the browser's session (the
  // request shares the browser's cookies); the app's side of the exchange is done here.
  const authorize = await shopper.request.get(
    `/o/demo/authorize?response_type=code&client_id=${reportsId}&redirect_uri=${encodeURIComponent('https://reports.example.com/callback')}&scope=openid&state=s1`,
    { maxRedirects: 0 },
  );
  expect(authorize.status()).toBe(303);
  const code = new URL(authorize.headers()['location']).searchParams.get('code');
  expect(code).toBeTruthy();
  const token = await shopper.request.post('/o/demo/token', {
    form: { grant_type: 'authorization_code', code: code as string, redirect_uri: 'https://reports.example.com/callback' },
    headers: { Authorization: `Basic ${Buffer.from(`${reportsId}:${reportsSecret}`).toString('base64')}` },
  });
  expect(token.status()).toBe(200);

  // Session policy: a shorter idle timeout.
  await admin.getByTestId('tab-policy').click();
  await admin.getByTestId('policy-idle').fill('90 min');
  await admin.getByTestId('policy-idle').blur();
  await admin.getByTestId('policy-save').click();
  await expect(admin.getByTestId('policy-saved')).toBeVisible();
  await expect(admin.getByTestId('policy-idle')).toHaveValue('1 h 30 min');

  // Sign-up: the demo org is open; switch it to invitation only and see the hosted page follow.
  await expect(admin.getByTestId('signup-mode')).toHaveValue('open');
  await admin.getByTestId('signup-mode').selectOption('invite_only');
  await admin.getByTestId('signup-save').click();
  await expect(admin.getByTestId('signup-saved')).toBeVisible();
  const signupPage = await admin.request.get('/o/demo/signup');
  expect(signupPage.status()).toBe(403);
  expect(await signupPage.text()).toContain('by invitation only');
  await admin.getByTestId('signup-mode').selectOption('open');
  await admin.getByTestId('signup-save').click();
  await expect(async () => {
    expect((await admin.request.get('/o/demo/signup')).status()).toBe(200);
  }).toPass({ timeout: 5_000 });

  // The shopper's page lists the session and its apps.
  await admin.getByTestId('tab-users').click();
  await admin.getByTestId('user-row').filter({ hasText: 'alice@demo.example' }).getByTestId('user-details').click();
  await expect(admin.getByTestId('user-session').filter({ hasText: 'demo-catalog' })).toHaveCount(1);

  // Users: the shopper's address is verified; sending an invitation shows as a pending link.
  const shopperRow = admin.getByTestId('user-row').filter({ hasText: 'alice@demo.example' });
  await expect(shopperRow.getByTestId('user-verified')).toHaveText('yes');
  await shopperRow.getByTestId('user-invite').click();
  await expect(admin.getByRole('status').filter({ hasText: 'Invitation sent' })).toHaveCount(1);
  await shopperRow.getByTestId('user-details').click();
  await expect(admin.getByTestId('pending-link')).toContainText('invitation');

  // Sessions: revoke the shopper's, after the preview names the catalog.
  await admin.getByTestId('tab-sessions').click();
  const row = admin.getByTestId('session-row').filter({ hasText: 'demo-catalog' });
  await expect(row).toHaveCount(1);
  await row.getByTestId('session-revoke').click();
  await expect(admin.getByTestId('revoke-preview')).toContainText('demo-catalog');
  await expect(admin.getByTestId('revoke-preview')).toContainText(reportsId);
  await admin.screenshot({ path: 'screenshots/sessions.png', fullPage: true });
  await admin.getByTestId('revoke-confirm').click();
  await expect(admin.getByTestId('session-row').filter({ hasText: 'demo-catalog' })).toHaveCount(0);

  // Deliveries: the catalog's back-channel logout is delivered.
  await admin.getByTestId('tab-deliveries').click();
  await expect(async () => {
    await admin.getByTestId('deliveries-refresh').click();
    await expect(admin.locator('[data-testid="delivery-row"][data-status="delivered"]').filter({ hasText: 'admin_revoked' })).toHaveCount(1, { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  // ...and the one to Reports failed with the 500, kept pending for a retry.
  await expect(async () => {
    await admin.getByTestId('deliveries-refresh').click();
    await expect(admin.locator('[data-testid="delivery-row"][data-status="pending"]').filter({ hasText: 'HTTP 500' })).toHaveCount(1, { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await admin.screenshot({ path: 'screenshots/deliveries.png', fullPage: true });

  // Users and the audit log answer too.
  await admin.getByTestId('tab-users').click();
  await expect(admin.getByTestId('user-row').filter({ hasText: 'alice@demo.example' })).toHaveCount(1);
  await admin.getByTestId('tab-audit').click();
  await admin.getByTestId('audit-action').fill('session.');
  await admin.getByTestId('audit-action').press('Tab');
  await expect(admin.getByTestId('audit-row').filter({ hasText: 'session.ended' }).first()).toBeVisible();
  await expect(admin.getByTestId('audit-row').filter({ hasNotText: 'session.' })).toHaveCount(0);
  expect(errors).toEqual([]);
});
