// The console's session detail and revoke preview (issue 19, item 5), and lists that scale
// (item 6): a session at its own URL, "Revoke…" shows the server's dry run in a modal dialog,
// and what ends afterwards is exactly what it listed; filters live in the URL and the lists page
// through the admin API 50 rows at a time.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { cli, collectErrors } from './helpers';

const ADMIN = 'sessions.admin@demo.example';
const PASSWORD = 'sessions admin password';
const SHOPPER = 'sessions.shopper@demo.example';
const CATALOG = 'http://127.0.0.1:9001/';
const CB = 'https://keeper.example/cb';

/** Apps created once per run: one whose app sessions outlive the IdP session, one whose don't. */
const apps: Record<string, { client_id: string; client_secret: string }> = {};
let shopperId = '';

test.beforeAll(() => {
  const created = (args: string[]) => {
    try {
      return JSON.parse(cli(...args));
    } catch (e) {
      if (!String((e as { stdout?: Buffer }).stdout ?? e).includes('already exists')) throw e;
      return null;
    }
  };
  created(['user', 'create', '--org', 'demo', '--email', ADMIN, '--password', PASSWORD, '--role', 'admin']);
  const shopper = created(['user', 'create', '--org', 'demo', '--email', SHOPPER, '--password', PASSWORD]);
  if (shopper) shopperId = shopper.id;
  for (const [name, outlives] of [['Keeper', 'true'], ['Passing', 'false']]) {
    apps[name] = created(['app', 'create', '--org', 'demo', '--name', `${name} ${Date.now()}`, '--redirect-uri', CB,
      '--outlives-idp-session', outlives]);
  }
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
async function connect(request: APIRequestContext, app: { client_id: string; client_secret: string }): Promise<void> {
  const authorize = await request.get(
    `/o/demo/authorize?response_type=code&client_id=${app.client_id}&redirect_uri=${encodeURIComponent(CB)}&scope=openid&state=s`,
    { maxRedirects: 0 },
  );
  expect(authorize.status()).toBe(303);
  const code = new URL(authorize.headers()['location']).searchParams.get('code');
  expect(code).toBeTruthy();
  const token = await request.post('/o/demo/token', {
    form: { grant_type: 'authorization_code', code: code as string, redirect_uri: CB },
    headers: { Authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}` },
  });
  expect(token.status()).toBe(200);
}

test('a session at its URL: the revoke preview, and exactly what it listed ends', async ({ browser, page }) => {
  test.skip(!shopperId || !apps.Keeper || !apps.Passing, 'runs once per database (the users and apps exist)');
  // The shopper signs in to the catalog (back-channel logout), Keeper (outlives) and Passing.
  const shopper = await (await browser.newContext()).newPage();
  await shopper.goto(CATALOG);
  await shopper.getByTestId('sign-in').click();
  await shopper.getByLabel('Email').fill(SHOPPER);
  await shopper.getByLabel('Password').fill(PASSWORD);
  await shopper.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(shopper.getByTestId('signed-in')).toContainText(SHOPPER);
  await connect(shopper.request, apps.Keeper);
  await connect(shopper.request, apps.Passing);

  const errors = collectErrors(page);
  const bearer = await openSignedIn(page, `/console/demo/users/${shopperId}`);
  const admin = (path: string) => page.request.get(`/api/v1/orgs/demo${path}`, { headers: { Authorization: bearer } });

  // The user's page lists where they are signed in; the session has its own URL.
  await expect(page.getByTestId('user-session')).toHaveCount(1);
  await expect(page.getByTestId('user-session')).toContainText('demo-catalog');
  await page.getByTestId('user-session-link').click();
  await expect(page).toHaveURL(/\/console\/demo\/sessions\/[0-9a-f-]+$/);
  const sid = page.url().split('/').pop() as string;
  await page.reload();
  await expect(page.getByTestId('session-detail')).toContainText(SHOPPER);
  await expect(page.getByTestId('session-state')).toHaveText('live');
  const rows = page.getByTestId('app-session-row');
  await expect(rows).toHaveCount(3);
  await expect(rows.filter({ hasText: apps.Keeper.client_id })).toContainText('yes');
  await expect(rows.filter({ hasText: apps.Passing.client_id })).toContainText('no');

  // End one app session: the dialog previews just that one; the rest go on.
  const passing = rows.filter({ hasText: apps.Passing.client_id });
  const passingId = await passing.getAttribute('data-id');
  await passing.getByTestId('app-session-end').click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toHaveAttribute('aria-modal', 'true');
  await expect(dialog).toBeFocused();
  await expect(dialog.getByTestId('preview-app-session')).toHaveCount(1);
  await expect(dialog.getByTestId('preview-app-session')).toHaveAttribute('data-id', passingId as string);
  await expect(dialog.getByTestId('preview-summary')).toContainText('0 sign-in session(s) and 1 app session(s)');
  await dialog.getByTestId('revoke-confirm').click();
  await expect(dialog).toHaveCount(0);
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: apps.Passing.client_id })).toHaveCount(0);
  await expect(page.getByTestId('session-state')).toHaveText('live');

  // Revoke…: the dialog opens focused, Escape closes it and focus goes back to the button.
  const revoke = page.getByTestId('session-detail').getByTestId('session-revoke');
  await revoke.click();
  await expect(dialog).toBeFocused();
  await expect(dialog).toHaveAccessibleName('Revoke this sign-in session');
  // Tab stays inside the modal dialog: from Cancel it wraps to Revoke, Shift+Tab back.
  await expect(dialog.getByTestId('revoke-confirm')).toBeEnabled();
  await dialog.getByTestId('revoke-cancel').focus();
  await page.keyboard.press('Tab');
  await expect(dialog.getByTestId('revoke-confirm')).toBeFocused();
  await page.keyboard.press('Shift+Tab');
  await expect(dialog.getByTestId('revoke-cancel')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await expect(revoke).toBeFocused();

  // Open it again: the preview names both remaining app sessions (the outliving one too), the
  // catalog as told, and nothing kept.
  await revoke.click();
  const listed = dialog.getByTestId('preview-app-session');
  await expect(listed).toHaveCount(2);
  const previewed = (await listed.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).sort();
  const shown = (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).sort();
  expect(previewed).toEqual(shown);
  await expect(listed.filter({ hasText: apps.Keeper.client_id })).toContainText('outlives sign-outs');
  await expect(dialog.getByTestId('preview-summary')).toContainText('1 sign-in session(s) and 2 app session(s)');
  await expect(dialog.getByTestId('preview-told')).toContainText('demo-catalog');
  await expect(dialog.getByTestId('preview-kept')).toContainText('none');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: 'screenshots/session-revoke-1280.png', fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: 'screenshots/session-revoke-390.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await dialog.getByTestId('revoke-confirm').click();
  await expect(dialog).toHaveCount(0);

  // The effect is the preview: the session ended by the admin, and exactly the previewed app
  // sessions with it (none of the user's app sessions is left; the one ended before stays ended).
  await expect(page.getByTestId('session-state')).toHaveText('ended (admin_revoked)');
  await expect(rows).toHaveCount(0);
  const session = await (await admin(`/sessions/${sid}`)).json();
  expect(session.ended_at).toBeTruthy();
  expect(session.end_reason).toBe('admin_revoked');
  expect(session.app_sessions).toEqual([]);
  const left = await (await admin(`/users/${shopperId}/sessions`)).json();
  expect(left.total).toBe(0);
  const live = await (await admin(`/sessions?user_id=${shopperId}`)).json();
  expect(live.total).toBe(0);
  // The catalog was told, as the preview said.
  await expect(async () => {
    const d = await (await admin('/logout-deliveries?status=delivered')).json();
    expect(d.items.filter((x: { session_id: string; client_id: string }) => x.session_id === sid && x.client_id === 'demo-catalog')).toHaveLength(1);
  }).toPass({ timeout: 10_000 });
  expect(errors).toEqual([]);
});

test('a filtered list survives a reload, and paging moves through it', async ({ page }) => {
  const errors = collectErrors(page);
  const bearer = await openSignedIn(page, '/console/demo/users');
  await expect(page.getByTestId('users-page')).toBeVisible();
  // 60 users through the admin API, all matching one search (and unverified).
  const tag = `pager${Date.now()}`;
  for (let i = 0; i < 60; i++) {
    const r = await page.request.post('/api/v1/orgs/demo/users', {
      headers: { Authorization: bearer },
      data: { email: `${tag}-${String(i).padStart(2, '0')}@demo.example` },
    });
    expect(r.status()).toBe(201);
  }

  await page.getByTestId('user-search').fill(tag);
  await page.getByTestId('user-search').press('Enter');
  await page.getByTestId('user-filter-verified').selectOption('false');
  await expect(page).toHaveURL(new RegExp(`/console/demo/users\\?q=${tag}&verified=false$`));
  await expect(page.getByTestId('pager-range')).toHaveText('1–50 of 60');
  await expect(page.getByTestId('user-row')).toHaveCount(50);
  await expect(page.getByTestId('pager-prev')).toBeDisabled();

  // A reload keeps the filters (signed in again silently).
  await page.reload();
  await expect(page.getByTestId('pager-range')).toHaveText('1–50 of 60');
  await expect(page.getByTestId('user-search')).toHaveValue(tag);
  await expect(page.getByTestId('user-filter-verified')).toHaveValue('false');

  // Next: the last 10; the URL names the page; back returns to the first.
  await page.getByTestId('pager-next').click();
  await expect(page).toHaveURL(/&page=2$/);
  await expect(page.getByTestId('pager-range')).toHaveText('51–60 of 60');
  await expect(page.getByTestId('user-row')).toHaveCount(10);
  await expect(page.getByTestId('pager-next')).toBeDisabled();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: 'screenshots/users-paged-390.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: 'screenshots/users-paged-1280.png', fullPage: true });
  await page.goBack();
  await expect(page.getByTestId('pager-range')).toHaveText('1–50 of 60');

  // The verified filter is applied by the server: none of them is verified.
  await page.getByTestId('user-filter-verified').selectOption('true');
  await expect(page.getByTestId('pager-range')).toHaveText('0 of 0');
  await expect(page.getByTestId('user-row')).toHaveCount(0);

  // The audit log keeps its filters in the URL too.
  await page.goto('/console/demo/audit?action=user.');
  await expect(page.getByTestId('audit-action')).toHaveValue('user.');
  await expect(page.getByTestId('audit-row').first()).toBeVisible();
  await expect(page.getByTestId('audit-row').filter({ hasNotText: 'user.' })).toHaveCount(0);
  await expect(page.getByTestId('pager-range')).toHaveText(/^1–50 of \d+$/);
  expect(errors).toEqual([]);
});
