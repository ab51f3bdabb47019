//! SAML apps in the console: the register form's SAML fields (`SamlFields`, with `SamlForm`
//! building the request's `saml` object, filled from pasted SP metadata on request) and the
//! app page's SAML editor (`SamlEdit` and `saml_section`, saved with the app's other settings;
//! the 422's `saml.<field>` errors shown by their fields). `apps.rs` and `apps/form.rs` call
//! these.

use leptos::prelude::*;
use portcullis_api_types::{SamlAcsRequest, SamlAppView, SpMetadataImport};

use crate::api::{Auth, api, spawn_call};
use crate::ui::ErrorNote;

/// The SAML fields of the register form, as the admin types them.
#[derive(Clone, Copy)]
pub(crate) struct SamlForm {
    entity_id: RwSignal<String>,
    acs: RwSignal<String>,
    slo_url: RwSignal<String>,
    slo_binding: RwSignal<String>,
    nameid: RwSignal<String>,
    sign: RwSignal<String>,
    sp_cert: RwSignal<String>,
    require_signed: RwSignal<bool>,
    /// The SP's metadata as pasted, to import.
    metadata: RwSignal<String>,
    /// The ACS URLs the last import filled in, with their indexes and the default: sent as
    /// they are while the URLs typed are still these.
    imported_acs: RwSignal<Option<(Vec<SamlAcsRequest>, Option<u16>)>>,
    /// What the last import left out.
    notes: RwSignal<Vec<String>>,
}

impl SamlForm {
    pub(crate) fn new() -> Self {
        Self {
            entity_id: RwSignal::new(String::new()),
            acs: RwSignal::new(String::new()),
            slo_url: RwSignal::new(String::new()),
            slo_binding: RwSignal::new("redirect".to_owned()),
            nameid: RwSignal::new("email".to_owned()),
            sign: RwSignal::new("both".to_owned()),
            sp_cert: RwSignal::new(String::new()),
            require_signed: RwSignal::new(false),
            metadata: RwSignal::new(String::new()),
            imported_acs: RwSignal::new(None),
            notes: RwSignal::new(Vec::new()),
        }
    }

    /// Fills the fields with what the SP's metadata declares (read by the server).
    fn fill(&self, import: SpMetadataImport) {
        let m = import.saml;
        self.entity_id.set(m.sp_entity_id.unwrap_or_default());
        let acs = m.acs_urls.unwrap_or_default();
        self.acs.set(
            acs.iter()
                .map(|a| a.url.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
        self.imported_acs.set(Some((acs, m.default_acs_index)));
        self.slo_url.set(m.slo_url.unwrap_or_default());
        self.slo_binding
            .set(m.slo_binding.unwrap_or_else(|| "redirect".to_owned()));
        self.nameid
            .set(m.name_id_format.unwrap_or_else(|| "email".to_owned()));
        self.sp_cert.set(m.sp_certificate.unwrap_or_default());
        self.require_signed
            .set(m.require_signed_requests.unwrap_or(false));
        self.notes.set(import.notes);
    }

    /// The `saml` object of the create request (the server checks every field and names the
    /// one it refuses).
    pub(crate) fn body(&self) -> serde_json::Value {
        let acs: Vec<serde_json::Value> = self
            .acs
            .get()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|url| serde_json::json!({ "url": url }))
            .collect();
        let (sign_response, sign_assertion) = match self.sign.get().as_str() {
            "response" => (true, false),
            "assertion" => (false, true),
            _ => (true, true),
        };
        let typed: Vec<&str> = acs.iter().filter_map(|a| a["url"].as_str()).collect();
        let (acs, default) = match self.imported_acs.get() {
            // Still the imported URLs: with their indexes and default, as the SP declares them.
            Some((imported, default))
                if imported
                    .iter()
                    .map(|a| a.url.as_str())
                    .eq(typed.iter().copied()) =>
            {
                (serde_json::json!(imported), default)
            }
            _ => (serde_json::json!(acs), None),
        };
        let mut saml = serde_json::json!({
            "sp_entity_id": self.entity_id.get().trim(),
            "acs_urls": acs,
            "name_id_format": self.nameid.get(),
            "sign_response": sign_response,
            "sign_assertion": sign_assertion,
            "require_signed_requests": self.require_signed.get(),
        });
        let slo = self.slo_url.get();
        if !slo.trim().is_empty() {
            saml["slo_url"] = slo.trim().into();
            saml["slo_binding"] = self.slo_binding.get().into();
        }
        let cert = self.sp_cert.get();
        if !cert.trim().is_empty() {
            saml["sp_certificate"] = cert.trim().into();
        }
        if let Some(d) = default {
            saml["default_acs_index"] = d.into();
        }
        saml
    }
}

/// A labelled input with its help text under it.
fn field(
    label: &'static str,
    id: &'static str,
    help: &'static str,
    v: RwSignal<String>,
    required: bool,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    view! {
        <label for=id>{label}</label>
        <input id=id data-testid=id required=required aria-describedby=help_id.clone() prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev)) />
        <p class="help" id=help_id>{help}</p>
    }
}

