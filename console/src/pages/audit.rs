//! The audit log, filtered by action and by what an event is about.

use leptos::prelude::*;
use portcullis_api_types::{AuditEventView, Page};

use crate::api::{Auth, enc, watch};
use crate::ui::{ErrorNote, Time};

/// The audit-events query for the filters the admin typed (blank ones left out).
fn audit_path(action: String, target: String) -> String {
    let mut path = "/audit-events?per_page=100".to_owned();
    for (key, value) in [("action", action), ("target", target)] {
        let value = value.trim().to_owned();
        if !value.is_empty() {
            path.push_str(&format!("&{key}={}", enc(&value)));
        }
    }
    path
}

#[component]
pub(crate) fn Audit(auth: Auth) -> impl IntoView {
    let events = RwSignal::new(None::<Page<AuditEventView>>);
    let error = RwSignal::new(None::<String>);
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    watch(
        auth,
        move || audit_path(action.get(), target.get()),
        events,
        error,
    );
    view! {
        <section data-testid="audit-page">
            <h2>"Audit log"</h2>
            <label for="audit-action">"Action (or its start, like session. or logout_delivery.failed)"</label>
            <input id="audit-action" data-testid="audit-action" on:change=move |ev| action.set(event_target_value(&ev)) />
            <label for="audit-target">"About (a user, app or session id)"</label>
            <input id="audit-target" data-testid="audit-target" on:change=move |ev| target.set(event_target_value(&ev)) />
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Target"</th></tr></thead>
                <tbody>
                    {move || events.get().map(|p| p.items.into_iter().map(|e| view! {
                        <tr data-testid="audit-row"><td><Time at=e.at /></td><td>{e.actor}</td><td>{e.action}</td><td>{e.target.unwrap_or_default()}</td></tr>
                    }).collect_view())}
                </tbody>
            </table>
        </section>
    }
}
