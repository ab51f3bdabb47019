//! The console's pages: the sign-in form, and the tabs of a signed-in console, one module each,
//! each at its own URL under `/console/{org}/` (the server answers every `/console/*` path with
//! the console's `index.html`; the router here picks the page).

mod apps;
mod audit;
mod audit_sink;
mod dashboard;
mod deliveries;
mod keys;
mod orgs;
mod paging;
mod policy;
mod refusal;
mod saml_app;
mod sessions;
mod sign_in;
mod templates;
mod users;

use leptos::prelude::*;
use leptos_router::components::{Route, Routes};
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::{NavigateOptions, path};

use crate::api::Auth;
use crate::oauth::{finish_sign_in, is_callback, start_sign_in};
use crate::ui::PageHeader;
use apps::Apps;
use audit::Audit;
use audit_sink::AuditSink;
use dashboard::Dashboard;
use deliveries::Deliveries;
use keys::Keys;
use orgs::{Orgs, PLATFORM_ORG};
use policy::Policy;
use sessions::Sessions;
use sign_in::SignIn;
use templates::Templates;
use users::Users;

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
    Templates,
    AuditSink,
    Orgs,
}

impl Tab {
    /// The tabs in the order of the navigation, with their label, test id and path under the org.
    const ALL: [(Tab, &'static str, &'static str, &'static str); 11] = [
        (Tab::Dashboard, "Dashboard", "tab-dashboard", ""),
        (Tab::Apps, "Apps", "tab-apps", "/apps"),
        (Tab::Users, "Users", "tab-users", "/users"),
        (Tab::Sessions, "Sessions", "tab-sessions", "/sessions"),
        (
            Tab::Deliveries,
            "Logout deliveries",
            "tab-deliveries",
            "/deliveries",
        ),
        (Tab::Policy, "Session policy", "tab-policy", "/policy"),
        (Tab::Audit, "Audit log", "tab-audit", "/audit"),
        (Tab::Keys, "Signing keys", "tab-keys", "/keys"),
        (
            Tab::Templates,
            "Email templates",
            "tab-templates",
            "/templates",
        ),
        (
            Tab::AuditSink,
            "Audit sink",
            "tab-audit-sink",
            "/audit-sink",
        ),
        (Tab::Orgs, "Organizations", "tab-orgs", "/orgs"),
    ];
}

/// The sign-in state every page shares.
#[derive(Clone, Copy)]
pub(crate) struct Session {
    /// The signed-in admin (memory only: a reload signs in again).
    pub auth: RwSignal<Option<Auth>>,
    /// The last sign-in failure.
    pub error: RwSignal<Option<String>>,
    /// The sign-in's callback is being handled.
    pub pending: RwSignal<bool>,
    /// A sign-in was started by opening a page (at most once per load).
    pub started: RwSignal<bool>,
}

/// The routed console: finishes a sign-in that comes back to `/console/`, then shows the page
/// of the URL.
#[component]
pub(crate) fn Console() -> impl IntoView {
    let session = Session {
        auth: RwSignal::new(None),
        error: RwSignal::new(None),
        pending: RwSignal::new(is_callback()),
        started: RwSignal::new(false),
    };
    provide_context(session);
    let navigate = use_navigate();
    if session.pending.get_untracked() {
        leptos::task::spawn_local(async move {
            match finish_sign_in().await {
                Ok(Some((auth, back))) => {
                    session.auth.set(Some(auth));
                    navigate(
                        &back,
                        NavigateOptions {
                            replace: true,
                            ..Default::default()
                        },
                    );
                }
                Ok(None) => {}
                Err(e) => session.error.set(Some(e)),
            }
            session.pending.set(false);
        });
    }
    let page = |tab: Tab| move || view! { <Shell tab=tab /> };
    view! {
        {move || {
            session
                .error
                .get()
                .map(|e| view! { <p class="error" role="alert" data-testid="console-error">{e}</p> })
        }}
        <Routes fallback=Home>
            <Route path=path!("/console/:org") view=page(Tab::Dashboard) />
            <Route path=path!("/console/:org/apps") view=page(Tab::Apps) />
            <Route path=path!("/console/:org/apps/:id") view=page(Tab::Apps) />
            <Route path=path!("/console/:org/users") view=page(Tab::Users) />
            <Route path=path!("/console/:org/users/:id") view=page(Tab::Users) />
            <Route path=path!("/console/:org/sessions") view=page(Tab::Sessions) />
            <Route path=path!("/console/:org/sessions/:id") view=page(Tab::Sessions) />
            <Route path=path!("/console/:org/deliveries") view=page(Tab::Deliveries) />
            <Route path=path!("/console/:org/policy") view=page(Tab::Policy) />
            <Route path=path!("/console/:org/audit") view=page(Tab::Audit) />
            <Route path=path!("/console/:org/keys") view=page(Tab::Keys) />
            <Route path=path!("/console/:org/templates") view=page(Tab::Templates) />
            <Route path=path!("/console/:org/templates/:id") view=page(Tab::Templates) />
            <Route path=path!("/console/:org/audit-sink") view=page(Tab::AuditSink) />
            <Route path=path!("/console/:org/orgs") view=page(Tab::Orgs) />
        </Routes>
    }
}

/// `/console/` and any path that names no page: the sign-in form (or, signed in, the way to
/// the org's dashboard).
#[component]
fn Home() -> impl IntoView {
    let session = expect_context::<Session>();
    move || match (session.auth.get(), session.pending.get()) {
        (Some(a), _) => {
            let href = format!("/console/{}", a.org);
            view! { <p><a href=href>"Go to the dashboard of " {a.org}</a></p> }.into_any()
        }
        (None, true) => view! { <p class="status" aria-busy="true">"Signing in…"</p> }.into_any(),
        (None, false) => view! { <SignIn error=session.error org=None /> }.into_any(),
    }
}

/// A page of an org's console: its tab when the admin is signed in to that org; otherwise the
/// sign-in to it, started at once (the page is where the console comes back to).
#[component]
fn Shell(tab: Tab) -> impl IntoView {
    let session = expect_context::<Session>();
    let params = use_params_map();
    let org = Memo::new(move |_| params.read().get("org").unwrap_or_default());
    let id = Signal::from(Memo::new(move |_| params.read().get("id")));
    move || {
        let org = org.get();
        match session.auth.get() {
            Some(a) if a.org == org => view! { <Signed auth=a tab=tab id=id /> }.into_any(),
            _ => {
                let waiting = session.pending.get() || session.error.get().is_some();
                if !waiting && !session.started.get_untracked() {
                    session.started.set(true);
                    let org = org.clone();
                    leptos::task::spawn_local(async move {
                        if let Err(e) = start_sign_in(org).await {
                            session.error.set(Some(e));
                        }
                    });
                }
                view! { <SignIn error=session.error org=Some(org) /> }.into_any()
            }
        }
    }
}

/// The groups of the side navigation: a heading (none for the first) and its pages.
const NAV_GROUPS: [(Option<&str>, &[Tab]); 5] = [
    (None, &[Tab::Dashboard]),
    (Some("Access"), &[Tab::Apps, Tab::Users, Tab::Sessions]),
    (Some("Logout"), &[Tab::Deliveries]),
    (
        Some("Settings"),
        &[Tab::Policy, Tab::Templates, Tab::Keys, Tab::AuditSink],
    ),
    (Some("Records"), &[Tab::Audit, Tab::Orgs]),
];

impl Tab {
    /// The tab's label, test id and path under the org.
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        let (_, label, test_id, path) = Tab::ALL
            .into_iter()
            .find(|(t, ..)| *t == self)
            .unwrap_or(Tab::ALL[0]);
        (label, test_id, path)
    }
}

