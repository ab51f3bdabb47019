// Removes the run's temporary database directory (created in playwright.config.ts).
import * as fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.PORTCULLIS_E2E_RUN_DIR;
  if (dir && fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
