//! The app's settings as the admin edits them, in sections: sign-in, session rules (with the
//! privileged and standard presets explained), tokens, logout; for a SAML app, its SAML
//! section (`pages::saml_app`) instead of the OAuth ones, saved with the rest.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use portcullis_api_types::{AppView, Page, TestLogoutView};

use crate::api::{Auth, api, bump, enc, spawn_call};
use crate::human::{format_duration, parse_duration};
use crate::pages::refusal::{Refusal, send};
use crate::pages::saml_app::{SamlEdit, saml_section};
use crate::ui::{ErrorNote, Toasts};

fn opt_duration(v: Option<i64>) -> String {
    v.map(format_duration).unwrap_or_default()
}

/// A duration typed by the admin ("15 min", "8 h") as seconds; empty = none.
fn parse_opt_duration(raw: &str, field: &str) -> Result<Option<i64>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    parse_duration(raw)
        .map(Some)
        .map_err(|e| format!("{field}: {e}"))
}

/// A required duration.
fn parse_required(raw: &str, field: &str) -> Result<i64, String> {
    parse_opt_duration(raw, field)?.ok_or_else(|| format!("{field}: required"))
}

fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The session rules of a profile's preset: (re-authentication, MFA, idle timeout, lifetime,
/// outlives the sign-in). The server's presets (`SessionProfile::preset`), shown and applied
/// here so the admin sees what a preset changes before saving.
fn preset(profile: &str) -> (Option<i64>, bool, Option<i64>, i64, bool) {
    if profile == "privileged" {
        (Some(15 * 60), true, Some(10 * 60), 8 * 3_600, false)
    } else {
        (None, false, Some(14 * 86_400), 30 * 86_400, true)
    }
}

/// The app editor's fields, as the admin types them.
#[derive(Clone, Copy)]
pub(super) struct AppForm {
    name: RwSignal<String>,
    redirects: RwSignal<String>,
    post_logout: RwSignal<String>,
    backchannel: RwSignal<String>,
    frontchannel: RwSignal<String>,
    profile: RwSignal<String>,
    reauth: RwSignal<String>,
    mfa: RwSignal<bool>,
    idle: RwSignal<String>,
    lifetime: RwSignal<String>,
    outlives: RwSignal<bool>,
    first_party: RwSignal<bool>,
    /// `client_secret`, `private_key_jwt`, or `none` (public apps: not editable).
    client_auth: RwSignal<String>,
    jwks_uri: RwSignal<String>,
    jwks: RwSignal<String>,
    require_par: RwSignal<bool>,
    access_ttl: RwSignal<String>,
    id_ttl: RwSignal<String>,
    dpop: RwSignal<bool>,
    dpop_nonce: RwSignal<bool>,
}

impl AppForm {
    /// The fields filled with the app's saved values.
    pub(super) fn new(app: &AppView) -> Self {
        let r = &app.session_rules;
        Self {
            name: RwSignal::new(app.name.clone()),
            redirects: RwSignal::new(app.redirect_uris.join("\n")),
            post_logout: RwSignal::new(app.post_logout_redirect_uris.join("\n")),
            backchannel: RwSignal::new(app.backchannel_logout_uri.clone().unwrap_or_default()),
            frontchannel: RwSignal::new(app.frontchannel_logout_uri.clone().unwrap_or_default()),
            profile: RwSignal::new(app.session_profile.clone()),
            reauth: RwSignal::new(opt_duration(r.reauth_max_age_secs)),
            mfa: RwSignal::new(r.mfa_required),
            idle: RwSignal::new(opt_duration(r.idle_timeout_secs)),
            lifetime: RwSignal::new(format_duration(r.lifetime_secs)),
            outlives: RwSignal::new(r.outlives_idp_session),
            first_party: RwSignal::new(app.first_party),
            client_auth: RwSignal::new(app.client_auth.clone()),
            jwks_uri: RwSignal::new(app.jwks_uri.clone().unwrap_or_default()),
            jwks: RwSignal::new(app.jwks.clone().unwrap_or_default()),
            require_par: RwSignal::new(app.require_par),
            access_ttl: RwSignal::new(format_duration(app.access_token_ttl_secs)),
            id_ttl: RwSignal::new(format_duration(app.id_token_ttl_secs)),
            dpop: RwSignal::new(app.dpop_required),
            dpop_nonce: RwSignal::new(app.dpop_nonce_required),
        }
    }

