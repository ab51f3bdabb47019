//! Portcullis admin console: a client-side Leptos app, compiled to wasm32 and served at `/console/`.
//!
//! The JavaScript bootstrap (`bootstrap.js`) loads the wasm-bindgen glue and calls its `init()`,
//! which runs [`start`]; that mounts [`App`] on `<body>`. The page has no inline scripts or styles,
//! so it works under the server's strict Content-Security-Policy.
//!
//! Sign-in: the console is a public app of each org (`GET /api/v1/console-client?org=` makes it
//! on first use). It sends the admin through the org's `/authorize` with PKCE (S256), takes the
//! code back at `/console/`, exchanges it at the org's token endpoint and keeps the access token
//! in memory only (a reload signs in again, silently while the IdP session lives). Every call to
//! the admin API carries it as a bearer token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leptos::prelude::*;
use portcullis_api_types::{
    ActivityHour, AppView, AppWithSecret, AuditEventView, ConsoleClient, DeliveryView,
    DeploymentInfo, ErrorBody, Page, Problem, RevokeOutcome, SessionPolicyView, SessionView,
    SigningKeyView, SignupPolicyView, UserView,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::wasm_bindgen;

/// Where the console learns the deployment's name and version.
pub const DEPLOYMENT_URL: &str = "/api/v1/deployment";

/// What the console knows about the deployment while and after it asks the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// The request is in flight.
    Loading,
    /// The server answered.
    Loaded(DeploymentInfo),
    /// The request failed; the message is shown to the user.
    Failed(String),
}

/// A signed-in admin: the org and the access token (memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub org: String,
    pub token: String,
}

/// The pages of a signed-in console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Dashboard,
    Apps,
    Users,
    Sessions,
    Deliveries,
    Policy,
    Audit,
    Keys,
}

/// Entry point, run by wasm-bindgen's `init()` once the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|_| "no Web Crypto")?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| "no randomness")?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn storage() -> Result<web_sys::Storage, String> {
    web_sys::window()
        .ok_or("no window")?
        .session_storage()
        .ok()
        .flatten()
        .ok_or_else(|| "no session storage".to_owned())
}

fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// Reads an answer: the body on success, the problem's detail (or status) otherwise.
async fn read<T: DeserializeOwned>(response: gloo_net::http::Response) -> Result<T, String> {
    if !response.ok() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<Problem>(&text)
            .map(|p| p.detail)
            .or_else(|_| serde_json::from_str::<ErrorBody>(&text).map(|e| e.message))
            .unwrap_or_else(|_| text.chars().take(200).collect());
        return Err(format!("{status}: {detail}"));
    }
    response
        .json::<T>()
        .await
        .map_err(|err| format!("unexpected answer from the server: {err}"))
}

/// Fetches [`DeploymentInfo`] from the server, turning every failure into a readable message.
pub async fn fetch_deployment() -> Result<DeploymentInfo, String> {
    let response = gloo_net::http::Request::get(DEPLOYMENT_URL)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|err| format!("could not reach the server: {err}"))?;
    read(response).await
}

