//! Orgs (`/console/system/orgs`), for operators (admins of the platform org): the list, a new
//! org (slug, name, signing algorithm), and disabling (after a confirmation naming what it does)
//! or enabling one. Other orgs' admins get the API's refusal.

use leptos::prelude::*;
use portcullis_api_types::{OrgCreateRequest, OrgView, Page};

use super::refusal::{FieldNote, Refusal, RefusalNote, spawn_send};
use crate::api::{Auth, bump, enc};
use crate::ui::{Time, Toasts};

/// The platform org: its admins are the operators.
pub(crate) const PLATFORM_ORG: &str = "system";

#[component]
pub(crate) fn Orgs(auth: Auth) -> impl IntoView {
    let orgs = RwSignal::new(None::<Page<OrgView>>);
    let failure = RwSignal::new(None::<Refusal>);
    let toasts = expect_context::<Toasts>();
    let reload = RwSignal::new(0u32);
    let confirming = RwSignal::new(None::<String>);
    let auth_load = auth.clone();
    Effect::new(move |_| {
        reload.track();
        let call = (
            auth_load.clone(),
            "GET",
            "/api/v1/orgs?per_page=200".to_owned(),
            None,
        );
        spawn_send(call, failure, move |p| orgs.set(Some(p)));
    });
    let auth_status = auth.clone();
    let set_status = Callback::new(move |(slug, active): (String, bool)| {
        let action = if active { "enable" } else { "disable" };
        let url = format!("/api/v1/orgs/{}/{action}", enc(&slug));
        let call = (auth_status.clone(), "POST", url, Some("{}".to_owned()));
        spawn_send(call, failure, move |o: OrgView| {
            confirming.set(None);
            toasts.show(
                "orgs-notice",
                if active {
                    format!("{} is enabled again.", o.slug)
                } else {
                    format!(
                        "{} is disabled: its sessions ended and every endpoint refuses.",
                        o.slug
                    )
                },
            );
            bump(reload);
        });
    });
    view! {
        <section data-testid="orgs-page">
            <h2>"Organizations"</h2>
            <RefusalNote failure=failure />
            <CreateOrg auth=auth failure=failure reload=reload />
            {move || confirming.get().map(|slug| view! { <ConfirmDisable slug=slug confirming=confirming set_status=set_status /> })}
            <div class="table-scroll">
            <table>
                <thead><tr><th>"Slug"</th><th>"Name"</th><th>"Status"</th><th>"Issuer"</th><th>"Created"</th><th></th></tr></thead>
                <tbody>
                    {move || orgs.get().map(|p| p.items.into_iter().map(|o| view! {
                        <OrgRow org=o confirming=confirming set_status=set_status />
                    }).collect_view())}
                </tbody>
            </table>
            </div>
        </section>
    }
}

/// One org, with the button that disables (after confirming) or enables it.
#[component]
fn OrgRow(
    org: OrgView,
    confirming: RwSignal<Option<String>>,
    set_status: Callback<(String, bool)>,
) -> impl IntoView {
    let slug = org.slug.clone();
    let active = org.status == "active";
    let action = if org.slug == PLATFORM_ORG {
        view! { <span class="help">"the platform org"</span> }.into_any()
    } else if active {
        view! { <button type="button" data-testid="org-disable" on:click=move |_| confirming.set(Some(slug.clone()))>"Disable…"</button> }.into_any()
    } else {
        view! { <button type="button" data-testid="org-enable" on:click=move |_| set_status.run((slug.clone(), true))>"Enable"</button> }.into_any()
    };
    let row_slug = org.slug.clone();
    view! {
        <tr data-testid="org-row" data-slug=row_slug>
            <td><code>{org.slug}</code></td>
            <td>{org.name}</td>
            <td data-testid="org-status"><span class=format!("badge {}", org.status)>{org.status.clone()}</span></td>
            <td><code>{org.issuer}</code></td>
            <td><Time at=org.created_at /></td>
            <td>{action}</td>
        </tr>
    }
}

/// What disabling `slug` does, and the buttons that do it or not.
#[component]
fn ConfirmDisable(
    slug: String,
    confirming: RwSignal<Option<String>>,
    set_status: Callback<(String, bool)>,
) -> impl IntoView {
    let label = format!("Disable {slug}");
    let target = slug.clone();
    view! {
        <div role="dialog" aria-label="Disable the organization" class="confirm" data-testid="org-disable-dialog">
            <p><strong>"Disable " {slug.clone()} "?"</strong></p>
            <p>"Every session of " {slug.clone()} " ends at once and its apps are told through back-channel logout. Every endpoint of the org refuses until an operator enables it again: sign-in, tokens, discovery and its admin API. Its users, apps and settings are kept."</p>
            <button type="button" class="danger" data-testid="org-disable-confirm" on:click=move |_| set_status.run((target.clone(), false))>{label}</button>
            <button type="button" data-testid="org-disable-cancel" on:click=move |_| confirming.set(None)>"Cancel"</button>
        </div>
    }
}

/// The form that creates an org with its first signing key.
#[component]
fn CreateOrg(
    auth: Auth,
    failure: RwSignal<Option<Refusal>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let slug = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let alg = RwSignal::new("ES256".to_owned());
    let toasts = expect_context::<Toasts>();
    let create = move || {
        let typed = name.get_untracked();
        let req = OrgCreateRequest {
            slug: slug.get_untracked().trim().to_owned(),
            name: (!typed.trim().is_empty()).then(|| typed.trim().to_owned()),
            signing_alg: Some(alg.get_untracked()),
        };
        let body = serde_json::to_string(&req).unwrap_or_default();
        let call = (auth.clone(), "POST", "/api/v1/orgs".to_owned(), Some(body));
        spawn_send(call, failure, move |o: OrgView| {
            toasts.show(
                "orgs-notice",
                format!("Created {}; its issuer is {}.", o.slug, o.issuer),
            );
            slug.set(String::new());
            name.set(String::new());
            bump(reload);
        });
    };
    view! {
        <form class="create-org" on:submit=move |ev| { ev.prevent_default(); create(); }>
            <h3>"New organization"</h3>
            <label for="org-slug">"Slug (lowercase letters, digits and dashes; in every URL of the org)"</label>
            <input id="org-slug" data-testid="org-slug" required prop:value=move || slug.get()
                on:input=move |ev| slug.set(event_target_value(&ev)) />
            <FieldNote failure=failure field="slug" />
            <label for="org-name">"Name (shown on its sign-in pages and emails)"</label>
            <input id="org-name" data-testid="org-name" prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev)) />
            <FieldNote failure=failure field="name" />
            <label for="org-alg">"Signing algorithm of its tokens"</label>
            <select id="org-alg" data-testid="org-alg" on:change=move |ev| alg.set(event_target_value(&ev))>
                <option value="ES256" selected>"ES256 (ECDSA P-256, the default)"</option>
                <option value="RS256">"RS256 (RSA, for apps that only know it)"</option>
            </select>
            <FieldNote failure=failure field="signing_alg" />
            <button type="submit" data-testid="org-create">"Create"</button>
        </form>
    }
}
