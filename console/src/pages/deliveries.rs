//! Back-channel logout deliveries (`/console/{org}/deliveries`, `?status=failed` for one status):
//! their status, and a retry for those not delivered.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use portcullis_api_types::{DeliveryView, Page};

use crate::api::{Auth, bump, enc, post, spawn_call, watch};
use crate::ui::{ErrorNote, Time};

/// The statuses a delivery can have, as the filter offers them: value and label.
const STATUSES: [(&str, &str); 4] = [
    ("", "All"),
    ("failed", "Failed"),
    ("pending", "Pending"),
    ("delivered", "Delivered"),
];

#[component]
pub(crate) fn Deliveries(auth: Auth) -> impl IntoView {
    let query = use_query_map();
    let status = Memo::new(move |_| query.read().get("status").unwrap_or_default());
    let (deliveries, error, reload) = (
        RwSignal::new(None::<Page<DeliveryView>>),
        RwSignal::new(None),
        RwSignal::new(0u32),
    );
    watch(
        auth.clone(),
        move || {
            reload.track();
            match status.get() {
                s if s.is_empty() => "/logout-deliveries?per_page=200".to_owned(),
                s => format!("/logout-deliveries?per_page=200&status={}", enc(&s)),
            }
        },
        deliveries,
        error,
    );
    let base = format!("/console/{}/deliveries", auth.org);
    let filters = STATUSES.map(|(value, label)| {
        let href = if value.is_empty() { base.clone() } else { format!("{base}?status={value}") };
        view! {
            <a href=href data-testid=format!("deliveries-filter-{}", if value.is_empty() { "all" } else { value })
                aria-current=move || (status.get() == value).then_some("page")>{label}</a>
        }
    });
    let retry = move |id: String| {
        let request = post(auth.clone(), format!("/logout-deliveries/{id}/retry"));
        spawn_call(request, error, move |_: serde_json::Value| bump(reload));
    };
    view! {
        <section data-testid="deliveries-page">
            <h2>"Logout deliveries"</h2>
            <p class="filters">"Show: " {filters.into_iter().collect_view()}</p>
            <button type="button" data-testid="deliveries-refresh" on:click=move |_| bump(reload)>"Refresh"</button>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"Since"</th><th>"App"</th><th>"Reason"</th><th>"Status"</th><th>"Attempts"</th><th>"Last error"</th><th></th></tr></thead>
                <tbody>
                    {move || deliveries.get().map(|p| p.items.into_iter().map(|d| {
                        let id = d.id.clone();
                        let retry = retry.clone();
                        let undelivered = d.status != "delivered";
                        let status = d.status.clone();
                        view! {
                            <tr data-testid="delivery-row" data-status=status>
                                <td><Time at=d.created_at /></td><td>{d.client_id}</td><td>{d.reason}</td><td>{d.status}</td><td>{d.attempts}</td>
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
