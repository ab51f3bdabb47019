// Email journeys in the browser: the links come from the dev mailbox (one .eml file per message,
// and the readable .txt beside it that these read).
import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addVirtualAuthenticator, cli, collectErrors, signInWithPassword } from './helpers';

/** Waits for a message to `to` in the dev mailbox and returns the path of its first link
 * containing `marker`, read from the readable `.txt` copy as a person would copy it. */
async function linkFromMail(to: string, marker: string): Promise<string> {
  const dir = path.join(process.env.PORTCULLIS_E2E_RUN_DIR as string, 'mail');
  let found = '';
  await expect(async () => {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    for (const f of files.filter((name) => name.endsWith('.txt'))) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      if (!text.includes(`To: ${to}`)) continue;
      const m = text.match(new RegExp(`https?://[^\\s"<>]*${marker}[A-Za-z0-9_\\-]+`));
      if (m) found = new URL(m[0]).pathname + new URL(m[0]).search;
    }
    expect(found).not.toBe('');
  }).toPass({ timeout: 15_000 });
  return found;
}

test('sign up on the demo org, confirm the address from the mail, then sign in', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/o/demo/login');
  await page.getByTestId('signup').click();
  await page.getByLabel('Name (optional)').fill('Sam Signup');
  await page.getByLabel('Email').fill('sam.signup@demo.example');
  await page.getByLabel('Password').fill('sam signup password');
  await page.getByRole('button', { name: 'Create the account' }).click();
  await expect(page.getByTestId('signup-sent')).toContainText('sam.signup@demo.example');

  // No account before the address is confirmed: sign-in fails like any wrong password.
  await signInWithPassword(page, 'demo', 'sam.signup@demo.example', 'sam signup password');
  await expect(page.getByRole('alert')).toContainText('The email or password is incorrect.');

  // The link asks for the password chosen at sign-up.
  const link = await linkFromMail('sam.signup@demo.example', '/verify-email\\?token=');
  await page.goto(link);
  await page.locator('#password').fill('sam signup password');
  await page.getByTestId('confirm-link').click();
  await expect(page.getByText('Address confirmed')).toBeVisible();
  await signInWithPassword(page, 'demo', 'sam.signup@demo.example', 'sam signup password');
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  // (The failed sign-in answers 401, which the browser logs.)
  expect(errors.filter((e) => !e.includes('status of 401'))).toEqual([]);
});

test('an invitee sets up the account with a passkey from the invitation mail', async ({ page }) => {
  const errors = collectErrors(page);
  await addVirtualAuthenticator(page);
  cli('user', 'invite', '--org', 'demo', '--email', 'ivy.invitee@demo.example');
  const link = await linkFromMail('ivy.invitee@demo.example', '/invitation\\?token=');
  await page.goto(link);
  await expect(page.getByText('ivy.invitee@demo.example')).toBeVisible();
  await page.getByTestId('invite-passkey').click();
  await expect(page).toHaveURL(/\/o\/demo\/account$/);
  await expect(page.getByTestId('credential')).toContainText('My passkey');
  // The link is used up.
  await page.goto(link);
  await expect(page.getByText('This link does not work')).toBeVisible();
  expect(errors.filter((e) => !e.includes('status of 400'))).toEqual([]);
});
