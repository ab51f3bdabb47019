//! Back-channel logout deliveries: their status, and a retry for those not delivered.

use leptos::prelude::*;
use portcullis_api_types::DeliveryView;

use crate::api::{Auth, bump, list, post, spawn_call};
use crate::ui::ErrorNote;

#[component]
pub(crate) fn Deliveries(auth: Auth) -> impl IntoView {
    let (deliveries, error, reload) =
        list::<DeliveryView>(auth.clone(), "/logout-deliveries?per_page=200");
    let retry = move |id: String| {
        let request = post(auth.clone(), format!("/logout-deliveries/{id}/retry"));
        spawn_call(request, error, move |_: serde_json::Value| bump(reload));
    };
    view! {
        <section data-testid="deliveries-page">
            <h2>"Logout deliveries"</h2>
            <button type="button" data-testid="deliveries-refresh" on:click=move |_| bump(reload)>"Refresh"</button>
            <ErrorNote error=error />
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