/// A labelled choice with its help text under it.
fn choice(
    label: &'static str,
    id: &'static str,
    help: &'static str,
    options: &'static [(&'static str, &'static str)],
    v: RwSignal<String>,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    view! {
        <label for=id>{label}</label>
        <select id=id data-testid=id aria-describedby=help_id.clone() on:change=move |ev| v.set(event_target_value(&ev))>
            {options.iter().map(|(value, text)| view! {
                <option value=*value prop:selected=move || v.get() == *value>{*text}</option>
            }).collect_view()}
        </select>
        <p class="help" id=help_id>{help}</p>
    }
}

/// Pasted SP metadata, read by the server into the register form's fields (nothing is saved
/// until the form is).
#[component]
fn MetadataImport(auth: Auth, form: SamlForm) -> impl IntoView {
    let f = form;
    let error = RwSignal::new(None::<String>);
    let import = move || {
        let body = serde_json::json!({ "xml": f.metadata.get() }).to_string();
        let request = api(auth.clone(), "POST", "/saml/sp-metadata", Some(body));
        spawn_call(request, error, move |import: SpMetadataImport| {
            error.set(None);
            f.fill(import);
        });
    };
    view! {
        <details class="metadata-import" data-testid="saml-import">
            <summary>"Import from SP metadata"</summary>
            <label for="saml-metadata">"The SP's metadata XML (its EntityDescriptor)"</label>
            <textarea id="saml-metadata" data-testid="saml-metadata" rows="6" aria-describedby="saml-metadata-help" prop:value=move || f.metadata.get() on:input=move |ev| f.metadata.set(event_target_value(&ev))></textarea>
            <p class="help" id="saml-metadata-help">"Fills the fields below with the entity id, the HTTP-POST ACS URLs, Single Logout, the signing certificate, signed requests and the NameID format it declares. Check them, then register."</p>
            <button type="button" data-testid="saml-import-button" on:click=move |_| import()>"Fill the form from the metadata"</button>
            <ErrorNote error=error />
            {move || (!f.notes.get().is_empty()).then(|| view! {
                <div class="notice" role="status" data-testid="saml-import-notes">
                    <p>"Imported. Left out:"</p>
                    <ul>{f.notes.get().into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
                </div>
            })}
        </details>
    }
}

/// The register form's SAML fields.
#[component]
pub(crate) fn SamlFields(auth: Auth, form: SamlForm) -> impl IntoView {
    let f = form;
    view! {
        <fieldset data-testid="saml-fields">
            <legend>"SAML service provider"</legend>
            <MetadataImport auth=auth form=f />
            {field("SP entity id", "saml-entity-id",
                "The SP's identifier, exactly as it sends it as Issuer (often its metadata URL). Unique in this organization.",
                f.entity_id, true)}
            <label for="saml-acs">"Assertion consumer service (ACS) URLs, one per line"</label>
            <textarea id="saml-acs" data-testid="saml-acs" required aria-describedby="saml-acs-help" prop:value=move || f.acs.get() on:input=move |ev| f.acs.set(event_target_value(&ev))></textarea>
            <p class="help" id="saml-acs-help">"Where the SP receives the signed response (HTTP-POST), https unless on this machine; at most 10. The first is the default; they get indexes 0, 1, … in this order."</p>
            {field("Single Logout URL (optional)", "saml-slo-url",
                "Where Portcullis tells the SP that the user signed out. Empty: the SP is not told.",
                f.slo_url, false)}
            {choice("Single Logout binding", "saml-slo-binding",
                "SOAP: server to server, retried until delivered. Redirect or POST: through the user's browser on the signed-out page.",
                &[("redirect", "HTTP-Redirect"), ("post", "HTTP-POST"), ("soap", "SOAP (back channel)")], f.slo_binding)}
            {choice("NameID format", "saml-nameid",
                "What identifies the user to the SP. Persistent: an opaque id, the same at every sign-in and different for every app. Transient: a new id at every sign-in.",
                &[("email", "Email address"), ("persistent", "Persistent (pairwise)"), ("transient", "Transient")], f.nameid)}
            {choice("Signatures", "saml-sign",
                "What Portcullis signs: both is the safe default; some SPs want only one.",
                &[("both", "Response and assertion"), ("response", "Response only"), ("assertion", "Assertion only")], f.sign)}
            <label for="saml-sp-cert">"SP signing certificate, PEM (optional)"</label>
            <textarea id="saml-sp-cert" data-testid="saml-sp-cert" aria-describedby="saml-sp-cert-help" prop:value=move || f.sp_cert.get() on:input=move |ev| f.sp_cert.set(event_target_value(&ev))></textarea>
            <p class="help" id="saml-sp-cert-help">"-----BEGIN CERTIFICATE----- …: verifies the SP's signed requests and logout messages."</p>
            <label class="check"><input type="checkbox" id="saml-require-signed" data-testid="saml-require-signed" aria-describedby="saml-require-signed-help" prop:checked=move || f.require_signed.get() on:change=move |ev| f.require_signed.set(event_target_checked(&ev)) />" Require signed requests"</label>
            <p class="help" id="saml-require-signed-help">"Refuse sign-in and logout requests the SP did not sign with the certificate above."</p>
        </fieldset>
    }
}

/// One ACS URL row of the editor.
#[derive(Clone, Copy)]
struct AcsRow {
    /// The row's identity in the list (not its ACS index, which the admin may change).
    key: u32,
    index: RwSignal<String>,
    binding: RwSignal<String>,
    url: RwSignal<String>,
}

/// The fields of the API's `saml` object that the editor shows beside a field.
const SHOWN: &[&str] = &[
    "sp_entity_id",
    "acs_urls",
    "default_acs_index",
    "slo_url",
    "slo_binding",
    "name_id_format",
    "attributes",
    "sign_response",
    "sp_certificate",
    "idp_initiated",
    "idp_initiated_relay_state",
];

/// A SAML app's settings as the admin edits them on its page.
#[derive(Clone, Copy)]
pub(crate) struct SamlEdit {
    entity_id: RwSignal<String>,
    acs: RwSignal<Vec<AcsRow>>,
    /// The key of the default ACS row.
    default_acs: RwSignal<u32>,
    next_key: StoredValue<u32>,
    slo_url: RwSignal<String>,
    slo_binding: RwSignal<String>,
    nameid: RwSignal<String>,
    attr_email: RwSignal<bool>,
    attr_name: RwSignal<bool>,
    sign_response: RwSignal<bool>,
    sign_assertion: RwSignal<bool>,
    sp_cert: RwSignal<String>,
    require_signed: RwSignal<bool>,
    allow_sha1: RwSignal<bool>,
    /// Users may start the app from their account page, with this RelayState.
    idp_initiated: RwSignal<bool>,
    idp_relay: RwSignal<String>,
    /// The last save's refusals of `saml.*` fields: (field, message).
    errors: RwSignal<Vec<(String, String)>>,
}

impl SamlEdit {
    /// The fields filled with the app's saved settings.
    pub(crate) fn new(s: &SamlAppView) -> Self {
        let acs: Vec<AcsRow> = s
            .acs_urls
            .iter()
            .zip(0u32..)
            .map(|(a, key)| AcsRow {
                key,
                index: RwSignal::new(a.index.to_string()),
                binding: RwSignal::new(a.binding.clone()),
                url: RwSignal::new(a.url.clone()),
            })
            .collect();
        let default_key = s
            .acs_urls
            .iter()
            .zip(0u32..)
            .find(|(a, _)| a.index == s.default_acs_index)
            .map_or(0, |(_, k)| k);
        let has = |name: &str| s.attributes.iter().any(|a| a == name);
        Self {
            entity_id: RwSignal::new(s.sp_entity_id.clone()),
            next_key: StoredValue::new(acs.len() as u32),
            acs: RwSignal::new(acs),
            default_acs: RwSignal::new(default_key),
            slo_url: RwSignal::new(s.slo_url.clone().unwrap_or_default()),
            slo_binding: RwSignal::new(
                s.slo_binding
                    .clone()
                    .unwrap_or_else(|| "redirect".to_owned()),
            ),
            nameid: RwSignal::new(s.name_id_format.clone()),
            attr_email: RwSignal::new(has("email")),
            attr_name: RwSignal::new(has("name")),
            sign_response: RwSignal::new(s.sign_response),
            sign_assertion: RwSignal::new(s.sign_assertion),
            sp_cert: RwSignal::new(s.sp_certificate.clone().unwrap_or_default()),
            require_signed: RwSignal::new(s.require_signed_requests),
            allow_sha1: RwSignal::new(s.allow_sha1),
            idp_initiated: RwSignal::new(s.idp_initiated),
            idp_relay: RwSignal::new(s.idp_initiated_relay_state.clone().unwrap_or_default()),
            errors: RwSignal::new(Vec::new()),
        }
    }

    fn add_acs(&self) {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        // The next free index after the highest one typed.
        let next = self
            .acs
            .get_untracked()
            .iter()
            .filter_map(|r| r.index.get_untracked().trim().parse::<u32>().ok())
            .max()
            .map_or(0, |m| m + 1);
        self.acs.update(|rows| {
            rows.push(AcsRow {
                key,
                index: RwSignal::new(next.to_string()),
                binding: RwSignal::new("post".to_owned()),
                url: RwSignal::new(String::new()),
            })
        });
    }

    fn remove_acs(&self, key: u32) {
        self.acs.update(|rows| rows.retain(|r| r.key != key));
    }

    /// The PATCH's `saml` object, or the field the admin must correct first.
    pub(crate) fn body(&self) -> Result<serde_json::Value, (String, String)> {
        let bad = |field: &str, message: &str| (format!("saml.{field}"), message.to_owned());
        let mut acs = Vec::new();
        let mut default = None;
        for row in self.acs.get() {
            let index: u16 = row.index.get().trim().parse().map_err(|_| {
                bad(
                    "acs_urls",
                    "each ACS index is a whole number from 0 to 65535",
                )
            })?;
            if row.key == self.default_acs.get() {
                default = Some(index);
            }
            acs.push(serde_json::json!({
                "url": row.url.get().trim(), "binding": row.binding.get(), "index": index,
            }));
        }
        let attributes: Vec<&str> = [("email", self.attr_email), ("name", self.attr_name)]
            .into_iter()
            .filter(|(_, on)| on.get())
            .map(|(name, _)| name)
            .collect();
        let slo = self.slo_url.get().trim().to_owned();
        let mut saml = serde_json::json!({
            "sp_entity_id": self.entity_id.get().trim(),
            "acs_urls": acs,
            // An empty URL removes Single Logout.
            "slo_url": slo,
            "name_id_format": self.nameid.get(),
            "attributes": attributes,
            "sign_response": self.sign_response.get(),
            "sign_assertion": self.sign_assertion.get(),
            // An empty certificate removes it.
            "sp_certificate": self.sp_cert.get().trim(),
            "require_signed_requests": self.require_signed.get(),
            "allow_sha1": self.allow_sha1.get(),
            "idp_initiated": self.idp_initiated.get(),
            // An empty RelayState removes it.
            "idp_initiated_relay_state": self.idp_relay.get().trim(),
        });
        if let Some(d) = default {
            saml["default_acs_index"] = d.into();
        }
        if !slo.is_empty() {
            saml["slo_binding"] = self.slo_binding.get().into();
        }
        Ok(saml)
    }

    /// Keeps a failed save's `saml.*` field errors for their fields; the note above the Save
    /// button says what is left (a message for a field not shown here).
    pub(crate) fn show_errors(&self, fields: Vec<(String, String)>) -> Vec<(String, String)> {
        let (mine, rest): (Vec<_>, Vec<_>) = fields.into_iter().partition(|(field, _)| {
            field
                .strip_prefix("saml.")
                .is_some_and(|name| SHOWN.contains(&name))
        });
        self.errors.set(mine);
        rest
    }

    pub(crate) fn clear_errors(&self) {
        self.errors.set(Vec::new());
    }

    /// The message of the refusal of `saml.{name}`, if the last save had one.
    fn error(
        self,
        name: &'static str,
    ) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
        let errors = self.errors;
        move || {
            errors.with(|e| {
                e.iter()
                    .find(|(field, _)| field.strip_prefix("saml.") == Some(name))
                    .map(|(_, message)| message.clone())
            })
        }
    }
}

