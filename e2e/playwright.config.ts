// Playwright Test configuration: browser journeys against the real `portcullis` binary.
//
// No browser is downloaded: the tests drive the system Chromium (Debian's /usr/bin/chromium, or
// PORTCULLIS_CHROMIUM). `cargo xtask test` builds the binary and the console and sets
// PORTCULLIS_BIN, PORTCULLIS_CHROMIUM and PORTCULLIS_CONSOLE_DIR; run by hand, the defaults below
// apply (build with `cargo build -p portcullis` and `cargo xtask console` first).
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const port = Number(process.env.PORTCULLIS_E2E_PORT || 18080);
// `localhost`, not 127.0.0.1: WebAuthn needs a domain name for the relying party id.
const baseURL = `http://localhost:${port}`;

const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(process.env.CARGO_TARGET_DIR)
  : path.resolve(__dirname, '../target');
const serverBin = path.resolve(process.env.PORTCULLIS_BIN || path.join(targetDir, 'debug/portcullis'));
const shopBin = path.resolve(process.env.PORTCULLIS_SHOP_BIN || path.join(targetDir, 'debug/portcullis-demo-shop'));
const consoleDir = path.resolve(__dirname, process.env.PORTCULLIS_CONSOLE_DIR || '../console/dist');

// A fresh database for every run. The config is evaluated again in each worker process, so the
// runner creates the directory once and hands it to the workers through an internal variable.
if (!process.env.PORTCULLIS_E2E_RUN_DIR) {
  process.env.PORTCULLIS_E2E_RUN_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-e2e-'));
}
const dataDir = process.env.PORTCULLIS_E2E_RUN_DIR;

export default defineConfig({
  testDir: './tests',
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['html', { open: 'never' }]],
  globalTeardown: './global-teardown.ts',
  use: {
    baseURL,
    browserName: 'chromium',
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--no-first-run',
      ],
    },
  },
  projects: [{ name: 'chromium' }],
  webServer: [{
    command: `"${serverBin}" serve --demo`,
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      ...(process.env as Record<string, string>),
      PORTCULLIS__HTTP__BIND: `127.0.0.1:${port}`,
      PORTCULLIS__HTTP__PUBLIC_URL: baseURL,
      PORTCULLIS__DATABASE__URL: `sqlite://${path.join(dataDir, 'e2e.db')}?mode=rwc`,
      PORTCULLIS__KEYS__ENCRYPTION_KEY_FILE: path.join(dataDir, 'signing-key-encryption.key'),
      PORTCULLIS__CONSOLE__DIR: consoleDir,
      PORTCULLIS__DEPLOYMENT__NAME: 'Portcullis E2E',
      // The dev mailbox (no SMTP): the email journeys read the links from these files.
      PORTCULLIS__EMAIL__DEV_MAILBOX_DIR: path.join(dataDir, 'mail'),
      // The demo shop's back-channel receivers answer at once; keep retries quick anyway.
      PORTCULLIS__LOGOUT__WORKER_INTERVAL_MS: '200',
      // Outbound calls refuse loopback targets by default; the demo shop's back-channel
      // receivers (and the console journey's) listen on 127.0.0.1, so allow exactly that.
      PORTCULLIS__OUTBOUND__ALLOW_PRIVATE: '["127.0.0.1/32"]',
      // Every browser of the suite comes from 127.0.0.1 and opens many sign-in pages a minute.
      PORTCULLIS__SECURITY__CEREMONY_STARTS_PER_IP_PER_MINUTE: '1000',
    },
  }, {
    // The demo shop (examples/demo-shop): catalog on 9001, checkout on 9002, the ports its
    // registered redirect URIs name.
    command: `"${shopBin}"`,
    url: 'http://127.0.0.1:9001/',
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      ...(process.env as Record<string, string>),
      DEMO_SHOP_ISSUER: `${baseURL}/o/demo`,
    },
  }],
});