async fn api<T: DeserializeOwned>(
    auth: &Auth,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, String> {
    let url = format!("/api/v1/orgs/{}{path}", enc(&auth.org));
    let bearer = format!("Bearer {}", auth.token);
    let builder = match method {
        "POST" => gloo_net::http::Request::post(&url),
        "PUT" => gloo_net::http::Request::put(&url),
        "PATCH" => gloo_net::http::Request::patch(&url),
        "DELETE" => gloo_net::http::Request::delete(&url),
        _ => gloo_net::http::Request::get(&url),
    }
    .header("Authorization", &bearer)
    .header("Accept", "application/json");
    let request = match body {
        Some(b) => builder
            .header("Content-Type", "application/json")
            .body(b)
            .map_err(|e| e.to_string())?,
        None => builder.build().map_err(|e| e.to_string())?,
    };
    let response = request
        .send()
        .await
        .map_err(|err| format!("could not reach the server: {err}"))?;
    if response.status() == 401 {
        // The access token expired or its session ended: sign in again (silently while the
        // IdP session lives; the sign-in form otherwise).
        let org = auth.org.clone();
        leptos::task::spawn_local(async move {
            let _ = start_sign_in(org).await;
        });
        return Err("Your sign-in expired; signing in again…".into());
    }
    if response.status() == 204 {
        return serde_json::from_str("null").map_err(|e| e.to_string());
    }
    read(response).await
}

/// Starts the sign-in: PKCE verifier and state into session storage, then the org's /authorize.
async fn start_sign_in(org: String) -> Result<(), String> {
    let org = org.trim().to_lowercase();
    if org.is_empty() {
        return Err("Enter your organization's id (the slug in its URLs).".into());
    }
    let response =
        gloo_net::http::Request::get(&format!("/api/v1/console-client?org={}", enc(&org)))
            .send()
            .await
            .map_err(|err| format!("could not reach the server: {err}"))?;
    let client: ConsoleClient = read(response)
        .await
        .map_err(|e| format!("No organization '{org}' ({e})"))?;
    let verifier = random_token()?;
    let state = random_token()?;
    let s = storage()?;
    for (k, v) in [
        ("pc.org", org.as_str()),
        ("pc.verifier", verifier.as_str()),
        ("pc.state", state.as_str()),
        ("pc.issuer", client.issuer.as_str()),
        ("pc.client_id", client.client_id.as_str()),
        ("pc.redirect_uri", client.redirect_uri.as_str()),
    ] {
        s.set_item(k, v).map_err(|_| "session storage refused")?;
    }
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        client.issuer,
        enc(&client.client_id),
        enc(&client.redirect_uri),
        enc("openid profile email"),
        enc(&state),
        enc(&pkce_challenge(&verifier)),
    );
    web_sys::window()
        .ok_or("no window")?
        .location()
        .assign(&url)
        .map_err(|_| "could not go to the sign-in page".to_owned())
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// Back from /authorize with `?code=&state=`: exchanges the code. `Ok(None)` when this load is
/// not a sign-in callback.
async fn finish_sign_in() -> Result<Option<Auth>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let search = window.location().search().unwrap_or_default();
    if search.is_empty() {
        return Ok(None);
    }
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad URL")?;
    // Whatever happens next, the code leaves the address bar.
    let _ = window
        .history()
        .map(|h| h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/console/")));
    if let Some(error) = params.get("error") {
        return Err(format!(
            "Sign-in failed: {error} {}",
            params.get("error_description").unwrap_or_default()
        ));
    }
    let Some(code) = params.get("code") else {
        return Ok(None);
    };
    let s = storage()?;
    let get = |k: &str| s.get_item(k).ok().flatten().unwrap_or_default();
    if params.get("state").unwrap_or_default() != get("pc.state") || get("pc.state").is_empty() {
        return Err("Sign-in failed: the answer does not belong to this browser's request. Please sign in again.".into());
    }
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
        enc(&code),
        enc(&get("pc.redirect_uri")),
        enc(&get("pc.client_id")),
        enc(&get("pc.verifier")),
    );
    let _ = s.remove_item("pc.verifier");
    let _ = s.remove_item("pc.state");
    let response = gloo_net::http::Request::post(&format!("{}/token", get("pc.issuer")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|err| format!("could not reach the server: {err}"))?;
    if !response.ok() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("Sign-in failed: {text}"));
    }
    let answer: TokenAnswer = response.json().await.map_err(|e| e.to_string())?;
    Ok(Some(Auth {
        org: get("pc.org"),
        token: answer.access_token,
    }))
}