/// The error beside a field (`{id}-error`), when its last save was refused.
fn field_error(
    id: &'static str,
    message: impl Fn() -> Option<String> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        message().map(|m| {
            view! { <p class="error field-error" id=format!("{id}-error") data-testid=format!("{id}-error")>{m}</p> }
        })
    }
}

/// A text input of the editor with its help and its error.
fn edit_text(
    label: &'static str,
    id: &'static str,
    help: &'static str,
    v: RwSignal<String>,
    error: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let help_id = format!("{id}-help");
    view! {
        <label for=id>{label}</label>
        <input id=id data-testid=id aria-describedby=help_id.clone() aria-invalid=move || error().is_some().then_some("true") prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev)) />
        <p class="help" id=help_id>{help}</p>
        {field_error(id, error)}
    }
}

fn edit_check(label: &'static str, id: &'static str, v: RwSignal<bool>) -> impl IntoView {
    view! {
        <label class="check"><input type="checkbox" id=id data-testid=id prop:checked=move || v.get() on:change=move |ev| v.set(event_target_checked(&ev)) />{label}</label>
    }
}

/// The ACS URLs: one row each (index, binding, URL, default), added and removed in place.
fn acs_rows(e: SamlEdit) -> impl IntoView {
    let error = e.error("acs_urls");
    let default_error = e.error("default_acs_index");
    view! {
        <table class="acs-rows" data-testid="saml-acs-rows" aria-describedby="saml-acs-help">
            <caption>"Assertion consumer service (ACS) URLs"</caption>
            <thead><tr><th scope="col">"Index"</th><th scope="col">"Binding"</th><th scope="col">"URL"</th><th scope="col">"Default"</th><th scope="col"><span class="visually-hidden">"Remove"</span></th></tr></thead>
            <tbody>
                <For each=move || e.acs.get() key=|r| r.key let:row>
                    <tr data-testid="saml-acs-row">
                        <td><input class="acs-index" inputmode="numeric" aria-label="Index" data-testid="saml-acs-index" prop:value=move || row.index.get() on:input=move |ev| row.index.set(event_target_value(&ev)) /></td>
                        <td><select aria-label="Binding" data-testid="saml-acs-binding" on:change=move |ev| row.binding.set(event_target_value(&ev))>
                            <option value="post" prop:selected=move || row.binding.get() == "post">"HTTP-POST"</option>
                            <option value="redirect" prop:selected=move || row.binding.get() == "redirect">"HTTP-Redirect (not used for sign-in)"</option>
                        </select></td>
                        <td class="acs-url"><input aria-label="URL" data-testid="saml-acs-url" prop:value=move || row.url.get() on:input=move |ev| row.url.set(event_target_value(&ev)) /></td>
                        <td><input type="radio" name="saml-default-acs" aria-label="Default" data-testid="saml-acs-default" prop:checked=move || e.default_acs.get() == row.key on:change=move |_| e.default_acs.set(row.key) /></td>
                        <td><button type="button" data-testid="saml-acs-remove" aria-label="Remove this ACS URL" on:click=move |_| e.remove_acs(row.key)>"Remove"</button></td>
                    </tr>
                </For>
            </tbody>
        </table>
        <button type="button" data-testid="saml-acs-add" on:click=move |_| e.add_acs()>"Add an ACS URL"</button>
        <p class="help" id="saml-acs-help">"Where the SP receives the signed response, https unless on this machine; at most 10. Portcullis sends it with HTTP-POST; the default is used when a request names none (and for sign-ins started from the account page)."</p>
        {field_error("saml-acs", error)}
        {field_error("saml-default-acs", default_error)}
    }
}

