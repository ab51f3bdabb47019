// Screenshots of every console page, light and dark, wide (1280 px) and narrow (390 px), written
// to e2e/screenshots/ (git-ignored; the main ones are copied by hand to docs/console/ for the
// README). Each page is also checked for what a screenshot would show wrong: at 390 px nothing
// widens the page (no sideways scroll of the whole document), the side navigation marks the
// current page, and axe-core (WCAG 2.1 A and AA) finds no serious or critical violation in either
// scheme — this journey reaches every page, the detail pages and the operators' page included.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli } from './helpers';

const ADMIN = 'shots.admin@demo.example';
const OPERATOR = 'shots.operator@system.example';
const PASSWORD = 'screenshot admin password';
const DIR = path.join(__dirname, '..', 'screenshots');

function ensureUser(org: string, email: string): void {
  try {
    cli('user', 'create', '--org', org, '--email', email, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('already exists')) throw e;
  }
}

const SAML_APP = 'Payroll (SAML)';

test.beforeAll(() => {
  ensureUser('demo', ADMIN);
  ensureUser('system', OPERATOR);
  // A SAML app, for its page's SAML section.
  try {
    cli('app', 'create', '--org', 'demo', '--name', SAML_APP, '--type', 'saml',
      '--sp-entity-id', 'https://payroll.example.com/saml/metadata',
      '--acs-url', 'https://payroll.example.com/saml/acs', '--acs-url', 'https://payroll.example.com/saml/acs2',
      '--slo-url', 'https://payroll.example.com/saml/slo', '--slo-binding', 'soap', '--nameid', 'persistent');
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('entity id')) throw e;
  }
  fs.mkdirSync(DIR, { recursive: true });
});

async function signIn(page: Page, org: string, email: string): Promise<void> {
  await page.goto(`/console/${org}`);
  await expect(page).toHaveURL(new RegExp(`/o/${org}/login`));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/console/${org}$`));
}

const VARIANTS = [
  { scheme: 'light', size: 'wide', width: 1280, height: 800 },
  { scheme: 'dark', size: 'wide', width: 1280, height: 800 },
  { scheme: 'light', size: 'narrow', width: 390, height: 844 },
  { scheme: 'dark', size: 'narrow', width: 390, height: 844 },
] as const;

/** Opens `url` (already signed in: the console signs in again silently) and shoots it four ways. */
async function shoot(page: Page, name: string, url: string, ready: string): Promise<void> {
  await page.goto(url);
  await expect(page.getByTestId(ready).first()).toBeVisible();
  await page.waitForLoadState('networkidle');
  for (const v of VARIANTS) {
    await page.setViewportSize({ width: v.width, height: v.height });
    await page.emulateMedia({ colorScheme: v.scheme });
    if (v.size === 'narrow') {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${name} widens the page at ${v.width} px`).toBeLessThanOrEqual(0);
    } else {
      await expect(page.locator('.side-nav [aria-current="page"]')).toHaveCount(1);
      const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      const serious = axe.violations
        .filter((x) => x.impact === 'serious' || x.impact === 'critical')
        .map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      expect(serious, `${name} (${v.scheme})`).toEqual([]);
    }
    const file = path.join(DIR, `${name}-${v.scheme}-${v.size}.png`);
    await page.screenshot({ path: file, fullPage: true });
    expect(fs.statSync(file).size).toBeGreaterThan(5_000);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

test('screenshots of every console page, light and dark, wide and narrow', async ({ page }) => {
  test.setTimeout(300_000);
  await signIn(page, 'demo', ADMIN);
  const pages: [string, string, string][] = [
    ['dashboard', '/console/demo', 'dashboard-page'],
    ['apps', '/console/demo/apps', 'app-row'],
    ['users', '/console/demo/users', 'user-row'],
    ['sessions', '/console/demo/sessions', 'session-row'],
    ['deliveries', '/console/demo/deliveries', 'deliveries-page'],
    ['policy', '/console/demo/policy', 'policy-save'],
    ['audit', '/console/demo/audit', 'audit-row'],
    ['keys', '/console/demo/keys', 'keys-page'],
    ['templates', '/console/demo/templates', 'templates-page'],
    ['audit-sink', '/console/demo/audit-sink', 'sink-save'],
  ];
  for (const [name, url, ready] of pages) await shoot(page, name, url, ready);

  // The pages of one object, found through their lists.
  await page.goto('/console/demo/apps');
  const app = await page.getByTestId('app-row').first().locator('a').first().getAttribute('href');
  await shoot(page, 'app-detail', app!, 'app-editor');
  await page.goto('/console/demo/apps');
  const saml = await page.getByRole('link', { name: SAML_APP, exact: true }).getAttribute('href');
  await shoot(page, 'saml-app-detail', saml!, 'app-section-saml');
  await page.goto('/console/demo/sessions');
  const session = await page.getByTestId('session-link').first().getAttribute('href');
  await shoot(page, 'session-detail', session!, 'session-detail');
  await page.goto('/console/demo/users');
  const user = await page.getByTestId('user-details').first().getAttribute('href');
  await shoot(page, 'user-detail', user!, 'user-detail');
  await shoot(page, 'template-editor', '/console/demo/templates/password_reset', 'template-editor');

  // Operators' page, in the platform org.
  await page.context().clearCookies();
  await signIn(page, 'system', OPERATOR);
  await shoot(page, 'orgs', '/console/system/orgs', 'org-row');
});