    /// Fills the session rules with a profile's preset (saved with the rest).
    fn apply_preset(&self, profile: &str) {
        let (reauth, mfa, idle, lifetime, outlives) = preset(profile);
        self.profile.set(profile.to_owned());
        self.reauth.set(opt_duration(reauth));
        self.mfa.set(mfa);
        self.idle.set(opt_duration(idle));
        self.lifetime.set(format_duration(lifetime));
        self.outlives.set(outlives);
    }

    /// The session profile and rules of the PATCH body.
    fn session_body(&self) -> Result<serde_json::Value, String> {
        let lifetime = parse_required(&self.lifetime.get(), "App-session lifetime")?;
        Ok(serde_json::json!({
            "name": self.name.get(),
            "session_profile": self.profile.get(),
            "session_rules": {
                "reauth_max_age_secs": parse_opt_duration(&self.reauth.get(), "Re-authentication")?,
                "mfa_required": self.mfa.get(),
                "idle_timeout_secs": parse_opt_duration(&self.idle.get(), "Idle timeout")?,
                "lifetime_secs": lifetime,
                "outlives_idp_session": self.outlives.get(),
            },
        }))
    }

    /// The PATCH body, or what the admin has to correct first.
    fn body(&self) -> Result<serde_json::Value, String> {
        let lifetime = parse_required(&self.lifetime.get(), "App-session lifetime")?;
        let auth = self.client_auth.get();
        let mut body = serde_json::json!({
            "name": self.name.get(),
            "redirect_uris": lines(&self.redirects.get()),
            "post_logout_redirect_uris": lines(&self.post_logout.get()),
            "backchannel_logout_uri": self.backchannel.get().trim(),
            "frontchannel_logout_uri": self.frontchannel.get().trim(),
            "first_party": self.first_party.get(),
            "dpop_required": self.dpop.get(),
            "dpop_nonce_required": self.dpop_nonce.get(),
            "session_profile": self.profile.get(),
            "session_rules": {
                "reauth_max_age_secs": parse_opt_duration(&self.reauth.get(), "Re-authentication")?,
                "mfa_required": self.mfa.get(),
                "idle_timeout_secs": parse_opt_duration(&self.idle.get(), "Idle timeout")?,
                "lifetime_secs": lifetime,
                "outlives_idp_session": self.outlives.get(),
            },
            "access_token_ttl_secs": parse_required(&self.access_ttl.get(), "Access token lifetime")?,
            "id_token_ttl_secs": parse_required(&self.id_ttl.get(), "ID token lifetime")?,
            "require_par": self.require_par.get(),
        });
        if auth != "none" {
            body["client_auth"] = auth.into();
            body["jwks_uri"] = self.jwks_uri.get().trim().into();
            body["jwks"] = self.jwks.get().trim().into();
        }
        Ok(body)
    }
}

fn text(label: &'static str, id: &'static str, v: RwSignal<String>) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input id=id data-testid=id prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev)) />
    }
}

fn area(label: &'static str, id: &'static str, v: RwSignal<String>) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <textarea id=id data-testid=id prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev))></textarea>
    }
}

fn check(label: &'static str, id: &'static str, v: RwSignal<bool>) -> impl IntoView {
    view! {
        <label class="check"><input type="checkbox" id=id data-testid=id prop:checked=move || v.get() on:change=move |ev| v.set(event_target_checked(&ev)) />{label}</label>
    }
}

