// Email templates in the console: an admin edits the org's password-reset message (the server's
// refusal shows beside its field, the preview is rendered by the mailer's code), and the next
// password-reset mail in the dev mailbox carries the new text; then back to the built-in one.
import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, collectErrors } from './helpers';

const ADMIN = 'templates.admin@demo.example';
const USER = 'templates.reader@demo.example';
const PASSWORD = 'templates admin password';

test.beforeAll(() => {
  for (const [email, role] of [[ADMIN, 'admin'], [USER, 'member']]) {
    try {
      cli('user', 'create', '--org', 'demo', '--email', email, '--password', PASSWORD, '--role', role);
    } catch (e) {
      if (!`${e}${(e as { stdout?: Buffer }).stdout ?? ''}`.includes('already exists')) throw e;
    }
  }
});

/** The readable copies of the messages to `to` in the dev mailbox. */
function mailsTo(to: string): string[] {
  const dir = path.join(process.env.PORTCULLIS_E2E_RUN_DIR as string, 'mail');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.txt')) : [];
  return files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).filter((t) => t.includes(`To: ${to}`));
}

test('an edited password-reset template shapes the next reset mail', async ({ page, browser }) => {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/console/demo/templates');
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/console\/demo\/templates$/);
  await expect(page.getByTestId('template-row')).toHaveCount(6);
  await page.screenshot({ path: 'screenshots/templates-1280.png', fullPage: true });

  await page.locator('[data-testid=template-row][data-kind=password_reset] a').click();
  await expect(page).toHaveURL(/\/console\/demo\/templates\/password_reset$/);
  await expect(page.getByTestId('template-state')).toContainText('built-in');
  await expect(page.getByTestId('template-placeholders')).toContainText('{{link}}');
  await expect(page.getByTestId('template-placeholders')).toContainText('{{valid_for}}');
  await expect(page.getByTestId('tpl-subject')).toHaveValue('Reset your {{org_name}} password');

  // Without {{link}} the server refuses, naming the text part: shown beside it, nothing saved.
  await page.getByTestId('tpl-subject').fill('Demo password for {{email}}');
  await page.getByTestId('tpl-text').fill('E2E-TEMPLATE-MARKER without a link');
  await page.getByTestId('tpl-save').click();
  await expect(page.getByTestId('field-error-text')).toContainText('{{link}}');
  await expect(page.getByTestId('field-error-subject')).toHaveCount(0);
  await expect(page.getByTestId('template-state')).toContainText('built-in');

  // The preview fills the placeholders with sample values, nothing stored yet.
  await page.getByTestId('tpl-text').fill('E2E-TEMPLATE-MARKER for {{email}}: {{link}} ({{valid_for}})');
  await page.getByTestId('tpl-preview').click();
  await expect(page.getByTestId('field-error-text')).toHaveCount(0);
  await expect(page.getByTestId('preview-subject')).toHaveText('Demo password for user@example.com');
  await expect(page.getByTestId('preview-text')).toContainText('E2E-TEMPLATE-MARKER for user@example.com: https://');
  await expect(page.getByTestId('preview-html-source')).toContainText('<!DOCTYPE html>');
  await expect(page.getByTestId('preview-html-source')).toContainText('Choose a new password');
  await expect(page.getByTestId('template-state')).toContainText('built-in');
  await page.screenshot({ path: 'screenshots/template-editor-1280.png', fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: 'screenshots/template-editor-390.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  await page.getByTestId('tpl-save').click();
  await expect(page.getByTestId('template-notice')).toContainText('Saved');
  await expect(page.getByTestId('template-state')).toContainText('its own text');

  // The next reset mail uses it.
  const before = mailsTo(USER).length;
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto('/o/demo/password/forgot');
  await visitor.getByLabel('Email').fill(USER);
  await visitor.getByRole('button', { name: 'Send the link' }).click();
  await expect(visitor.getByTestId('reset-sent')).toBeVisible();
  let mail = '';
  await expect(async () => {
    const mails = mailsTo(USER);
    expect(mails.length).toBeGreaterThan(before);
    mail = mails.find((m) => m.includes('E2E-TEMPLATE-MARKER')) ?? '';
    expect(mail).not.toBe('');
  }).toPass({ timeout: 15_000 });
  expect(mail).toContain(`Subject: Demo password for ${USER}`);
  expect(mail).toMatch(new RegExp(`E2E-TEMPLATE-MARKER for ${USER}: https?://\\S+/o/demo/password/reset\\?token=`));
  expect(mail).not.toContain('{{');

  // Back to the built-in text.
  await page.getByTestId('tpl-reset').click();
  await expect(page.getByTestId('template-notice')).toContainText('built-in');
  await expect(page.getByTestId('template-state')).toContainText('built-in');
  await expect(page.getByTestId('tpl-subject')).toHaveValue('Reset your {{org_name}} password');
  expect(errors.filter((e) => !e.includes('status of 422'))).toEqual([]);
});
