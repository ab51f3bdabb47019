//! The HTTP side of `crate::metrics`: the middleware that counts every request by route
//! template (never the raw path), method and status with its latency, and the `/metrics`
//! handler of the separate metrics listener (`metrics.bind`), which reads the scrape-time
//! gauges from the store and the node.

use crate::metrics::Snapshot;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Instant;

/// The route label of requests no route matched (bounded cardinality).
pub const UNMATCHED: &str = "unmatched";

/// Counts the request once answered. Off (no work) when metrics are off.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = match req.app_data::<web::Data<AppState>>() {
        Some(state) if state.metrics.is_on() => state.metrics.clone(),
        _ => return next.call(req).await,
    };
    // Latency is a duration on the monotonic clock, not a time of day (`crate::clock`).
    let started = Instant::now();
    // The route template from the app's resource map by path (the request may not be cloned
    // before routing: the router writes its match into it).
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let method = req.method().clone();
    let res = next.call(req).await;
    let status = match &res {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    metrics.http_request(
        &route,
        method_label(&method),
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// The routes of the metrics listener: `GET /metrics` only.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}

/// The Prometheus text format; 503 when the database does not answer (the scrape fails
/// rather than report zero sessions).
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    match snapshot(&state).await {
        Ok(snap) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(state.metrics.render(&snap)),
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape: the database did not answer");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// What the store and this node report now.
async fn snapshot(state: &AppState) -> Result<Snapshot, crate::store::StoreError> {
    let now = state.clock.now();
    let store = &state.store;
    let age = |oldest: Option<chrono::DateTime<chrono::Utc>>| {
        oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
    };
    let logout = store.logout_outbox_depth().await?;
    let email = store.email_outbox_depth().await?;
    let (argon2_waiting, argon2_running) = state.login.argon2_load();
    Ok(Snapshot {
        idp_sessions: store.live_sessions_per_org(false, now).await?,
        app_sessions: store.live_sessions_per_org(true, now).await?,
        orgs: usize::try_from(store.org_count().await?).unwrap_or(usize::MAX),
        logout_pending: logout.pending,
        logout_oldest_pending_secs: age(logout.oldest),
        email_pending: email.pending,
        email_oldest_pending_secs: age(email.oldest),
        db_pool: store.pool_use(),
        cache_circuit_open: state.cache.circuit_open(),
        cache_queued_writes: state.cache.pending_writes(),
        argon2_waiting,
        argon2_running,
    })
}

/// The method as a label: the standard ones by name, any other token (actix accepts any) as
/// `other`, so a client cannot add series without bound.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
