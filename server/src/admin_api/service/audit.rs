//! The audit trail and the dashboard's charts: sign-in activity, logout deliveries per app.

use super::*;
use crate::admin_api::ApiError;
use crate::state::AppState;

use crate::tenancy::Org;
use portcullis_api_types::{AuditEventView, Page};

/// The audit list's filter as the request gives it (times as RFC 3339 text).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilterText<'a> {
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
}

pub async fn audit_events(
    state: &AppState,
    org: &Org,
    filter: AuditFilterText<'_>,
    p: PageRequest,
) -> Result<Page<AuditEventView>, ApiError> {
    let AuditFilterText {
        action,
        target,
        actor,
        since,
        until,
    } = filter;
    let time = |raw: Option<&str>, field: &str| {
        raw.map(|r| {
            chrono::DateTime::parse_from_rfc3339(r)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::field(field, "an RFC 3339 time, e.g. 2026-11-29T10:00:00Z"))
        })
        .transpose()
    };
    let since = time(since, "since")?;
    let until = time(until, "until")?;
    let (events, total) = state
        .store
        .audit_events_page(
            org.id,
            &crate::store::AuditQuery {
                action,
                target,
                actor,
                since,
                until,
            },
            p.offset(),
            p.limit(),
            true,
        )
        .await
        .map_err(ApiError::internal)?;
    let items = events
        .into_iter()
        .map(|e| AuditEventView {
            id: e.id.to_string(),
            at: ts(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details.to_string(),
        })
        .collect();
    Ok(p.with(items, total))
}

/// Successful and failed sign-ins per hour over the last `hours` hours, oldest first.
pub async fn activity(
    state: &AppState,
    org: &Org,
    hours: Option<i64>,
) -> Result<Vec<portcullis_api_types::ActivityHour>, ApiError> {
    use chrono::{DurationRound, TimeDelta};
    let hours = hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(ApiError::field("hours", "between 1 and 168"));
    }
    let now = state.clock.now();
    let end = now
        .duration_trunc(TimeDelta::hours(1))
        .map_err(ApiError::internal)?
        + TimeDelta::hours(1);
    let start = end - TimeDelta::hours(hours);
    // Counted by the database: a flood of sign-in rows costs no memory here.
    let counts = state
        .store
        .signin_activity(org.id, start, hours)
        .await
        .map_err(ApiError::internal)?;
    let mut out: Vec<portcullis_api_types::ActivityHour> = (0..hours)
        .map(|i| portcullis_api_types::ActivityHour {
            hour: ts(start + TimeDelta::hours(i)),
            signins: 0,
            failures: 0,
        })
        .collect();
    for (hour, action, n) in counts {
        let n = u64::try_from(n).unwrap_or(0);
        let Some(bucket) = usize::try_from(hour).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match action.as_str() {
            "signin.succeeded" | "signin.reauthenticated" => bucket.signins += n,
            "signin.failed" => bucket.failures += n,
            _ => {}
        }
    }
    Ok(out)
}

/// Logout deliveries per app created over the last `hours` hours (1–720, default 168), by
/// outcome: apps with at least one delivery in the window, by name. Counted by the database.
pub async fn delivery_stats(
    state: &AppState,
    org: &Org,
    hours: Option<i64>,
) -> Result<Vec<portcullis_api_types::AppDeliveryStats>, ApiError> {
    use crate::apps::AppId;
    use crate::slo::{STATUS_DELIVERED, STATUS_FAILED};
    use std::collections::BTreeMap;
    let hours = hours.unwrap_or(168);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::field("hours", "between 1 and 720"));
    }
    let since = state.clock.now() - chrono::TimeDelta::hours(hours);
    let counts = state
        .store
        .delivery_counts(org.id, since)
        .await
        .map_err(ApiError::internal)?;
    let app_ids: Vec<AppId> =
        super::sessions::distinct(counts.iter().map(|(app, _, _)| *app), AppId);
    let labels = state
        .store
        .app_labels(org.id, &app_ids)
        .await
        .map_err(ApiError::internal)?;
    let mut by_app: BTreeMap<uuid::Uuid, portcullis_api_types::AppDeliveryStats> = BTreeMap::new();
    for (app, status, n) in counts {
        let (client_id, app_name) = labels.get(&app).cloned().unwrap_or_default();
        let row = by_app
            .entry(app)
            .or_insert_with(|| portcullis_api_types::AppDeliveryStats {
                app_id: app.to_string(),
                app_name,
                client_id,
                delivered: 0,
                failed: 0,
                pending: 0,
            });
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            STATUS_DELIVERED => row.delivered += n,
            STATUS_FAILED => row.failed += n,
            _ => row.pending += n,
        }
    }
    let mut out: Vec<_> = by_app.into_values().collect();
    out.sort_by(|a, b| (&a.app_name, &a.app_id).cmp(&(&b.app_name, &b.app_id)));
    Ok(out)
}
