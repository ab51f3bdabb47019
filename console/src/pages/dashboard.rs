//! The dashboard: live sessions, sign-ins and failed deliveries at a glance, and a chart of the
//! last day's sign-ins.

use leptos::prelude::*;
use portcullis_api_types::{ActivityHour, AuditEventView, DeliveryView, Page, SessionView};

use crate::api::{Auth, fetch_into, load};
use crate::ui::ErrorNote;

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
    let activity = RwSignal::new(None::<Vec<ActivityHour>>);
    fetch_into(auth, "/activity?hours=24", activity, error);
    view! {
        <section data-testid="dashboard-page">
            <h2>"Dashboard"</h2>
            <ErrorNote error=error />
            <dl class="stats">
                <dt>"Live sign-in sessions"</dt>
                <dd data-testid="stat-sessions">{total(sessions)}</dd>
                <dt>"Sign-ins"</dt><dd data-testid="stat-signins">{total(signins)}</dd>
                <dt>"Failed sign-ins"</dt><dd data-testid="stat-failures">{total(failures)}</dd>
                <dt>"Logout deliveries needing attention"</dt>
                <dd><a data-testid="stat-failed-deliveries" href=format!("/console/{org}/deliveries?status=failed")
                    title="Show the failed deliveries">{total(failed)}</a></dd>
            </dl>
            <h3>"Sign-ins over the last 24 hours"</h3>
            {move || activity.get().map(|hours| view! { <ActivityChart hours=hours /> })}
        </section>
    }
}

/// Bars per hour: successful sign-ins (accent) and failures (red), as an SVG with a text table
/// behind it for screen readers.
#[component]
fn ActivityChart(hours: Vec<ActivityHour>) -> impl IntoView {
    let max = hours
        .iter()
        .map(|h| h.signins.max(h.failures))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = 120.0_f64;
    let bar = |v: u64| (v as f64 / max as f64) * height;
    let total_in: u64 = hours.iter().map(|h| h.signins).sum();
    let total_failed: u64 = hours.iter().map(|h| h.failures).sum();
    view! {
        <figure data-testid="activity-chart">
            <svg viewBox="0 0 480 130" width="480" height="130" role="img"
                aria-label=format!("{total_in} sign-ins and {total_failed} failed sign-ins in the last 24 hours")>
                {hours.iter().enumerate().map(|(i, h)| {
                    let x = i as f64 * 20.0;
                    let ok = bar(h.signins);
                    let bad = bar(h.failures);
                    view! {
                        <rect x=x + 2.0 y=height - ok width="7" height=ok fill="#2f5bd3"><title>{format!("{}: {} sign-ins", h.hour, h.signins)}</title></rect>
                        <rect x=x + 10.0 y=height - bad width="7" height=bad fill="#c0392b"><title>{format!("{}: {} failed", h.hour, h.failures)}</title></rect>
                    }
                }).collect_view()}
            </svg>
            <figcaption>{format!("{total_in} sign-ins, {total_failed} failed (blue: signed in, red: failed)")}</figcaption>
        </figure>
    }
}