/// The console's root component.
#[component]
pub fn App() -> impl IntoView {
    let deployment = RwSignal::new(Deployment::Loading);
    let auth = RwSignal::new(None::<Auth>);
    let error = RwSignal::new(None::<String>);
    leptos::task::spawn_local(async move {
        let next = match fetch_deployment().await {
            Ok(info) => Deployment::Loaded(info),
            Err(message) => Deployment::Failed(message),
        };
        deployment.set(next);
    });
    leptos::task::spawn_local(async move {
        match finish_sign_in().await {
            Ok(Some(a)) => auth.set(Some(a)),
            Ok(None) => {}
            Err(e) => error.set(Some(e)),
        }
    });

    view! {
        <main class="console">
            {move || match deployment.get() {
                Deployment::Loading => {
                    view! {
                        <p class="status" data-testid="loading" aria-busy="true">
                            "Loading deployment information…"
                        </p>
                    }
                        .into_any()
                }
                Deployment::Loaded(info) => {
                    view! {
                        <header>
                            <h1 data-testid="deployment-name">{info.name}</h1>
                            <p data-testid="deployment-version">"version " {info.version}</p>
                        </header>
                    }
                        .into_any()
                }
                Deployment::Failed(message) => {
                    view! {
                        <div class="error" role="alert" data-testid="load-error">
                            <h1>"Portcullis console"</h1>
                            <p>"Could not load deployment information: " {message}</p>
                        </div>
                    }
                        .into_any()
                }
            }}
            {move || {
                error
                    .get()
                    .map(|e| view! { <p class="error" role="alert" data-testid="console-error">{e}</p> })
            }}
            {move || match auth.get() {
                None => view! { <SignIn error=error /> }.into_any(),
                Some(a) => view! { <Signed auth=a /> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn SignIn(error: RwSignal<Option<String>>) -> impl IntoView {
    let org = RwSignal::new(
        storage()
            .ok()
            .and_then(|s| s.get_item("pc.org").ok().flatten())
            .unwrap_or_default(),
    );
    let go = move || {
        let org = org.get();
        leptos::task::spawn_local(async move {
            if let Err(e) = start_sign_in(org).await {
                error.set(Some(e));
            }
        });
    };
    view! {
        <section class="sign-in">
            <h2>"Sign in"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                go();
            }>
                <label for="org">"Organization"</label>
                <input id="org" data-testid="org" placeholder="your-org" required
                    prop:value=move || org.get()
                    on:input=move |ev| org.set(event_target_value(&ev)) />
                <button type="submit" data-testid="console-sign-in">"Sign in"</button>
            </form>
        </section>
    }
}

#[component]
fn Signed(auth: Auth) -> impl IntoView {
    let tab = RwSignal::new(Tab::Dashboard);
    let org = auth.org.clone();
    let nav = move |t: Tab, label: &'static str, id: &'static str| {
        view! {
            <button type="button" data-testid=id
                class:active=move || tab.get() == t
                aria-pressed=move || (tab.get() == t).to_string()
                on:click=move |_| tab.set(t)>{label}</button>
        }
    };
    view! {
        <p data-testid="signed-in-org">"Organization: " {org}</p>
        <nav>
            {nav(Tab::Dashboard, "Dashboard", "tab-dashboard")}
            {nav(Tab::Apps, "Apps", "tab-apps")}
            {nav(Tab::Users, "Users", "tab-users")}
            {nav(Tab::Sessions, "Sessions", "tab-sessions")}
            {nav(Tab::Deliveries, "Logout deliveries", "tab-deliveries")}
            {nav(Tab::Policy, "Session policy", "tab-policy")}
            {nav(Tab::Audit, "Audit log", "tab-audit")}
            {nav(Tab::Keys, "Signing keys", "tab-keys")}
        </nav>
        {move || {
            let a = auth.clone();
            match tab.get() {
                Tab::Dashboard => view! { <Dashboard auth=a /> }.into_any(),
                Tab::Apps => view! { <Apps auth=a /> }.into_any(),
                Tab::Users => view! { <Users auth=a /> }.into_any(),
                Tab::Sessions => view! { <Sessions auth=a /> }.into_any(),
                Tab::Deliveries => view! { <Deliveries auth=a /> }.into_any(),
                Tab::Policy => view! { <Policy auth=a /> }.into_any(),
                Tab::Audit => view! { <Audit auth=a /> }.into_any(),
                Tab::Keys => view! { <Keys auth=a /> }.into_any(),
            }
        }}
    }
}

/// Loads `path` into `into` (and errors into `error`) whenever `reload` changes.
fn load<T: DeserializeOwned + Send + Sync + Clone + 'static>(
    auth: Auth,
    path: &'static str,
    into: RwSignal<Option<Page<T>>>,
    error: RwSignal<Option<String>>,
    reload: RwSignal<u32>,
) {
    Effect::new(move |_| {
        reload.track();
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            match api::<Page<T>>(&auth, "GET", path, None).await {
                Ok(page) => {
                    error.set(None);
                    into.set(Some(page));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
}

#[component]
fn Apps(auth: Auth) -> impl IntoView {
    let apps = RwSignal::new(None::<Page<AppView>>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    load(auth.clone(), "/apps?per_page=200", apps, error, reload);
    let name = RwSignal::new(String::new());
    let redirect = RwSignal::new(String::new());
    let profile = RwSignal::new("standard".to_owned());
    let backchannel = RwSignal::new(String::new());
    let created = RwSignal::new(None::<AppWithSecret>);
    let editing = RwSignal::new(None::<AppView>);
    let auth_edit = auth.clone();
    let create = move || {
        let auth = auth.clone();
        let bc = backchannel.get();
        let body = serde_json::json!({
            "name": name.get(), "redirect_uris": [redirect.get()], "session_profile": profile.get(),
            "backchannel_logout_uri": if bc.trim().is_empty() { None } else { Some(bc.trim().to_owned()) },
        })
        .to_string();
        leptos::task::spawn_local(async move {
            match api::<AppWithSecret>(&auth, "POST", "/apps", Some(body)).await {
                Ok(a) => {
                    error.set(None);
                    created.set(Some(a));
                    reload.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="apps-page">
            <h2>"Apps"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <table>
                <thead><tr><th>"Name"</th><th>"Client id"</th><th>"Type"</th><th>"Profile"</th></tr></thead>
                <tbody>
                    {move || apps.get().map(|p| p.items.into_iter().map(|a| {
                        let edit = a.clone();
                        view! {
                            <tr data-testid="app-row"><td>{a.name}</td><td><code>{a.client_id}</code></td>
                            <td>{a.app_type}</td><td>{a.session_profile}</td>
                            <td><button type="button" data-testid="app-edit" on:click=move |_| editing.set(Some(edit.clone()))>"Edit"</button></td></tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            {move || editing.get().map(|a| view! { <AppEditor auth=auth_edit.clone() app=a editing=editing apps=apps reload=reload /> })}
            <h3>"Register an app"</h3>
            <p class="help">"Privileged: for payments or admin apps — short sessions that end with the sign-in, a second factor, and a fresh sign-in every 15 minutes. Standard: for a catalog or a loyalty app — long sessions that outlive the sign-in."</p>
            <form on:submit=move |ev| { ev.prevent_default(); create(); }>
                <label for="app-name">"Name"</label>
                <input id="app-name" data-testid="app-name" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <label for="app-redirect">"Redirect URI"</label>
                <input id="app-redirect" data-testid="app-redirect" required prop:value=move || redirect.get() on:input=move |ev| redirect.set(event_target_value(&ev)) />
                <label for="app-profile">"Session profile"</label>
                <select id="app-profile" data-testid="app-profile" on:change=move |ev| profile.set(event_target_value(&ev))>
                    <option value="standard" selected>"Standard (catalog, loyalty)"</option>
                    <option value="privileged">"Privileged (payments, admin)"</option>
                </select>
                <label for="app-backchannel">"Back-channel logout URI (optional): Portcullis POSTs a logout token here when a session the app took part in ends"</label>
                <input id="app-backchannel" data-testid="app-backchannel" prop:value=move || backchannel.get() on:input=move |ev| backchannel.set(event_target_value(&ev)) />
                <button type="submit" data-testid="app-create">"Register"</button>
            </form>
            {move || created.get().map(|c| view! {
                <p class="notice" data-testid="app-created">"Registered " {c.app.name} ". Client id " <code>{c.app.client_id}</code>
                {c.client_secret.map(|s| view! { ", secret (shown once) " <code>{s}</code> })}</p>
            })}
        </section>
    }
}

fn opt_minutes(v: Option<i64>) -> String {
    v.map(|s| (s / 60).to_string()).unwrap_or_default()
}

/// Minutes typed by the admin as seconds; empty = none.
fn parse_minutes(raw: &str, field: &str) -> Result<Option<i64>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(|m| Some(m * 60))
        .map_err(|_| format!("{field}: a whole number of minutes"))
}

fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Edits an app: URIs, logout URIs, session rules and lifetimes.
#[component]
fn AppEditor(
    auth: Auth,
    app: AppView,
    editing: RwSignal<Option<AppView>>,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let r = app.session_rules.clone();
    let name = RwSignal::new(app.name.clone());
    let redirects = RwSignal::new(app.redirect_uris.join("\n"));
    let post_logout = RwSignal::new(app.post_logout_redirect_uris.join("\n"));
    let backchannel = RwSignal::new(app.backchannel_logout_uri.clone().unwrap_or_default());
    let frontchannel = RwSignal::new(app.frontchannel_logout_uri.clone().unwrap_or_default());
    let reauth = RwSignal::new(opt_minutes(r.reauth_max_age_secs));
    let mfa = RwSignal::new(r.mfa_required);
    let idle = RwSignal::new(opt_minutes(r.idle_timeout_secs));
    let lifetime = RwSignal::new((r.lifetime_secs / 60).to_string());
    let outlives = RwSignal::new(r.outlives_idp_session);
    let first_party = RwSignal::new(app.first_party);
    let error = RwSignal::new(None::<String>);
    let id = app.id.clone();
    let save = move || {
        let auth = auth.clone();
        let id = id.clone();
        let built = (|| -> Result<String, String> {
            let lifetime = parse_minutes(&lifetime.get(), "App-session lifetime")?
                .ok_or("App-session lifetime: required")?;
            Ok(serde_json::json!({
                "name": name.get(),
                "redirect_uris": lines(&redirects.get()),
                "post_logout_redirect_uris": lines(&post_logout.get()),
                "backchannel_logout_uri": backchannel.get().trim(),
                "frontchannel_logout_uri": frontchannel.get().trim(),
                "first_party": first_party.get(),
                "session_rules": {
                    "reauth_max_age_secs": parse_minutes(&reauth.get(), "Re-authentication")?,
                    "mfa_required": mfa.get(),
                    "idle_timeout_secs": parse_minutes(&idle.get(), "Idle timeout")?,
                    "lifetime_secs": lifetime,
                    "outlives_idp_session": outlives.get(),
                },
            })
            .to_string())
        })();
        let body = match built {
            Ok(b) => b,
            Err(e) => return error.set(Some(e)),
        };
        leptos::task::spawn_local(async move {
            match api::<AppView>(&auth, "PATCH", &format!("/apps/{id}"), Some(body)).await {
                Ok(updated) => {
                    // The list shows the saved app at once (the reload below may take a while):
                    // editing it again must not start from the old values.
                    apps.update(|page| {
                        if let Some(page) = page
                            && let Some(row) = page.items.iter_mut().find(|a| a.id == updated.id)
                        {
                            *row = updated;
                        }
                    });
                    editing.set(None);
                    reload.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let text = |label: &'static str, id: &'static str, v: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id data-testid=id prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev)) />
        }
    };
    let area = |label: &'static str, id: &'static str, v: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <textarea id=id data-testid=id prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev))></textarea>
        }
    };
    let check = |label: &'static str, id: &'static str, v: RwSignal<bool>| {
        view! {
            <label class="check"><input type="checkbox" id=id data-testid=id prop:checked=move || v.get() on:change=move |ev| v.set(event_target_checked(&ev)) />{label}</label>
        }
    };
    view! {
        <section data-testid="app-editor" aria-label="Edit app">
            <h3>"Edit " {app.name.clone()}</h3>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <form on:submit=move |ev| { ev.prevent_default(); save(); }>
                {text("Name", "edit-name", name)}
                {area("Redirect URIs, one per line (matched exactly)", "edit-redirects", redirects)}
                {area("Post-logout redirect URIs, one per line", "edit-post-logout", post_logout)}
                {text("Back-channel logout URI (empty: none)", "edit-backchannel", backchannel)}
                {text("Front-channel logout URI (empty: none)", "edit-frontchannel", frontchannel)}
                {text("Re-authentication after (minutes; empty: never)", "edit-reauth", reauth)}
                {check(" Needs a second factor", "edit-mfa", mfa)}
                {text("App-session idle timeout (minutes; empty: none)", "edit-idle", idle)}
                {text("App-session lifetime (minutes)", "edit-lifetime", lifetime)}
                {check(" The app session may outlive the sign-in (keeps its refresh tokens after Single Logout)", "edit-outlives", outlives)}
                {check(" First party (no consent screen)", "edit-first-party", first_party)}
                <button type="submit" data-testid="edit-save">"Save"</button>
                <button type="button" on:click=move |_| editing.set(None)>"Cancel"</button>
            </form>
        </section>
    }
}

#[component]
fn Sessions(auth: Auth) -> impl IntoView {
    let sessions = RwSignal::new(None::<Page<SessionView>>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    load(
        auth.clone(),
        "/sessions?per_page=200",
        sessions,
        error,
        reload,
    );
    let preview = RwSignal::new(None::<(String, RevokeOutcome)>);
    let auth_preview = auth.clone();
    let ask = move |id: String| {
        let auth = auth_preview.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/sessions/{id}/revoke?dry_run=true");
            match api::<RevokeOutcome>(&auth, "POST", &path, Some("{}".into())).await {
                Ok(p) => preview.set(Some((id, p))),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let confirm = move |id: String| {
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/sessions/{id}/revoke");
            match api::<RevokeOutcome>(&auth, "POST", &path, Some("{}".into())).await {
                Ok(_) => {
                    preview.set(None);
                    reload.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="sessions-page">
            <h2>"Live sessions"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <table>
                <thead><tr><th>"User"</th><th>"Signed in"</th><th>"Apps"</th><th></th></tr></thead>
                <tbody>
                    {move || sessions.get().map(|p| p.items.into_iter().map(|s| {
                        let id = s.id.clone();
                        let ask = ask.clone();
                        let apps = s.app_sessions.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>().join(", ");
                        view! {
                            <tr data-testid="session-row"><td>{s.user_email}</td><td>{s.created_at}</td><td>{apps}</td>
                            <td><button type="button" data-testid="session-revoke" on:click=move |_| ask(id.clone())>"Revoke…"</button></td></tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            {move || preview.get().map(|(id, p)| {
                let confirm = confirm.clone();
                view! {
                    <div role="dialog" aria-label="Revoke preview" data-testid="revoke-preview">
                        <p>"This ends " {p.sessions.len()} " sign-in session(s) and " {p.app_sessions.len()} " app session(s)."</p>
                        <p>"Apps told through back-channel logout: " {if p.apps_notified.is_empty() { "none".to_owned() } else { p.apps_notified.join(", ") }}</p>
                        <button type="button" data-testid="revoke-confirm" on:click=move |_| confirm(id.clone())>"Revoke"</button>
                        <button type="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                    </div>
                }
            })}
        </section>
    }
}

#[component]
fn Deliveries(auth: Auth) -> impl IntoView {
    let deliveries = RwSignal::new(None::<Page<DeliveryView>>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    load(
        auth.clone(),
        "/logout-deliveries?per_page=200",
        deliveries,
        error,
        reload,
    );
    let retry = move |id: String| {
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/logout-deliveries/{id}/retry");
            match api::<serde_json::Value>(&auth, "POST", &path, Some("{}".into())).await {
                Ok(_) => reload.update(|n| *n += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="deliveries-page">
            <h2>"Logout deliveries"</h2>
            <button type="button" data-testid="deliveries-refresh" on:click=move |_| reload.update(|n| *n += 1)>"Refresh"</button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <table>
                <thead><tr><th>"App"</th><th>"Reason"</th><th>"Status"</th><th>"Attempts"</th><th>"Last error"</th><th></th></tr></thead>
                <tbody>
                    {move || deliveries.get().map(|p| p.items.into_iter().map(|d| {
                        let id = d.id.clone();
                        let retry = retry.clone();
                        let undelivered = d.status != "delivered";
                        let status = d.status.clone();
                        view! {
                            <tr data-testid="delivery-row" data-status=status>
                                <td>{d.client_id}</td><td>{d.reason}</td><td>{d.status}</td><td>{d.attempts}</td>
                                <td>{d.last_error.unwrap_or_default()}</td>
                                <td>{undelivered.then(|| view! { <button type="button" on:click=move |_| retry(id.clone())>"Retry now"</button> })}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Dashboard(auth: Auth) -> impl IntoView {
    let sessions = RwSignal::new(None::<Page<SessionView>>);
    let failed = RwSignal::new(None::<Page<DeliveryView>>);
    let signins = RwSignal::new(None::<Page<AuditEventView>>);
    let failures = RwSignal::new(None::<Page<AuditEventView>>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    load(
        auth.clone(),
        "/sessions?per_page=1",
        sessions,
        error,
        reload,
    );
    load(
        auth.clone(),
        "/logout-deliveries?status=failed&per_page=1",
        failed,
        error,
        reload,
    );
    load(
        auth.clone(),
        "/audit-events?action=signin.succeeded&per_page=1",
        signins,
        error,
        reload,
    );
    load(
        auth.clone(),
        "/audit-events?action=signin.failed&per_page=1",
        failures,
        error,
        reload,
    );
    let activity = RwSignal::new(None::<Vec<ActivityHour>>);
    leptos::task::spawn_local(async move {
        match api::<Vec<ActivityHour>>(&auth, "GET", "/activity?hours=24", None).await {
            Ok(a) => activity.set(Some(a)),
            Err(e) => error.set(Some(e)),
        }
    });
    let total = |p: RwSignal<Option<Page<AuditEventView>>>| {
        move || p.get().map_or("…".to_owned(), |p| p.total.to_string())
    };
    view! {
        <section data-testid="dashboard-page">
            <h2>"Dashboard"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <dl class="stats">
                <dt>"Live sign-in sessions"</dt>
                <dd data-testid="stat-sessions">{move || sessions.get().map_or("…".to_owned(), |p| p.total.to_string())}</dd>
                <dt>"Sign-ins"</dt><dd data-testid="stat-signins">{total(signins)}</dd>
                <dt>"Failed sign-ins"</dt><dd data-testid="stat-failures">{total(failures)}</dd>
                <dt>"Logout deliveries needing attention"</dt>
                <dd data-testid="stat-failed-deliveries">{move || failed.get().map_or("…".to_owned(), |p| p.total.to_string())}</dd>
            </dl>
            <h3>"Sign-ins over the last 24 hours"</h3>
            {move || activity.get().map(|hours| view! { <ActivityChart hours=hours /> })}
        </section>
    }
}

/// Bars per hour: successful sign-ins (accent) and failures (red), as an SVG with a text table
/// behind it for screen readers.
#[component]
fn ActivityChart(hours: Vec<ActivityHour>) -> impl IntoView {
    let max = hours
        .iter()
        .map(|h| h.signins.max(h.failures))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = 120.0_f64;
    let bar = |v: u64| (v as f64 / max as f64) * height;
    let total_in: u64 = hours.iter().map(|h| h.signins).sum();
    let total_failed: u64 = hours.iter().map(|h| h.failures).sum();
    view! {
        <figure data-testid="activity-chart">
            <svg viewBox="0 0 480 130" width="480" height="130" role="img"
                aria-label=format!("{total_in} sign-ins and {total_failed} failed sign-ins in the last 24 hours")>
                {hours.iter().enumerate().map(|(i, h)| {
                    let x = i as f64 * 20.0;
                    let ok = bar(h.signins);
                    let bad = bar(h.failures);
                    view! {
                        <rect x=x + 2.0 y=height - ok width="7" height=ok fill="#2f5bd3"><title>{format!("{}: {} sign-ins", h.hour, h.signins)}</title></rect>
                        <rect x=x + 10.0 y=height - bad width="7" height=bad fill="#c0392b"><title>{format!("{}: {} failed", h.hour, h.failures)}</title></rect>
                    }
                }).collect_view()}
            </svg>
            <figcaption>{format!("{total_in} sign-ins, {total_failed} failed (blue: signed in, red: failed)")}</figcaption>
        </figure>
    }
}

#[component]
fn Users(auth: Auth) -> impl IntoView {
    let users = RwSignal::new(None::<Page<UserView>>);
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    let search = RwSignal::new(String::new());
    let auth_load = auth.clone();
    Effect::new(move |_| {
        reload.track();
        let q = search.get();
        let auth = auth_load.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/users?per_page=200&q={}", enc(&q));
            match api::<Page<UserView>>(&auth, "GET", &path, None).await {
                Ok(p) => users.set(Some(p)),
                Err(e) => error.set(Some(e)),
            }
        });
    });
    let selected = RwSignal::new(None::<UserView>);
    let auth_detail = auth.clone();
    let act = move |id: String, action: &'static str, label: &'static str| {
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/users/{id}/{action}");
            match api::<serde_json::Value>(&auth, "POST", &path, Some("{}".into())).await {
                Ok(_) => {
                    notice.set(Some(label.to_owned()));
                    reload.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="users-page">
            <h2>"Users"</h2>
            {move || selected.get().map(|u| view! { <UserDetail auth=auth_detail.clone() user=u /> })}
            <label for="user-search">"Search by email"</label>
            <input id="user-search" data-testid="user-search" on:input=move |ev| search.set(event_target_value(&ev)) />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <table>
                <thead><tr><th>"Email"</th><th>"Verified"</th><th>"Role"</th><th>"Status"</th><th>"Keys"</th><th></th></tr></thead>
                <tbody>
                    {move || users.get().map(|p| p.items.into_iter().map(|u| {
                        let (a, b, c, d, e) = (act.clone(), act.clone(), act.clone(), act.clone(), act.clone());
                        let detail = u.clone();
                        let (i1, i2, i3, i4, i5) = (u.id.clone(), u.id.clone(), u.id.clone(), u.id.clone(), u.id.clone());
                        let active = u.active;
                        view! {
                            <tr data-testid="user-row">
                                <td>{u.email}</td>
                                <td data-testid="user-verified">{if u.email_verified { "yes" } else { "no" }}</td>
                                <td>{u.role}</td>
                                <td>{if active { "active" } else { "disabled" }}</td>
                                <td>{u.credentials.len()}</td>
                                <td>
                                    {if active {
                                        view! { <button type="button" on:click=move |_| a(i1.clone(), "disable", "User disabled; their sessions ended.")>"Disable"</button> }.into_any()
                                    } else {
                                        view! { <button type="button" on:click=move |_| b(i2.clone(), "enable", "User enabled.")>"Enable"</button> }.into_any()
                                    }}
                                    <button type="button" on:click=move |_| c(i3.clone(), "reset-mfa", "Keys removed; their sessions ended.")>"Reset MFA"</button>
                                    <button type="button" data-testid="user-sign-out" on:click=move |_| d(i4.clone(), "sign-out-everywhere", "Signed out everywhere; every app was told.")>"Sign out everywhere"</button>
                                    <button type="button" data-testid="user-invite" title="Email a link to set up the account with a password or a passkey; older links stop working" on:click=move |_| e(i5.clone(), "invite", "Invitation sent; older links stop working.")>"Send invitation"</button>
                                    <button type="button" data-testid="user-details" on:click=move |_| selected.set(Some(detail.clone()))>"Details"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </section>
    }
}

/// One user: their live sign-in sessions with the app sessions under each, and their keys.
#[component]
fn UserDetail(auth: Auth, user: UserView) -> impl IntoView {
    let sessions = RwSignal::new(None::<Page<SessionView>>);
    let error = RwSignal::new(None::<String>);
    let path = format!("/sessions?per_page=200&user_id={}", enc(&user.id));
    leptos::task::spawn_local(async move {
        match api::<Page<SessionView>>(&auth, "GET", &path, None).await {
            Ok(p) => sessions.set(Some(p)),
            Err(e) => error.set(Some(e)),
        }
    });
    view! {
        <section data-testid="user-detail" aria-label="User details">
            <h3>{user.email.clone()}</h3>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <h4>"Signed in"</h4>
            <ul>
                {move || sessions.get().map(|p| p.items.into_iter().map(|s| view! {
                    <li data-testid="user-session">{s.created_at} " — " {s.user_agent.unwrap_or_default()} " — apps: "
                        {s.app_sessions.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>().join(", ")}</li>
                }).collect_view())}
            </ul>
            <p>"Email address: " {if user.email_verified { "verified" } else { "not verified" }}</p>
            <h4>"Pending email links"</h4>
            {user.pending_links.is_empty().then(|| view! { <p data-testid="no-pending-links">"None."</p> })}
            <ul>
                {user.pending_links.iter().map(|l| view! {
                    <li data-testid="pending-link">{l.purpose.clone()} {l.new_email.clone().map(|e| format!(" ({e})")).unwrap_or_default()} ", sent " {l.created_at.clone()} ", valid until " {l.expires_at.clone()}</li>
                }).collect_view()}
            </ul>
            <h4>"Security keys and passkeys"</h4>
            <ul>
                {user.credentials.iter().map(|c| view! {
                    <li data-testid="user-key">{c.name.clone()} " (" {c.kind.clone()} "), added " {c.created_at.clone()}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Policy(auth: Auth) -> impl IntoView {
    let policy = RwSignal::new(None::<SessionPolicyView>);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let auth_load = auth.clone();
    leptos::task::spawn_local(async move {
        match api::<SessionPolicyView>(&auth_load, "GET", "/session-policy", None).await {
            Ok(p) => policy.set(Some(p)),
            Err(e) => error.set(Some(e)),
        }
    });
    let auth_signup = auth.clone();
    let minutes = |secs: i64| (secs / 60).to_string();
    let set_minutes = move |ev, f: fn(&mut SessionPolicyView, i64)| {
        if let Ok(m) = event_target_value(&ev).parse::<i64>() {
            policy.update(|p| {
                if let Some(p) = p {
                    f(p, m * 60);
                }
            });
        }
    };
    let save = move || {
        let auth = auth.clone();
        let Some(p) = policy.get() else { return };
        leptos::task::spawn_local(async move {
            let body = serde_json::to_string(&p).unwrap_or_default();
            match api::<SessionPolicyView>(&auth, "PUT", "/session-policy", Some(body)).await {
                Ok(p) => {
                    error.set(None);
                    policy.set(Some(p));
                    saved.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="policy-page">
            <h2>"Session policy"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || saved.get().then(|| view! { <p class="notice" role="status" data-testid="policy-saved">"Saved. It applies to every session from its next request."</p> })}
            {move || {
                let save = save.clone();
                policy.get().map(|p| view! {
                <form on:submit=move |ev| { ev.prevent_default(); save(); }>
                    <label for="idle">"Idle timeout (minutes): a sign-in ends after this long without activity"</label>
                    <input id="idle" data-testid="policy-idle" type="number" min="1" prop:value=minutes(p.idle_timeout_secs)
                        on:change=move |ev| set_minutes(ev, |p, v| p.idle_timeout_secs = v) />
                    <label for="absolute">"Absolute lifetime (minutes): a sign-in ends after this long, however active"</label>
                    <input id="absolute" type="number" min="1" prop:value=minutes(p.absolute_lifetime_secs)
                        on:change=move |ev| set_minutes(ev, |p, v| p.absolute_lifetime_secs = v) />
                    <label for="remember">"Remember-me lifetime (minutes), when users tick “Keep me signed in”"</label>
                    <input id="remember" type="number" min="1" prop:value=minutes(p.remember_me_lifetime_secs)
                        on:change=move |ev| set_minutes(ev, |p, v| p.remember_me_lifetime_secs = v) />
                    <label for="mfa">"Second factor"</label>
                    <select id="mfa" on:change=move |ev| { let v = event_target_value(&ev); policy.update(|p| if let Some(p) = p { p.mfa = v; }); }>
                        {["off", "optional", "required", "app_requested"].into_iter().map(|m| view! {
                            <option value=m selected=p.mfa == m>{m}</option>
                        }).collect_view()}
                    </select>
                    <p class="help">"off: never; optional: users who added a key use it; required: everyone adds one; app_requested: as optional, and whenever an app asks."</p>
                    <button type="submit" data-testid="policy-save">"Save"</button>
                </form>
            })
            }}
            <SignupSettings auth=auth_signup />
        </section>
    }
}

/// Who may sign up on the org's hosted pages, and whether sign-in needs a verified address.
#[component]
fn SignupSettings(auth: Auth) -> impl IntoView {
    let policy = RwSignal::new(None::<SignupPolicyView>);
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let auth_load = auth.clone();
    leptos::task::spawn_local(async move {
        match api::<SignupPolicyView>(&auth_load, "GET", "/signup-policy", None).await {
            Ok(p) => policy.set(Some(p)),
            Err(e) => error.set(Some(e)),
        }
    });
    let save = move || {
        let auth = auth.clone();
        let Some(p) = policy.get() else { return };
        leptos::task::spawn_local(async move {
            let body = serde_json::to_string(&p).unwrap_or_default();
            match api::<SignupPolicyView>(&auth, "PUT", "/signup-policy", Some(body)).await {
                Ok(p) => {
                    error.set(None);
                    policy.set(Some(p));
                    saved.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h2>"Sign-up"</h2>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || saved.get().then(|| view! { <p class="notice" role="status" data-testid="signup-saved">"Saved."</p> })}
        {move || {
            let save = save.clone();
            policy.get().map(|p| view! {
            <form on:submit=move |ev| { ev.prevent_default(); save(); }>
                <label for="signup-mode">"Who may create an account"</label>
                <select id="signup-mode" data-testid="signup-mode" on:change=move |ev| { let v = event_target_value(&ev); policy.update(|p| if let Some(p) = p { p.mode = v; }); }>
                    {["off", "open", "invite_only"].into_iter().map(|m| view! {
                        <option value=m selected=p.mode == m>{m}</option>
                    }).collect_view()}
                </select>
                <p class="help">"off: only admins create accounts; open: anyone, with a link to confirm the address; invite_only: the sign-up page says to ask for an invitation."</p>
                <label class="check"><input type="checkbox" data-testid="signup-require-verified" prop:checked=p.require_verified_email
                    on:change=move |ev| { let v = event_target_checked(&ev); policy.update(|p| if let Some(p) = p { p.require_verified_email = v; }); } />
                    " Users must confirm their email address before signing in"</label>
                <button type="submit" data-testid="signup-save">"Save"</button>
            </form>
        })
        }}
    }
}

#[component]
fn Audit(auth: Auth) -> impl IntoView {
    let events = RwSignal::new(None::<Page<AuditEventView>>);
    let error = RwSignal::new(None::<String>);
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    Effect::new(move |_| {
        let mut path = "/audit-events?per_page=100".to_owned();
        for (key, value) in [("action", action.get()), ("target", target.get())] {
            let value = value.trim().to_owned();
            if !value.is_empty() {
                path.push_str(&format!("&{key}={}", enc(&value)));
            }
        }
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            match api::<Page<AuditEventView>>(&auth, "GET", &path, None).await {
                Ok(p) => {
                    error.set(None);
                    events.set(Some(p));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    view! {
        <section data-testid="audit-page">
            <h2>"Audit log"</h2>
            <label for="audit-action">"Action (or its start, like session. or logout_delivery.failed)"</label>
            <input id="audit-action" data-testid="audit-action" on:change=move |ev| action.set(event_target_value(&ev)) />
            <label for="audit-target">"About (a user, app or session id)"</label>
            <input id="audit-target" data-testid="audit-target" on:change=move |ev| target.set(event_target_value(&ev)) />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <table>
                <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Target"</th></tr></thead>
                <tbody>
                    {move || events.get().map(|p| p.items.into_iter().map(|e| view! {
                        <tr data-testid="audit-row"><td>{e.at}</td><td>{e.actor}</td><td>{e.action}</td><td>{e.target.unwrap_or_default()}</td></tr>
                    }).collect_view())}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Keys(auth: Auth) -> impl IntoView {
    let keys = RwSignal::new(None::<Page<SigningKeyView>>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    load(auth.clone(), "/signing-keys", keys, error, reload);
    let rotate = move || {
        let auth = auth.clone();
        leptos::task::spawn_local(async move {
            match api::<SigningKeyView>(&auth, "POST", "/signing-keys/rotate", Some("{}".into()))
                .await
            {
                Ok(_) => reload.update(|n| *n += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section data-testid="keys-page">
            <h2>"Signing keys"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <table>
                <thead><tr><th>"Key id"</th><th>"Algorithm"</th><th>"Signs from"</th><th>"Published until"</th></tr></thead>
                <tbody>
                    {move || keys.get().map(|p| p.items.into_iter().map(|k| view! {
                        <tr data-testid="key-row"><td><code>{k.kid}</code></td><td>{k.alg}</td><td>{k.activates_at}</td><td>{k.expires_at.unwrap_or_else(|| "—".into())}</td></tr>
                    }).collect_view())}
                </tbody>
            </table>
            <p class="help">"Rotating publishes a new key at once and signs with it after the publish lead; the old key stays published until every token it signed has expired."</p>
            <button type="button" data-testid="key-rotate" on:click=move |_| rotate()>"Rotate"</button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
