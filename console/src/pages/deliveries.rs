//! Back-channel logout deliveries (`/console/{org}/deliveries`, `?status=failed` for one status):
//! their status, and a retry for those not delivered.

use leptos::prelude::*;
use portcullis_api_types::{AppView, DeliveryView, Page};

use crate::api::{Auth, bump, enc, fetch_into, post, spawn_call, watch};
use crate::pages::paging::{Pager, UrlQuery};
use crate::ui::{Empty, ErrorNote, Time};

/// The statuses a delivery can have, as the filter offers them: value and label.
const STATUSES: [(&str, &str); 4] = [
    ("", "All"),
    ("failed", "Failed"),
    ("pending", "Pending"),
    ("delivered", "Delivered"),
];

/// The filters of the deliveries list, as the URL and the API name them.
const KEYS: &[&str] = &["status", "app_id"];

#[component]
pub(crate) fn Deliveries(auth: Auth) -> impl IntoView {
    let query = UrlQuery::new(KEYS);
    let (status, app) = (query.get("status"), query.get("app_id"));
    let (deliveries, error, reload) = (
        RwSignal::new(None::<Page<DeliveryView>>),
        RwSignal::new(None),
        RwSignal::new(0u32),
    );
    watch(
        auth.clone(),
        move || {
            reload.track();
            query.api_path("/logout-deliveries")
        },
        deliveries,
        error,
    );
    let base = format!("/console/{}/deliveries", auth.org);
    let filters = STATUSES.map(|(value, label)| {
        let base = base.clone();
        let href = move || {
            let mut parts = Vec::new();
            if !value.is_empty() {
                parts.push(format!("status={value}"));
            }
            let app = app.get();
            if !app.is_empty() {
                parts.push(format!("app_id={}", enc(&app)));
            }
            if parts.is_empty() { base.clone() } else { format!("{base}?{}", parts.join("&")) }
        };
        view! {
            <a href=href data-testid=format!("deliveries-filter-{}", if value.is_empty() { "all" } else { value })
                aria-current=move || (status.get() == value).then_some("page")>{label}</a>
        }
    });
    let apps = RwSignal::new(None::<Page<AppView>>);
    fetch_into(auth.clone(), "/apps?per_page=200", apps, error);
    let set = query.setter();
    let retry = move |id: String| {
        let request = post(auth.clone(), format!("/logout-deliveries/{id}/retry"));
        spawn_call(request, error, move |_: serde_json::Value| bump(reload));
    };
    view! {
        <section data-testid="deliveries-page">
            <h2>"Logout deliveries"</h2>
            <p class="filters">"Show: " {filters.into_iter().collect_view()}</p>
            <div class="filters">
                <label for="delivery-app">"App"</label>
                <select id="delivery-app" data-testid="deliveries-filter-app" prop:value=move || app.get()
                    on:change=move |ev| set("app_id", event_target_value(&ev))>
                    <option value="">"All apps"</option>
                    {move || apps.get().map(|p| p.items.into_iter().map(|a| {
                        let selected = a.id == app.get_untracked();
                        view! { <option value=a.id selected=selected>{a.name}</option> }
                    }).collect_view())}
                </select>
            </div>
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
            <Empty list=deliveries test_id="deliveries-empty"
                text="No logout delivery matches. Deliveries appear when a session ends and an app has a back-channel logout URI." />
            <Pager list=deliveries query=query />
        </section>
    }
}