/// A SAML app's name (its sign-in settings are in its SAML section).
fn name_section(f: AppForm) -> impl IntoView {
    view! {
        <fieldset class="app-section" data-testid="app-section-signin">
            <legend><h3>"App"</h3></legend>
            {text("Name", "edit-name", f.name)}
        </fieldset>
    }
}

/// Sign-in: the app's name, where codes may go, client authentication, PAR, consent.
fn sign_in_section(f: AppForm) -> impl IntoView {
    let confidential = f.client_auth.get_untracked() != "none";
    view! {
        <fieldset class="app-section" data-testid="app-section-signin">
            <legend><h3>"Sign-in"</h3></legend>
            {text("Name", "edit-name", f.name)}
            {area("Redirect URIs, one per line (matched exactly)", "edit-redirects", f.redirects)}
            {check(" First party (no consent screen)", "edit-first-party", f.first_party)}
            {check(" Requires pushed authorization requests (PAR)", "edit-require-par", f.require_par)}
            {confidential.then(|| view! {
                <label for="edit-client-auth">"Client authentication"</label>
                <select id="edit-client-auth" data-testid="edit-client-auth" on:change=move |ev| f.client_auth.set(event_target_value(&ev))>
                    <option value="client_secret" selected=f.client_auth.get_untracked() == "client_secret">"Client secret"</option>
                    <option value="private_key_jwt" selected=f.client_auth.get_untracked() == "private_key_jwt">"Signed JWT with the app's key (private_key_jwt)"</option>
                </select>
                {text("JWK Set URI for private_key_jwt (empty: none)", "edit-jwks-uri", f.jwks_uri)}
                {area("Or the app's public JWK Set, as JSON (empty: none)", "edit-jwks", f.jwks)}
            })}
            {(!confidential).then(|| view! {
                <p class="help">"A public app (single-page or native): it has no secret and proves each code exchange with PKCE."</p>
            })}
        </fieldset>
    }
}

/// Session rules: what the two presets mean, the buttons that apply them, and the rules.
fn session_section(f: AppForm) -> impl IntoView {
    let current = move || {
        if f.profile.get() == "privileged" {
            "Privileged"
        } else {
            "Standard"
        }
    };
    view! {
        <fieldset class="app-section" data-testid="app-section-session">
            <legend><h3>"Session rules"</h3></legend>
            <p class="help">"How long the app's session lasts once the user signed in to it, and whether it ends with the sign-in. Profile: "
                <strong data-testid="app-profile-current">{current}</strong>"."</p>
            <table class="presets" data-testid="app-presets">
                <caption>"The two presets"</caption>
                <thead><tr><th scope="col"></th><th scope="col">"Privileged (payments, admin)"</th><th scope="col">"Standard (catalog, loyalty)"</th></tr></thead>
                <tbody>
                    <tr><th scope="row">"Sign in again"</th><td>"after 15 min: checkout asks for the password again"</td><td>"never: single sign-on keeps working"</td></tr>
                    <tr><th scope="row">"Second factor"</th><td>"required"</td><td>"as the org's policy says"</td></tr>
                    <tr><th scope="row">"Idle timeout"</th><td>"10 min without a refresh"</td><td>"14 days"</td></tr>
                    <tr><th scope="row">"Lifetime"</th><td>"8 h"</td><td>"30 days"</td></tr>
                    <tr><th scope="row">"When the sign-in ends"</th><td>"the app session ends with it (Single Logout)"</td><td>"it outlives it: refresh tokens keep working, a privileged action asks to sign in again"</td></tr>
                </tbody>
            </table>
            <p class="preset-buttons">
                <button type="button" data-testid="app-preset-privileged" on:click=move |_| f.apply_preset("privileged")>"Use the privileged preset"</button>
                <button type="button" data-testid="app-preset-standard" on:click=move |_| f.apply_preset("standard")>"Use the standard preset"</button>
            </p>
            {text("Re-authentication after (like 15 min or 8 h; empty: never)", "edit-reauth", f.reauth)}
            {check(" Needs a second factor", "edit-mfa", f.mfa)}
            {text("App-session idle timeout (like 30 min; empty: none)", "edit-idle", f.idle)}
            {text("App-session lifetime (like 8 h or 30 days)", "edit-lifetime", f.lifetime)}
            {check(" The app session may outlive the sign-in (keeps its refresh tokens after Single Logout)", "edit-outlives", f.outlives)}
        </fieldset>
    }
}

