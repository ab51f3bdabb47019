// Password sign-in through the hosted form, and "where you're signed in" across two browsers.
import { expect, test } from '@playwright/test';
import { cli, collectErrors, signInWithPassword } from './helpers';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

test('sign in, see two sessions, sign the other one out', async ({ browser }) => {
  cli('user', 'create', '--org', 'demo', '--email', 'two.devices@demo.example', '--password', 'two devices password');
  const laptop = await browser.newContext();
  const phone = await browser.newContext({ userAgent: FIREFOX });
  const a = await laptop.newPage();
  const b = await phone.newPage();
  const errors = [...collectErrors(a)];

  await signInWithPassword(a, 'demo', 'two.devices@demo.example', 'two devices password');
  await expect(a).toHaveURL(/\/o\/demo\/account$/);
  await expect(a.getByTestId('email')).toHaveText('two.devices@demo.example');
  await expect(a.getByTestId('session')).toHaveCount(1);
  await expect(a.getByTestId('this-device')).toHaveCount(1);

  await signInWithPassword(b, 'demo', 'two.devices@demo.example', 'two devices password');
  await expect(b).toHaveURL(/\/o\/demo\/account$/);

  await a.reload();
  await expect(a.getByTestId('session')).toHaveCount(2);
  await expect(a.getByTestId('this-device')).toHaveCount(1);
  await expect(a.getByTestId('sessions')).toContainText('Firefox on Linux');

  // Sign the other device out from this one.
  const other = a.getByTestId('session').filter({ hasNot: a.getByTestId('this-device') });
  await other.getByTestId('end-session').click();
  await expect(a.getByTestId('session')).toHaveCount(1);
  await b.goto('/o/demo/account');
  await expect(b).toHaveURL(/\/o\/demo\/login/);

  // The sign-out button ends this session too.
  await a.getByTestId('sign-out').click();
  await expect(a.getByText('You have signed out.')).toBeVisible();
  await a.goto('/o/demo/account');
  await expect(a).toHaveURL(/\/o\/demo\/login/);
  expect(errors).toEqual([]);
  await laptop.close();
  await phone.close();
});

test('a wrong password is refused without saying which part was wrong', async ({ page }) => {
  const errors = collectErrors(page);
  await signInWithPassword(page, 'demo', 'alice@demo.example', 'not the password');
  await expect(page.getByRole('alert')).toHaveText('The email or password is incorrect.');
  await expect(page).toHaveURL(/\/o\/demo\/login$/);
  await signInWithPassword(page, 'demo', 'nobody@demo.example', 'not the password');
  await expect(page.getByRole('alert')).toHaveText('The email or password is incorrect.');
  expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
});
