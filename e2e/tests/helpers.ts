// Shared steps of the browser journeys.
import { type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/** A platform authenticator that can hold passkeys and verifies the user automatically. */
export async function addVirtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Runs the CLI against the e2e server's database (the same file the server uses). */
export function cli(...args: string[]): string {
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.resolve(__dirname, '../../target');
  const bin = path.resolve(process.env.PORTCULLIS_BIN || path.join(targetDir, 'debug/portcullis'));
  const db = `sqlite://${path.join(process.env.PORTCULLIS_E2E_RUN_DIR as string, 'e2e.db')}?mode=rwc`;
  return execFileSync(bin, [...args, '--json'], {
    env: {
      ...process.env,
      PORTCULLIS__DATABASE__URL: db,
      PORTCULLIS__CONSOLE__DIR: '/nonexistent',
      PORTCULLIS__KEYS__ENCRYPTION_KEY_FILE: path.join(process.env.PORTCULLIS_E2E_RUN_DIR as string, 'signing-key-encryption.key'),
    },
  }).toString();
}

export async function signInWithPassword(page: Page, org: string, email: string, password: string): Promise<void> {
  await page.goto(`/o/${org}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