/// Tokens: lifetimes and sender-constraining.
fn tokens_section(f: AppForm, grants: String) -> impl IntoView {
    view! {
        <fieldset class="app-section" data-testid="app-section-tokens">
            <legend><h3>"Tokens"</h3></legend>
            <p class="help">"Grants: " <code>{grants}</code></p>
            {text("Access token lifetime (like 15 min)", "edit-access-ttl", f.access_ttl)}
            {text("ID token lifetime (like 15 min)", "edit-id-ttl", f.id_ttl)}
            {check(" Requires DPoP (sender-constrained tokens; requests without a DPoP proof are refused)", "edit-dpop", f.dpop)}
            {check(" DPoP proofs need a server nonce", "edit-dpop-nonce", f.dpop_nonce)}
        </fieldset>
    }
}

/// Logout: where the app is told that a session ended, and the check that it hears it.
fn logout_section(
    f: AppForm,
    has_backchannel: bool,
    test_logout: impl Fn() + Clone + 'static,
    tested: RwSignal<Option<TestLogoutView>>,
) -> impl IntoView {
    view! {
        <fieldset class="app-section" data-testid="app-section-logout">
            <legend><h3>"Logout"</h3></legend>
            {area("Post-logout redirect URIs, one per line", "edit-post-logout", f.post_logout)}
            {text("Back-channel logout URI (empty: none): Portcullis POSTs a logout token here when a session the app took part in ends", "edit-backchannel", f.backchannel)}
            {text("Front-channel logout URI (empty: none)", "edit-frontchannel", f.frontchannel)}
            {has_backchannel.then(|| view! {
                <p class="help">"Check that logout reaches the app: one logout token goes to its back-channel URI now (for no real session), and you see what the app answered."</p>
                <button type="button" data-testid="app-test-logout" on:click=move |_| test_logout()>"Send a test logout token"</button>
            })}
            {move || tested.get().map(|t| {
                let text = if t.delivered {
                    format!("Delivered: the app answered HTTP {}.", t.http_status.unwrap_or_default())
                } else {
                    format!("Not delivered: {}.", t.error.unwrap_or_default())
                };
                view! { <p class="notice" role="status" data-testid="app-test-logout-result">{text}</p> }
            })}
        </fieldset>
    }
}

/// The PATCH body of the editor: an OIDC app's settings, or a SAML app's name, session rules
/// and `saml` object (no OAuth field: a SAML app refuses them). A SAML field to correct first
/// is marked by its field.
fn edit_body(f: AppForm, saml: Option<SamlEdit>) -> Result<String, Refusal> {
    let message = |message| Refusal {
        message,
        fields: Vec::new(),
    };
    let Some(e) = saml else {
        return Ok(f.body().map_err(message)?.to_string());
    };
    let mut body = f.session_body().map_err(message)?;
    body["saml"] = e.body().map_err(|field| Refusal {
        message: String::new(),
        fields: vec![field],
    })?;
    Ok(body.to_string())
}

/// Where a refused save's errors go: `saml.*` ones beside their SAML fields, the rest (or the
/// whole message) in the note beside the Save button.
fn show_failure(failure: Refusal, saml: Option<SamlEdit>, error: RwSignal<Option<String>>) {
    let Some(e) = saml.filter(|_| !failure.fields.is_empty()) else {
        return error.set(Some(failure.message));
    };
    let rest = e.show_errors(failure.fields);
    let note = if rest.is_empty() {
        "Not saved: correct the fields marked in the SAML section.".to_owned()
    } else {
        let rest: Vec<String> = rest
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        format!("Not saved: {}", rest.join("; "))
    };
    error.set(Some(note));
}

