//! The audit log (`/console/{org}/audit?action=&actor=&target=&since=&until=&page=`): filtered
//! by action (or its dotted start), who did it, what it is about and a time range, a page at a
//! time; the filters live in the URL.

use leptos::prelude::*;
use portcullis_api_types::{AuditEventView, Page};

use crate::api::{Auth, watch};
use crate::pages::paging::{Pager, UrlQuery};
use crate::ui::{Empty, ErrorNote, Time};

/// The filters of the audit log, as the URL and the API name them.
const KEYS: &[&str] = &["action", "actor", "target", "since", "until"];

/// The text filters: key, label, hint shown as placeholder.
const FIELDS: [(&str, &str, &str); 5] = [
    (
        "action",
        "Action (or its start, like session. or logout_delivery.failed)",
        "session.",
    ),
    (
        "actor",
        "Who (user:{id}, app:{client_id}, cli or system)",
        "user:…",
    ),
    ("target", "About (a user, app or session id)", ""),
    (
        "since",
        "From (RFC 3339, inclusive)",
        "2026-01-31T00:00:00Z",
    ),
    (
        "until",
        "Until (RFC 3339, exclusive)",
        "2026-02-01T00:00:00Z",
    ),
];

#[component]
pub(crate) fn Audit(auth: Auth) -> impl IntoView {
    let events = RwSignal::new(None::<Page<AuditEventView>>);
    let error = RwSignal::new(None::<String>);
    let query = UrlQuery::new(KEYS);
    watch(auth, move || query.api_path("/audit-events"), events, error);
    let inputs = FIELDS.map(|(key, label, hint)| {
        let value = query.get(key);
        let set = query.setter();
        let id = format!("audit-{key}");
        view! {
            <label for=id.clone()>{label}</label>
            <input id=id.clone() data-testid=id placeholder=hint prop:value=move || value.get()
                on:change=move |ev| set(key, event_target_value(&ev).trim().to_owned()) />
        }
    });
    view! {
        <section data-testid="audit-page">
            <h2>"Audit log"</h2>
            <div class="filters">{inputs.into_iter().collect_view()}</div>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Target"</th></tr></thead>
                <tbody>
                    {move || events.get().map(|p| p.items.into_iter().map(|e| view! {
                        <tr data-testid="audit-row"><td><Time at=e.at /></td><td>{e.actor}</td><td>{e.action}</td><td>{e.target.unwrap_or_default()}</td></tr>
                    }).collect_view())}
                </tbody>
            </table>
            <Empty list=events test_id="audit-empty"
                text="No event matches. Widen the time range or clear the filters." />
            <Pager list=events query=query />
        </section>
    }
}
