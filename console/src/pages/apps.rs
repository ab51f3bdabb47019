//! Apps (`/console/{org}/apps`): the org's registered apps, the editor of one at its own URL
//! (`/console/{org}/apps/{id}`), and the form that registers another.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use portcullis_api_types::{AppView, AppWithSecret, Page, TestLogoutView};

use crate::api::{Auth, api, bump, enc, fetch_into, list, spawn_call};
use crate::human::{format_duration, parse_duration};
use crate::pages::saml_app::{SamlFields, SamlForm, SamlSettings};
use crate::ui::ErrorNote;

#[component]
pub(crate) fn Apps(auth: Auth, selected: Signal<Option<String>>) -> impl IntoView {
    let (apps, error, reload) = list::<AppView>(auth.clone(), "/apps?per_page=200");
    let auth_edit = auth.clone();
    let org = auth.org.clone();
    view! {
        <section data-testid="apps-page">
            <h2>"Apps"</h2>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"Name"</th><th>"Client id"</th><th>"Type"</th><th>"Profile"</th></tr></thead>
                <tbody>
                    {move || apps.get().map(|p| p.items.into_iter().map(|a| {
                        let href = format!("/console/{org}/apps/{}", enc(&a.id));
                        view! {
                            <tr data-testid="app-row"><td><a href=href.clone()>{a.name}</a></td><td><code>{a.client_id}</code></td>
                            <td>{a.app_type}</td><td>{a.session_profile}</td>
                            <td><a href=href data-testid="app-edit">"Edit"</a></td></tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            {move || selected.get().map(|id| view! { <AppEditor auth=auth_edit.clone() id=id apps=apps reload=reload /> })}
            <RegisterApp auth=auth error=error reload=reload />
        </section>
    }
}

/// Registers an app, then shows its client id and (once) its secret.
#[component]
fn RegisterApp(
    auth: Auth,
    error: RwSignal<Option<String>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let redirect = RwSignal::new(String::new());
    let profile = RwSignal::new("standard".to_owned());
    let backchannel = RwSignal::new(String::new());
    // `oidc` or `saml`: which protocol the app speaks.
    let kind = RwSignal::new("oidc".to_owned());
    let saml = SamlForm::new();
    let created = RwSignal::new(None::<AppWithSecret>);
    let create = move || {
        let bc = backchannel.get();
        let body = if kind.get() == "saml" {
            serde_json::json!({
                "name": name.get(), "app_type": "saml", "session_profile": profile.get(),
                "saml": saml.body(),
            })
        } else {
            serde_json::json!({
                "name": name.get(), "redirect_uris": [redirect.get()], "session_profile": profile.get(),
                "backchannel_logout_uri": if bc.trim().is_empty() { None } else { Some(bc.trim().to_owned()) },
            })
        }
        .to_string();
        spawn_call(
            api(auth.clone(), "POST", "/apps", Some(body)),
            error,
            move |a| {
                error.set(None);
                created.set(Some(a));
                bump(reload);
            },
        );
    };
    view! {
        <h3>"Register an app"</h3>
        <p class="help">"Privileged: for payments or admin apps — short sessions that end with the sign-in, a second factor, and a fresh sign-in every 15 minutes. Standard: for a catalog or a loyalty app — long sessions that outlive the sign-in."</p>
        <form on:submit=move |ev| { ev.prevent_default(); create(); }>
            <label for="app-name">"Name"</label>
            <input id="app-name" data-testid="app-name" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <label for="app-kind">"Protocol"</label>
            <select id="app-kind" data-testid="app-kind" aria-describedby="app-kind-help" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="oidc" selected>"OpenID Connect"</option>
                <option value="saml">"SAML 2.0"</option>
            </select>
            <p class="help" id="app-kind-help">"OpenID Connect for apps that sign in with OAuth; SAML for service providers (HR, payroll, older SaaS) that take SAML assertions."</p>
            {move || (kind.get() == "oidc").then(|| view! {
                <label for="app-redirect">"Redirect URI"</label>
                <input id="app-redirect" data-testid="app-redirect" required prop:value=move || redirect.get() on:input=move |ev| redirect.set(event_target_value(&ev)) />
            })}
            {move || (kind.get() == "saml").then(|| view! { <SamlFields form=saml /> })}
            <label for="app-profile">"Session profile"</label>
            <select id="app-profile" data-testid="app-profile" on:change=move |ev| profile.set(event_target_value(&ev))>
                <option value="standard" selected>"Standard (catalog, loyalty)"</option>
                <option value="privileged">"Privileged (payments, admin)"</option>
            </select>
            {move || (kind.get() == "oidc").then(|| view! {
                <label for="app-backchannel">"Back-channel logout URI (optional): Portcullis POSTs a logout token here when a session the app took part in ends"</label>
                <input id="app-backchannel" data-testid="app-backchannel" prop:value=move || backchannel.get() on:input=move |ev| backchannel.set(event_target_value(&ev)) />
            })}
            <button type="submit" data-testid="app-create">"Register"</button>
        </form>
        {move || created.get().map(|c| view! {
            <p class="notice" data-testid="app-created">"Registered " {c.app.name} ". Client id " <code>{c.app.client_id}</code>
            {c.client_secret.map(|s| view! { ", secret (shown once) " <code>{s}</code> })}</p>
        })}
    }
}

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

fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The app editor's fields, as the admin types them.
#[derive(Clone, Copy)]
struct AppForm {
    name: RwSignal<String>,
    redirects: RwSignal<String>,
    post_logout: RwSignal<String>,
    backchannel: RwSignal<String>,
    frontchannel: RwSignal<String>,
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
    dpop: RwSignal<bool>,
    dpop_nonce: RwSignal<bool>,
}

impl AppForm {
    /// The fields filled with the app's saved values.
    fn new(app: &AppView) -> Self {
        let r = &app.session_rules;
        Self {
            name: RwSignal::new(app.name.clone()),
            redirects: RwSignal::new(app.redirect_uris.join("\n")),
            post_logout: RwSignal::new(app.post_logout_redirect_uris.join("\n")),
            backchannel: RwSignal::new(app.backchannel_logout_uri.clone().unwrap_or_default()),
            frontchannel: RwSignal::new(app.frontchannel_logout_uri.clone().unwrap_or_default()),
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
            dpop: RwSignal::new(app.dpop_required),
            dpop_nonce: RwSignal::new(app.dpop_nonce_required),
        }
    }

    /// The PATCH body, or what the admin has to correct first.
    fn body(&self) -> Result<String, String> {
        let lifetime = parse_opt_duration(&self.lifetime.get(), "App-session lifetime")?
            .ok_or("App-session lifetime: required")?;
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
            "session_rules": {
                "reauth_max_age_secs": parse_opt_duration(&self.reauth.get(), "Re-authentication")?,
                "mfa_required": self.mfa.get(),
                "idle_timeout_secs": parse_opt_duration(&self.idle.get(), "Idle timeout")?,
                "lifetime_secs": lifetime,
                "outlives_idp_session": self.outlives.get(),
            },
            "require_par": self.require_par.get(),
        });
        if auth != "none" {
            body["client_auth"] = auth.into();
            body["jwks_uri"] = self.jwks_uri.get().trim().into();
            body["jwks"] = self.jwks.get().trim().into();
        }
        Ok(body.to_string())
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

/// The app at `/console/{org}/apps/{id}`: loads it, then its editor.
#[component]
fn AppEditor(
    auth: Auth,
    id: String,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let app = RwSignal::new(None::<AppView>);
    let error = RwSignal::new(None::<String>);
    fetch_into(auth.clone(), format!("/apps/{}", enc(&id)), app, error);
    view! {
        <ErrorNote error=error />
        {move || app.get().map(|a| view! { <EditApp auth=auth.clone() app=a apps=apps reload=reload /> })}
    }
}

/// Edits an app: URIs, logout URIs, session rules and lifetimes; back to the list once saved.
#[component]
fn EditApp(
    auth: Auth,
    app: AppView,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let f = AppForm::new(&app);
    let error = RwSignal::new(None::<String>);
    let id = app.id.clone();
    let list_url = format!("/console/{}/apps", auth.org);
    let navigate = use_navigate();
    let back = {
        let (navigate, list_url) = (navigate.clone(), list_url.clone());
        move || navigate(&list_url, Default::default())
    };
    let to_list = back.clone();
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
        let body = match f.body() {
            Ok(b) => b,
            Err(e) => return error.set(Some(e)),
        };
        let request = api(
            auth.clone(),
            "PATCH",
            format!("/apps/{}", enc(&id)),
            Some(body),
        );
        let to_list = to_list.clone();
        spawn_call(request, error, move |updated: AppView| {
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
    view! {
        <section data-testid="app-editor" aria-label="Edit app">
            <h3>"Edit " {app.name.clone()}</h3>
            <ErrorNote error=error />
            {app.saml.clone().map(|s| view! { <SamlSettings saml=s /> })}
            <form on:submit=move |ev| { ev.prevent_default(); save(); }>
                {text("Name", "edit-name", f.name)}
                {area("Redirect URIs, one per line (matched exactly)", "edit-redirects", f.redirects)}
                {area("Post-logout redirect URIs, one per line", "edit-post-logout", f.post_logout)}
                {text("Back-channel logout URI (empty: none)", "edit-backchannel", f.backchannel)}
                {text("Front-channel logout URI (empty: none)", "edit-frontchannel", f.frontchannel)}
                {text("Re-authentication after (like 15 min or 8 h; empty: never)", "edit-reauth", f.reauth)}
                {check(" Needs a second factor", "edit-mfa", f.mfa)}
                {text("App-session idle timeout (like 30 min; empty: none)", "edit-idle", f.idle)}
                {text("App-session lifetime (like 8 h or 30 days)", "edit-lifetime", f.lifetime)}
                {check(" The app session may outlive the sign-in (keeps its refresh tokens after Single Logout)", "edit-outlives", f.outlives)}
                {check(" First party (no consent screen)", "edit-first-party", f.first_party)}
                {check(" Requires DPoP (sender-constrained tokens; requests without a DPoP proof are refused)", "edit-dpop", f.dpop)}
                {check(" DPoP proofs need a server nonce", "edit-dpop-nonce", f.dpop_nonce)}
                {check(" Requires pushed authorization requests (PAR)", "edit-require-par", f.require_par)}
                {(f.client_auth.get_untracked() != "none").then(|| view! {
                    <label for="edit-client-auth">"Client authentication"</label>
                    <select id="edit-client-auth" data-testid="edit-client-auth" on:change=move |ev| f.client_auth.set(event_target_value(&ev))>
                        <option value="client_secret" selected=f.client_auth.get_untracked() == "client_secret">"Client secret"</option>
                        <option value="private_key_jwt" selected=f.client_auth.get_untracked() == "private_key_jwt">"Signed JWT with the app's key (private_key_jwt)"</option>
                    </select>
                    {text("JWK Set URI for private_key_jwt (empty: none)", "edit-jwks-uri", f.jwks_uri)}
                    {area("Or the app's public JWK Set, as JSON (empty: none)", "edit-jwks", f.jwks)}
                })}
                <button type="submit" data-testid="edit-save">"Save"</button>
                <button type="button" on:click=move |_| back()>"Cancel"</button>
            </form>
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
        </section>
    }
}
