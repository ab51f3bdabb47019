//! SAML apps in the console: the register form's SAML fields (`SamlFields`, with `SamlForm`
//! building the request's `saml` object) and the app page's SAML settings (`SamlSettings`).
//! `apps.rs` only calls these.

use leptos::prelude::*;
use portcullis_api_types::SamlAppView;

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
        }
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
                <option value=*value selected=v.get_untracked() == *value>{*text}</option>
            }).collect_view()}
        </select>
        <p class="help" id=help_id>{help}</p>
    }
}

/// The register form's SAML fields.
#[component]
pub(crate) fn SamlFields(form: SamlForm) -> impl IntoView {
    let f = form;
    view! {
        <fieldset data-testid="saml-fields">
            <legend>"SAML service provider"</legend>
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

/// A SAML app's settings on its page (read-only; SSO endpoints are coming).
#[component]
pub(crate) fn SamlSettings(saml: SamlAppView) -> impl IntoView {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let signed = match (saml.sign_response, saml.sign_assertion) {
        (true, true) => "response and assertion",
        (true, false) => "response",
        _ => "assertion",
    };
    let slo = match (&saml.slo_url, &saml.slo_binding) {
        (Some(url), Some(binding)) => format!("{url} ({binding})"),
        _ => "none".to_owned(),
    };
    view! {
        <section data-testid="saml-settings" aria-label="SAML settings">
            <h4>"SAML settings"</h4>
            <dl>
                <dt>"SP entity id"</dt><dd><code data-testid="saml-entity-id-shown">{saml.sp_entity_id.clone()}</code></dd>
                <dt>"ACS URLs"</dt>
                <dd><ul>{saml.acs_urls.iter().map(|a| {
                    let default = (a.index == saml.default_acs_index).then_some(" (default)");
                    view! { <li><code>{a.url.clone()}</code>" — index " {a.index} ", " {a.binding.clone()} {default}</li> }
                }).collect_view()}</ul></dd>
                <dt>"Single Logout"</dt><dd>{slo}</dd>
                <dt>"NameID"</dt><dd>{saml.name_id_format.clone()}</dd>
                <dt>"Attributes"</dt><dd>{saml.attributes.join(", ")}</dd>
                <dt>"Signed"</dt><dd>{signed}</dd>
                <dt>"SP certificate"</dt><dd>{if saml.sp_certificate.is_some() { "registered" } else { "none" }}</dd>
                <dt>"Signed requests required"</dt><dd>{yes_no(saml.require_signed_requests)}</dd>
                <dt>"SHA-1 accepted"</dt><dd>{yes_no(saml.allow_sha1)}</dd>
                <dt>"Encrypted assertions"</dt><dd>{yes_no(saml.encrypt_assertions)}</dd>
                <dt>"Started from the account page"</dt>
                <dd data-testid="saml-idp-initiated">{yes_no(saml.idp_initiated)}{saml.idp_initiated_relay_state.clone().map(|r| format!(" (RelayState {r})"))}</dd>
            </dl>
        </section>
    }
}
