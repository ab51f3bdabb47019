// OAuth 2.0 Form Post Response Mode in a real browser: the page the provider answers with posts
// the code to the app by itself, under the strict CSP (its script is a static file; no inline
// script, no CSP violation in the console).
import { expect, test } from '@playwright/test';
import { cli, collectErrors, signInWithPassword } from './helpers';

const CALLBACK = 'https://rp.example/callback';
// RFC 7636 appendix B's challenge: any S256 challenge will do, the code is not redeemed here.
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

test('response_mode=form_post delivers the code to the app as a form POST', async ({ page }) => {
  const errors = collectErrors(page);
  cli('user', 'create', '--org', 'demo', '--email', 'form.post@demo.example', '--password', 'form post password');
  const app = JSON.parse(
    cli('app', 'create', '--org', 'demo', '--name', 'Form post app', '--redirect-uri', CALLBACK),
  );
  // The app's side: whatever reaches its callback, answered here (it never leaves the browser).
  const received: { method: string; body: string }[] = [];
  await page.route(`${CALLBACK}**`, async (route) => {
    received.push({ method: route.request().method(), body: route.request().postData() ?? '' });
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<p data-testid="rp">received</p>' });
  });

  await signInWithPassword(page, 'demo', 'form.post@demo.example', 'form post password');
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: app.client_id,
    redirect_uri: CALLBACK,
    scope: 'openid',
    state: 'fp',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    response_mode: 'form_post',
  });
  await page.goto(`/o/demo/authorize?${query}`);
  await expect(page.getByTestId('rp')).toHaveText('received');

  expect(received).toHaveLength(1);
  expect(received[0].method).toBe('POST');
  const form = new URLSearchParams(received[0].body);
  expect(form.get('state')).toBe('fp');
  expect(form.get('code')).toBeTruthy();
  expect(form.get('iss')).toMatch(/\/o\/demo$/);
  expect(errors).toEqual([]);
});
