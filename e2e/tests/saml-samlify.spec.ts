// A second, independent SAML SP in Chromium (issue 20, Must show): samlify (npm) registered
// through the admin API from its own metadata (`saml.sp_metadata`), then SP-initiated SSO over
// the Redirect and the POST binding: the user opens the SP, is sent to Portcullis's sign-in,
// signs in, and the SP shows the NameID and attributes of the Response it verified itself.
import { expect, test, type APIRequestContext } from '@playwright/test';
import { cli, collectErrors } from './helpers';
import { startSamlifySp, type SamlifySp } from '../sp/samlify-sp';

const USER = 'samlify.user@demo.example';
const PASSWORD = 'samlify user password';
const NAME = 'Sam Lify';

let sp: SamlifySp | null = null;
let bearer = '';

/** An admin API token: a service app with the admin role, client credentials. */
async function adminToken(request: APIRequestContext): Promise<string> {
  const svc = JSON.parse(cli('app', 'create', '--org', 'demo', '--name', `samlify registrar ${Date.now()}`,
    '--type', 'service', '--role', 'admin'));
  const basic = Buffer.from(`${svc.client_id}:${svc.client_secret}`).toString('base64');
  const token = await request.post('/o/demo/token', {
    form: { grant_type: 'client_credentials' },
    headers: { Authorization: `Basic ${basic}` },
  });
  expect(token.status()).toBe(200);
  return `Bearer ${(await token.json()).access_token}`;
}

test.beforeAll(async ({ request }) => {
  try {
    cli('user', 'create', '--org', 'demo', '--email', USER, '--password', PASSWORD, '--name', NAME);
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('already exists')) throw e;
  }
  bearer = await adminToken(request);
  const idpMetadata = await request.get('/o/demo/saml/metadata');
  expect(idpMetadata.status()).toBe(200);
  sp = await startSamlifySp(await idpMetadata.text());
  // Registered from the SP's metadata as samlify writes it, nothing typed.
  const created = await request.post('/api/v1/orgs/demo/apps', {
    headers: { Authorization: bearer },
    data: { name: `samlify SP ${Date.now()}`, app_type: 'saml', saml: { sp_metadata: sp.metadata } },
  });
  expect(created.status(), await created.text()).toBe(201);
  const saml = (await created.json()).app.saml;
  expect(saml.sp_entity_id).toBe(sp.entityId);
  expect(saml.acs_urls).toEqual([{ index: 0, binding: 'post', url: `${sp.url}/acs` }]);
  expect(saml.slo_url).toBe(`${sp.url}/slo`);
});

test.afterAll(async () => {
  await sp?.close();
});

for (const binding of ['redirect', 'post'] as const) {
  test(`samlify signs in through Portcullis (AuthnRequest over ${binding})`, async ({ browser }) => {
    const s = sp as SamlifySp;
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${s.url}/login?binding=${binding}&relay=${binding}-journey`);
    if (binding === 'post') {
      // The SP's own page posts the AuthnRequest to Portcullis (a cross-site POST).
      await page.getByRole('button', { name: 'Continue to the identity provider' }).click();
    }
    await expect(page).toHaveURL(/\/o\/demo\/login/);
    await page.getByLabel('Email').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // Portcullis's form-post page submits the signed Response to the SP's ACS; samlify verifies.
    await expect(page.getByRole('heading', { name: 'Signed in to the samlify SP' })).toBeVisible();
    expect(new URL(page.url()).origin).toBe(s.url);
    await expect(page.locator('#name-id')).toHaveText(USER);
    await expect(page.locator('[data-attribute="email"]')).toHaveText(USER);
    await expect(page.locator('[data-attribute="name"]')).toHaveText(NAME);
    await expect(page.locator('#relay-state')).toHaveText(`${binding}-journey`);
    await expect(page.locator('#session-index')).not.toBeEmpty();
    // The SP's own session holds the user.
    await page.goto(`${s.url}/`);
    await expect(page.locator('#who')).toHaveText(USER);
    expect(errors).toEqual([]);
    await context.close();
  });
}

test('a second SSO rides the IdP session: no sign-in form', async ({ browser }) => {
  const s = sp as SamlifySp;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${s.url}/login`);
  await page.getByLabel('Email').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.locator('#name-id')).toHaveText(USER);
  const first = await page.locator('#session-index').textContent();
  await page.goto(`${s.url}/login?binding=post`);
  await page.getByRole('button', { name: 'Continue to the identity provider' }).click();
  await expect(page.locator('#name-id')).toHaveText(USER);
  // A new app session of the same sign-in: a new SessionIndex.
  await expect(page.locator('#session-index')).not.toHaveText(first as string);
  await context.close();
});