/// The app page's SAML section: the SP's settings, saved with the app's other settings.
pub(crate) fn saml_section(e: SamlEdit) -> impl IntoView {
    let sign_error = e.error("sign_response");
    let cert_error = e.error("sp_certificate");
    let attr_error = e.error("attributes");
    view! {
        <fieldset class="app-section" data-testid="app-section-saml">
            <legend><h3>"SAML service provider"</h3></legend>
            {edit_text("SP entity id", "saml-edit-entity-id",
                "The SP's identifier, exactly as it sends it as Issuer (often its metadata URL). Unique in this organization.",
                e.entity_id, e.error("sp_entity_id"))}
            {acs_rows(e)}
            {edit_text("Single Logout URL (empty: the SP is not told of sign-outs)", "saml-edit-slo-url",
                "Where Portcullis sends logout requests when a session the SP took part in ends.",
                e.slo_url, e.error("slo_url"))}
            {choice("Single Logout binding", "saml-edit-slo-binding",
                "SOAP: server to server, retried until delivered (deliveries show on this page). Redirect or POST: through the user's browser on the signed-out page.",
                &[("redirect", "HTTP-Redirect"), ("post", "HTTP-POST"), ("soap", "SOAP (back channel)")], e.slo_binding)}
            {field_error("saml-edit-slo-binding", e.error("slo_binding"))}
            {choice("NameID format", "saml-edit-nameid",
                "Email: the user's address. Persistent: an opaque id, the same at every sign-in and different for every app. Transient: a new id at every sign-in.",
                &[("email", "Email address"), ("persistent", "Persistent (pairwise)"), ("transient", "Transient")], e.nameid)}
            {field_error("saml-edit-nameid", e.error("name_id_format"))}
            <fieldset class="choices" data-testid="saml-edit-attributes">
                <legend>"Attributes released in the assertion"</legend>
                {edit_check(" Email address (email)", "saml-edit-attr-email", e.attr_email)}
                {edit_check(" Name (name)", "saml-edit-attr-name", e.attr_name)}
            </fieldset>
            {field_error("saml-edit-attributes", attr_error)}
            <fieldset class="choices" data-testid="saml-edit-signing">
                <legend>"What Portcullis signs (at least one)"</legend>
                {edit_check(" The response", "saml-edit-sign-response", e.sign_response)}
                {edit_check(" The assertion", "saml-edit-sign-assertion", e.sign_assertion)}
            </fieldset>
            {field_error("saml-edit-signing", sign_error)}
            <label for="saml-edit-sp-cert">"SP signing certificate, PEM (empty: none)"</label>
            <textarea id="saml-edit-sp-cert" data-testid="saml-edit-sp-cert" rows="6" aria-describedby="saml-edit-sp-cert-help" aria-invalid=move || cert_error().is_some().then_some("true") prop:value=move || e.sp_cert.get() on:input=move |ev| e.sp_cert.set(event_target_value(&ev))></textarea>
            <p class="help" id="saml-edit-sp-cert-help">"-----BEGIN CERTIFICATE----- …: verifies the SP's signed requests and logout messages."</p>
            {field_error("saml-edit-sp-cert", cert_error)}
            {edit_check(" Require signed requests (refuse sign-in and logout requests the SP did not sign with this certificate)", "saml-edit-require-signed", e.require_signed)}
            {edit_check(" Accept SHA-1 signatures from this SP (weak: only for an SP that cannot do SHA-256)", "saml-edit-allow-sha1", e.allow_sha1)}
            {edit_check(" Users may open the app from their account page (IdP-initiated sign-in to the default ACS, which must take POST)", "saml-edit-idp-initiated", e.idp_initiated)}
            {field_error("saml-edit-idp-initiated", e.error("idp_initiated"))}
            {edit_text("RelayState for sign-ins started from the account page (optional, at most 80 bytes)", "saml-edit-idp-relay",
                "Sent unchanged with the Response: many SPs read it as the page to open after sign-in.",
                e.idp_relay, e.error("idp_initiated_relay_state"))}
            <p class="help">"Assertion encryption is not offered yet: the assertion is signed and travels over TLS."</p>
        </fieldset>
    }
}