/// The side navigation: the org's pages in groups, the current one marked. Only operators
/// (admins of the platform org) see the Orgs page; its URL shows the API's refusal to others.
fn side_nav(org: &str, tab: Tab) -> impl IntoView + use<> {
    let operator = org == PLATFORM_ORG;
    let org = org.to_owned();
    let groups = NAV_GROUPS.map(|(heading, tabs)| {
        let links = tabs
            .iter()
            .filter(|t| **t != Tab::Orgs || operator)
            .map(|t| {
                let (label, test_id, path) = t.parts();
                let href = format!("/console/{org}{path}");
                view! {
                    <li><a href=href data-testid=test_id class:active=*t == tab
                        aria-current=(*t == tab).then_some("page")>{label}</a></li>
                }
            })
            .collect_view();
        view! {
            <div class="nav-group">
                {heading.map(|h| view! { <p class="nav-heading">{h}</p> })}
                <ul>{links}</ul>
            </div>
        }
    });
    view! {
        <nav class="side-nav" aria-label="Console pages">
            <p class="org-chip" data-testid="signed-in-org">
                <span class="label">"Organization"</span> " " <strong>{org.clone()}</strong>
            </p>
            {groups.into_iter().collect_view()}
        </nav>
    }
}

/// The breadcrumbs of a page: the org, the list the object is in, and the object.
fn breadcrumbs(org: &str, tab: Tab, id: Signal<Option<String>>) -> impl IntoView + use<> {
    let (label, _, path) = tab.parts();
    let home = format!("/console/{org}");
    let list = format!("/console/{org}{path}");
    let org = org.to_owned();
    move || {
        let mut trail = vec![(org.clone(), home.clone())];
        let title = match id.get() {
            Some(id) if tab != Tab::Dashboard => {
                trail.push((label.to_owned(), list.clone()));
                short_id(&id)
            }
            _ => label.to_owned(),
        };
        view! { <PageHeader trail=trail title=title /> }
    }
}

/// An object's id as a breadcrumb: ids are long; the start tells them apart.
fn short_id(id: &str) -> String {
    match id.char_indices().nth(12) {
        Some((i, _)) => format!("{}…", &id[..i]),
        None => id.to_owned(),
    }
}

/// A signed-in console: the side navigation (links to the pages), the breadcrumbs and the page
/// of `tab`, with the object of the URL (`id`) for the pages that have one.
#[component]
fn Signed(auth: Auth, tab: Tab, id: Signal<Option<String>>) -> impl IntoView {
    let org = auth.org.clone();
    let a = auth.clone();
    let page = match tab {
        Tab::Dashboard => view! { <Dashboard auth=a /> }.into_any(),
        Tab::Apps => view! { <Apps auth=a selected=id /> }.into_any(),
        Tab::Users => view! { <Users auth=a selected=id /> }.into_any(),
        Tab::Sessions => view! { <Sessions auth=a selected=id /> }.into_any(),
        Tab::Deliveries => view! { <Deliveries auth=a /> }.into_any(),
        Tab::Policy => view! { <Policy auth=a /> }.into_any(),
        Tab::Audit => view! { <Audit auth=a /> }.into_any(),
        Tab::Keys => view! { <Keys auth=a /> }.into_any(),
        Tab::Templates => view! { <Templates auth=a selected=id /> }.into_any(),
        Tab::AuditSink => view! { <AuditSink auth=a /> }.into_any(),
        Tab::Orgs => view! { <Orgs auth=a /> }.into_any(),
    };
    view! {
        <div class="layout">
            {side_nav(&org, tab)}
            <div class="content">
                {breadcrumbs(&org, tab, id)}
                {page}
            </div>
        </div>
    }
}
