// The console's app detail page and the dashboard's charts (issue 19, items 4 and 9): an app at
// its own URL survives a reload and shows its settings in sections, its live app sessions (each
// linked to its sign-in session), its logout deliveries with their outcomes, and the rotation
// of its secret (the new secret shown once; the old one refused at the token endpoint); the
// dashboard shows sign-ins over 24 hours and 7 days with axes and a legend, and the logout
// deliveries per app.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { cli, collectErrors, signInWithPassword } from './helpers';

const ADMIN = 'detail.admin@demo.example';
const SHOPPER = 'detail.shopper@demo.example';
const PASSWORD = 'detail admin password';
const CB = 'https://detail.example/cb';
// A path the demo shop does not serve: 404, so the delivery fails for good at once.
const NO_RECEIVER = 'http://127.0.0.1:9001/no-such-receiver';
const NAME = `Detail app ${Date.now()}`;

let app: { client_id: string; client_secret: string } | null = null;

test.beforeAll(() => {
  for (const email of [ADMIN, SHOPPER]) {
    const role = email === ADMIN ? ['--role', 'admin'] : [];
    try {
      cli('user', 'create', '--org', 'demo', '--email', email, '--password', PASSWORD, ...role);
    } catch (e) {
      if (!String((e as { stdout?: Buffer }).stdout ?? e).includes('already exists')) throw e;
    }
  }
  app = JSON.parse(cli('app', 'create', '--org', 'demo', '--name', NAME, '--redirect-uri', CB,
    '--backchannel-logout-uri', NO_RECEIVER));
});

/** Opens `path` signed in as the admin; resolves with the bearer token the console sends. */
async function openSignedIn(page: Page, path: string): Promise<string> {
  const call = page.waitForRequest((r) => r.url().includes('/api/v1/orgs/demo/') && !!r.headers()['authorization']);
  await page.goto(path);
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  return (await call).headers()['authorization'];
}

/** The app's side of a sign-in through the browser's IdP session: code, then tokens. */
async function connect(request: APIRequestContext, a: { client_id: string; client_secret: string }): Promise<void> {
  const authorize = await request.get(
    `/o/demo/authorize?response_type=code&client_id=${a.client_id}&redirect_uri=${encodeURIComponent(CB)}&scope=openid&state=s`,
    { maxRedirects: 0 },
  );
  expect(authorize.status()).toBe(303);
  const code = new URL(authorize.headers()['location']).searchParams.get('code');
  expect(code).toBeTruthy();
  const token = await request.post('/o/demo/token', {
    form: { grant_type: 'authorization_code', code: code as string, redirect_uri: CB },
    headers: { Authorization: `Basic ${Buffer.from(`${a.client_id}:${a.client_secret}`).toString('base64')}` },
  });
  expect(token.status()).toBe(200);
}

/** What the token endpoint says to `secret`: a code that does not exist is only looked at
 *  after the client authenticated (401 `invalid_client` before, 400 `invalid_grant` after). */
async function tokenAnswer(request: APIRequestContext, clientId: string, secret: string): Promise<[number, string]> {
  const res = await request.post('/o/demo/token', {
    form: { grant_type: 'authorization_code', code: 'no-such-code', redirect_uri: CB },
    headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
  });
  return [res.status(), (await res.json()).error];
}

