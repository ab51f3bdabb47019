//! The console's pages: the sign-in form, and the tabs of a signed-in console, one module each.

mod apps;
mod audit;
mod dashboard;
mod deliveries;
mod keys;
mod policy;
mod sessions;
mod sign_in;
mod users;

use leptos::prelude::*;

use crate::api::Auth;
use apps::Apps;
use audit::Audit;
use dashboard::Dashboard;
use deliveries::Deliveries;
use keys::Keys;
use policy::Policy;
use sessions::Sessions;
pub(crate) use sign_in::SignIn;
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
}

/// A signed-in console: the org, the tabs and the page of the chosen one.
#[component]
pub(crate) fn Signed(auth: Auth) -> impl IntoView {
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
