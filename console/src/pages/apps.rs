//! Apps (`/console/{org}/apps`): the org's registered apps and the form that registers another;
//! one app at its own URL (`/console/{org}/apps/{id}`): its detail page (`detail`) with its
//! settings in sections (`form`).

mod detail;
mod form;

use leptos::prelude::*;
use portcullis_api_types::{AppView, AppWithSecret, Page};

use crate::api::{Auth, api, bump, enc, list, spawn_call};
use crate::pages::saml_app::{SamlFields, SamlForm};
use crate::ui::ErrorNote;
use detail::AppDetail;

#[component]
pub(crate) fn Apps(auth: Auth, selected: Signal<Option<String>>) -> impl IntoView {
    let (apps, error, reload) = list::<AppView>(auth.clone(), "/apps?per_page=200");
    view! {
        <section data-testid="apps-page">
            {move || match selected.get() {
                Some(id) => view! { <AppDetail auth=auth.clone() id=id apps=apps reload=reload /> }.into_any(),
                None => view! { <AppList auth=auth.clone() apps=apps error=error reload=reload /> }.into_any(),
            }}
        </section>
    }
}

/// The org's apps, each linked to its page, and the registration form.
#[component]
fn AppList(
    auth: Auth,
    apps: RwSignal<Option<Page<AppView>>>,
    error: RwSignal<Option<String>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let org = auth.org.clone();
    view! {
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
                            <td><a href=href data-testid="app-edit">"Details"</a></td></tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            <RegisterApp auth=auth error=error reload=reload />
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
    let import_auth = auth.clone();
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
            {move || (kind.get() == "saml").then(|| view! { <SamlFields auth=import_auth.clone() form=saml /> })}
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
