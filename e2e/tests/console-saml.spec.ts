// SAML apps in the console (issue 20): the register form fills itself from pasted SP metadata
// (read by the server; what it left out is listed), and the app's page edits the SAML settings
// — ACS rows with index, binding and default, Single Logout, NameID, attributes, signing — with
// each refused field marked beside it, a toast when saved, and the saved values on reopening.
import { expect, test, type Page } from '@playwright/test';
import { cli, collectErrors } from './helpers';

const ADMIN = 'saml.console.admin@demo.example';
const PASSWORD = 'saml console admin password';
const STAMP = Date.now();
const ENTITY = `https://hr-${STAMP}.example.com/saml/metadata`;
const NAME = `HR ${STAMP}`;

/** An SP's metadata as samlify writes it: a Redirect ACS (left out) and a default POST one. */
const METADATA = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${ENTITY}">
  <SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://hr-${STAMP}.example.com/saml/slo"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>
    <AssertionConsumerService index="0" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://hr-${STAMP}.example.com/saml/acs-redirect"/>
    <AssertionConsumerService index="3" isDefault="true" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://hr-${STAMP}.example.com/saml/acs"/>
  </SPSSODescriptor>
</EntityDescriptor>`;

test.beforeAll(() => {
  try {
    cli('user', 'create', '--org', 'demo', '--email', ADMIN, '--password', PASSWORD, '--role', 'admin');
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    if (!`${out.stdout ?? ''}${out.stderr ?? ''}${e}`.includes('already exists')) throw e;
  }
});

async function signIn(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page).toHaveURL(/\/o\/demo\/login/);
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('a SAML app: registered from pasted metadata, then edited field by field', async ({ page }) => {
  test.setTimeout(60_000);
  const errors = collectErrors(page);
  await signIn(page, '/console/demo/apps');
  await expect(page.getByTestId('app-create')).toBeVisible();

  // Register: SAML, the metadata pasted and read by the server into the form.
  await page.getByTestId('app-name').fill(NAME);
  await page.getByTestId('app-kind').selectOption('saml');
  await page.getByText('Import from SP metadata').click();
  await page.getByTestId('saml-metadata').fill(METADATA);
  await page.getByTestId('saml-import-button').click();
  await expect(page.getByTestId('saml-entity-id')).toHaveValue(ENTITY);
  await expect(page.getByTestId('saml-acs')).toHaveValue(`https://hr-${STAMP}.example.com/saml/acs`);
  await expect(page.getByTestId('saml-slo-url')).toHaveValue(`https://hr-${STAMP}.example.com/saml/slo`);
  await expect(page.getByTestId('saml-slo-binding')).toHaveValue('post');
  await expect(page.getByTestId('saml-nameid')).toHaveValue('persistent');
  await expect(page.getByTestId('saml-import-notes')).toContainText('acs-redirect');
  await page.getByTestId('app-create').click();
  await expect(page.getByTestId('app-created')).toContainText(NAME);

  // Its page: the SAML section, filled with what was registered (the SP's index 3, default).
  await page.getByRole('link', { name: NAME, exact: true }).click();
  const section = page.getByTestId('app-section-saml');
  await expect(section).toBeVisible();
  await expect(page.getByTestId('saml-edit-entity-id')).toHaveValue(ENTITY);
  await expect(page.getByTestId('saml-acs-index')).toHaveValue('3');
  await expect(page.getByTestId('saml-acs-default')).toBeChecked();
  // No OAuth section for a SAML app.
  await expect(page.getByTestId('app-section-tokens')).toHaveCount(0);

  // A refused field is marked beside it, and nothing is saved.
  await page.getByTestId('saml-acs-url').fill('http://hr.example.com/plain-http');
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('saml-acs-error')).toContainText('plain http is allowed only for loopback');
  await expect(page.getByTestId('saml-acs-url')).toHaveValue('http://hr.example.com/plain-http');
  await expect(page.getByRole('alert').filter({ hasText: 'Not saved' })).toBeVisible();
  await page.getByTestId('saml-edit-entity-id').fill('');
  await page.getByTestId('saml-acs-url').fill(`https://hr-${STAMP}.example.com/saml/acs`);
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('saml-edit-entity-id-error')).toBeVisible();
  await expect(page.getByTestId('saml-acs-error')).toHaveCount(0);

  // Corrected, with a second ACS made the default, SOAP logout, transient NameID, email only,
  // the assertion alone signed.
  await page.getByTestId('saml-edit-entity-id').fill(ENTITY);
  await page.getByTestId('saml-acs-add').click();
  await page.getByTestId('saml-acs-url').nth(1).fill(`https://hr-${STAMP}.example.com/saml/acs2`);
  await expect(page.getByTestId('saml-acs-index').nth(1)).toHaveValue('4');
  await page.getByTestId('saml-acs-default').nth(1).check();
  await page.getByTestId('saml-edit-slo-binding').selectOption('soap');
  await page.getByTestId('saml-edit-nameid').selectOption('transient');
  await page.getByTestId('saml-edit-attr-name').uncheck();
  await page.getByTestId('saml-edit-sign-response').uncheck();
  await page.getByTestId('saml-edit-idp-initiated').check();
  await page.getByTestId('saml-edit-idp-relay').fill('/welcome');
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('app-notice')).toContainText(`Saved ${NAME}`);
  await expect(page).toHaveURL(/\/console\/demo\/apps$/);

  // Reopened: as saved.
  await page.getByRole('link', { name: NAME, exact: true }).click();
  await expect(page.getByTestId('saml-acs-row')).toHaveCount(2);
  await expect(page.getByTestId('saml-acs-default').nth(1)).toBeChecked();
  await expect(page.getByTestId('saml-edit-slo-binding')).toHaveValue('soap');
  await expect(page.getByTestId('saml-edit-nameid')).toHaveValue('transient');
  await expect(page.getByTestId('saml-edit-attr-email')).toBeChecked();
  await expect(page.getByTestId('saml-edit-attr-name')).not.toBeChecked();
  await expect(page.getByTestId('saml-edit-sign-response')).not.toBeChecked();
  await expect(page.getByTestId('saml-edit-sign-assertion')).toBeChecked();
  await expect(page.getByTestId('saml-edit-idp-initiated')).toBeChecked();
  await expect(page.getByTestId('saml-edit-idp-relay')).toHaveValue('/welcome');

  // Removing the ACS rows leaves none: refused by its field.
  await page.getByTestId('saml-acs-remove').first().click();
  await page.getByTestId('saml-acs-remove').first().click();
  await page.getByTestId('edit-save').click();
  await expect(page.getByTestId('saml-acs-error')).toContainText('at least one ACS');
  expect(errors.filter((e) => !e.includes('status of 422'))).toEqual([]);
});