/// Edits an app in sections; back to the list once saved.
#[component]
pub(super) fn EditApp(
    auth: Auth,
    app: AppView,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let f = AppForm::new(&app);
    let saml = app.saml.as_ref().map(SamlEdit::new);
    let error = RwSignal::new(None::<String>);
    let id = app.id.clone();
    let list_url = format!("/console/{}/apps", auth.org);
    let navigate = use_navigate();
    let back = move || navigate(&list_url, Default::default());
    let to_list = back.clone();
    let toasts = expect_context::<Toasts>();
    let tested = RwSignal::new(None::<TestLogoutView>);
    let test_logout = {
        let (auth, id) = (auth.clone(), id.clone());
        move || {
            tested.set(None);
            let path = format!("/apps/{}/test-logout", enc(&id));
            let request = api(auth.clone(), "POST", path, None);
            spawn_call(request, error, move |t: TestLogoutView| tested.set(Some(t)));
        }
    };
    let has_backchannel = app.backchannel_logout_uri.is_some();
    let save = move || {
        if let Some(e) = saml {
            e.clear_errors();
        }
        let body = match edit_body(f, saml) {
            Ok(b) => b,
            Err(failure) => return show_failure(failure, saml, error),
        };
        let url = format!("/api/v1/orgs/{}/apps/{}", enc(&auth.org), enc(&id));
        let request = send::<AppView>(auth.clone(), "PATCH", url, Some(body));
        let to_list = to_list.clone();
        leptos::task::spawn_local(async move {
            let updated = match request.await {
                Ok(a) => a,
                Err(failure) => return show_failure(failure, saml, error),
            };
            toasts.show("app-notice", format!("Saved {}.", updated.name));
            // The list shows the saved app at once (the reload below may take a while):
            // editing it again must not start from the old values.
            apps.update(|page| {
                if let Some(page) = page
                    && let Some(row) = page.items.iter_mut().find(|a| a.id == updated.id)
                {
                    *row = updated;
                }
            });
            bump(reload);
            to_list();
        });
    };
    let grants = app.grant_types.join(", ");
    let sections = match saml {
        Some(e) => view! {
            {name_section(f)}
            {saml_section(e)}
            {session_section(f)}
        }
        .into_any(),
        None => view! {
            {sign_in_section(f)}
            {session_section(f)}
            {tokens_section(f, grants)}
            {logout_section(f, has_backchannel, test_logout, tested)}
        }
        .into_any(),
    };
    view! {
        <section data-testid="app-editor" aria-labelledby="app-settings-title">
            <h3 id="app-settings-title" class="visually-hidden">"Settings of " {app.name.clone()}</h3>
            <form class="app-form" on:submit=move |ev| { ev.prevent_default(); save(); }>
                {sections}
                // Beside the Save button, where the admin looks after saving.
                <ErrorNote error=error />
                <p class="actions">
                    <button type="submit" data-testid="edit-save">"Save"</button>
                    <button type="button" on:click=move |_| back()>"Cancel"</button>
                </p>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_read_back_as_durations() {
        let (reauth, mfa, idle, lifetime, outlives) = preset("privileged");
        assert_eq!(opt_duration(reauth), "15 min");
        assert!(mfa && !outlives);
        assert_eq!(opt_duration(idle), "10 min");
        assert_eq!(format_duration(lifetime), "8 h");
        let (reauth, _, idle, lifetime, outlives) = preset("standard");
        assert_eq!((opt_duration(reauth), outlives), (String::new(), true));
        assert_eq!(opt_duration(idle), "14 days");
        assert_eq!(format_duration(lifetime), "30 days");
    }
}
