//! The dashboard: live sessions, sign-ins and failed deliveries at a glance, charts of the
//! sign-ins and failures over the last 24 hours and 7 days, and the logout deliveries per app.

mod charts;
mod scale;

use leptos::prelude::*;
use portcullis_api_types::{
    ActivityHour, AppDeliveryStats, AuditEventView, DeliveryView, Page, SessionView,
};

use crate::api::{Auth, fetch_into, load};
use crate::ui::ErrorNote;
use charts::{ActivityChart, DeliveryOutcomes, by_day, by_hour};

/// A list's total once it has loaded, `…` before.
fn total<T: Clone + Send + Sync + 'static>(
    page: RwSignal<Option<Page<T>>>,
) -> impl Fn() -> String + Copy {
    move || page.get().map_or("…".to_owned(), |p| p.total.to_string())
}

#[component]
pub(crate) fn Dashboard(auth: Auth) -> impl IntoView {
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
    let org = auth.org.clone();
    let day = RwSignal::new(None::<Vec<ActivityHour>>);
    fetch_into(auth.clone(), "/activity?hours=24", day, error);
    let week = RwSignal::new(None::<Vec<ActivityHour>>);
    fetch_into(auth.clone(), "/activity?hours=168", week, error);
    let outcomes = RwSignal::new(None::<Vec<AppDeliveryStats>>);
    fetch_into(auth, "/delivery-stats?hours=168", outcomes, error);
    let stats_org = org.clone();
    view! {
        <section data-testid="dashboard-page">
            <h2>"Dashboard"</h2>
            <ErrorNote error=error />
            <dl class="stats">
                <div><dt>"Live sign-in sessions"</dt>
                <dd data-testid="stat-sessions">{total(sessions)}</dd></div>
                <div><dt>"Sign-ins"</dt><dd data-testid="stat-signins">{total(signins)}</dd></div>
                <div><dt>"Failed sign-ins"</dt><dd data-testid="stat-failures">{total(failures)}</dd></div>
                <div><dt>"Logout deliveries needing attention"</dt>
                <dd><a data-testid="stat-failed-deliveries" href=format!("/console/{org}/deliveries?status=failed")
                    title="Show the failed deliveries">{total(failed)}</a></dd></div>
            </dl>
            <section class="charts" data-testid="activity-chart" aria-labelledby="activity-title">
                <h3 id="activity-title">"Sign-ins"</h3>
                {move || day.get().map(|hours| view! {
                    <ActivityChart title="Last 24 hours, per hour" unit="Hour" buckets=by_hour(&hours)
                        label_every=3 test_id="chart-24h" />
                })}
                {move || week.get().map(|hours| view! {
                    <ActivityChart title="Last 7 days, per day" unit="Day" buckets=by_day(&hours)
                        label_every=1 test_id="chart-7d" />
                })}
            </section>
            <section class="charts" aria-labelledby="deliveries-title">
                <h3 id="deliveries-title">"Logout deliveries"</h3>
                {move || outcomes.get().map(|stats| view! { <DeliveryOutcomes org=stats_org.clone() stats=stats /> })}
            </section>
        </section>
    }
}