test("an app's detail page: sections, live sessions, deliveries and a new secret", async ({ browser, page, request }) => {
  test.skip(!app, 'the app is made once per database');
  test.setTimeout(60_000);
  const { client_id: clientId, client_secret: oldSecret } = app as { client_id: string; client_secret: string };
  const errors = collectErrors(page);

  // A shopper signs in to the app.
  const shopper = await (await browser.newContext()).newPage();
  await signInWithPassword(shopper, 'demo', SHOPPER, PASSWORD);
  await expect(shopper).toHaveURL(/\/o\/demo\/account$/);
  await connect(shopper.request, app as { client_id: string; client_secret: string });

  // The admin finds the app's own URL in the list, opens it directly and reloads it.
  const bearer = await openSignedIn(page, '/console/demo/apps');
  const href = await page.getByTestId('app-row').filter({ hasText: NAME }).getByTestId('app-edit').getAttribute('href');
  expect(href).toMatch(/^\/console\/demo\/apps\/[^/]+$/);
  await page.goto(href as string);
  await expect(page.getByTestId('app-detail-name')).toHaveText(NAME);
  await page.reload();
  await expect(page).toHaveURL(new RegExp(`${href}$`));
  await expect(page.getByTestId('app-detail-name')).toHaveText(NAME);
  await expect(page.getByTestId('app-client-id')).toHaveText(clientId);

  // Settings in sections with headings; the presets explained.
  for (const [section, heading] of [['signin', 'Sign-in'], ['session', 'Session rules'], ['tokens', 'Tokens'], ['logout', 'Logout']]) {
    await expect(page.getByTestId(`app-section-${section}`).getByRole('heading', { name: heading })).toBeVisible();
  }
  await expect(page.getByTestId('app-presets')).toContainText('Privileged');
  await expect(page.getByTestId('app-presets')).toContainText('outlives it');
  await expect(page.getByTestId('edit-access-ttl')).toHaveValue(/^\d+ (s|min|h)/);
  await expect(page.getByTestId('edit-backchannel')).toHaveValue(NO_RECEIVER);

  // The shopper's live app session, linked to its sign-in session.
  const row = page.getByTestId('app-detail-session-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(SHOPPER);
  await expect(page.getByTestId('app-sessions-count')).toHaveText('1 live app session.');
  await page.screenshot({ path: 'screenshots/app-detail.png', fullPage: true });
  const sessionHref = await row.getByTestId('app-detail-session-link').getAttribute('href');
  expect(sessionHref).toMatch(/^\/console\/demo\/sessions\/[^/]+$/);
  await row.getByTestId('app-detail-session-link').click();
  await expect(page).toHaveURL(new RegExp(`${sessionHref}$`));
  await expect(page.getByTestId('session-detail')).toContainText(SHOPPER);
  await page.goBack();
  await expect(page.getByTestId('app-detail-name')).toHaveText(NAME);

  // Secret rotation: a confirmation that says what happens, then the new secret, once.
  expect(await tokenAnswer(request, clientId, oldSecret)).toEqual([400, 'invalid_grant']);
  await page.getByTestId('app-rotate-secret').click();
  await expect(page.getByTestId('app-rotate-confirm')).toContainText('stops working');
  await page.getByTestId('app-rotate-secret-confirm').click();
  const newSecret = (await page.getByTestId('app-new-secret-value').textContent()) ?? '';
  expect(newSecret.length).toBeGreaterThan(20);
  expect(newSecret).not.toBe(oldSecret);
  expect(await tokenAnswer(request, clientId, oldSecret)).toEqual([401, 'invalid_client']);
  expect(await tokenAnswer(request, clientId, newSecret)).toEqual([400, 'invalid_grant']);
  await page.reload();
  await expect(page.getByTestId('app-detail-name')).toHaveText(NAME);
  await expect(page.getByTestId('app-new-secret')).toHaveCount(0);

  // The admin revokes the shopper's session: the app is told (its receiver is missing: the
  // delivery fails), the detail page shows the outcome and links to all the app's deliveries.
  const sid = (sessionHref as string).split('/').pop();
  const revoke = await request.post(`/api/v1/orgs/demo/sessions/${sid}/revoke`, { headers: { Authorization: bearer } });
  expect(revoke.status()).toBe(200);
  const appId = (href as string).split('/').pop();
  await expect.poll(async () => {
    const res = await request.get(`/api/v1/orgs/demo/logout-deliveries?app_id=${appId}`, { headers: { Authorization: bearer } });
    return (await res.json()).items.map((d: { status: string }) => d.status);
  }).toEqual(['failed']);
  await page.reload();
  await expect(page.getByTestId('app-delivery-row')).toHaveCount(1);
  await expect(page.getByTestId('app-delivery-row')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('app-delivery-row')).toContainText('HTTP 404');
  await expect(page.getByTestId('app-sessions-count')).toHaveText('Nobody is signed in to this app now.');
  const all = page.getByTestId('app-deliveries-all');
  await expect(all).toHaveAttribute('href', /\/console\/demo\/deliveries\?app_id=[^&]+$/);
  await all.click();
  await expect(page.getByTestId('deliveries-page')).toBeVisible();
  await expect(page.getByTestId('delivery-row').first()).toHaveAttribute('data-status', 'failed');

  // The dashboard: both ranges with axes, ticks and a legend, the numbers on hover, a table for
  // screen readers; and the deliveries per app.
  await page.getByTestId('tab-dashboard').click();
  for (const [chart, buckets, labels] of [['chart-24h', 24, 8], ['chart-7d', 7, 7]] as const) {
    const figure = page.getByTestId(chart);
    await expect(figure).toBeVisible();
    await expect(figure.locator('.chart-ytick').first()).toHaveText('0');
    expect(await figure.locator('.chart-ytick').count()).toBeGreaterThanOrEqual(2);
    await expect(figure.locator('.chart-xtick')).toHaveCount(labels);
    await expect(figure.locator('.chart-axis')).toHaveCount(2);
    await expect(figure.locator('.chart-legend')).toContainText('Sign-ins');
    await expect(figure.locator('.chart-legend')).toContainText('Failed sign-ins');
    await expect(figure.locator('.chart-bucket title')).toHaveCount(buckets);
    await expect(figure.locator('.chart-bucket title').last()).toHaveText(/: \d+ sign-ins, \d+ failed$/);
    await expect(figure.locator('table.visually-hidden tbody tr')).toHaveCount(buckets);
  }
  // The admin's own sign-ins count in the last 24 hours and the week.
  await expect(page.getByTestId('chart-24h-total')).toHaveText(/^[1-9]\d* sign-ins, \d+ failed$/);
  await expect(page.getByTestId('chart-7d-total')).toHaveText(/^[1-9]\d* sign-ins, \d+ failed$/);
  const mine = page.getByTestId('delivery-stats-row').filter({ hasText: NAME });
  await expect(mine).toHaveCount(1);
  await expect(mine.locator('td').nth(2)).toHaveText('1');
  await page.screenshot({ path: 'screenshots/dashboard-charts.png', fullPage: true });
  expect(errors).toEqual([]);
});
