//! `/healthz` (the process answers) and `/readyz` (database and cache reachable).

use crate::state::AppState;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "status": "alive" }))
}

/// 200 while the database answers, with the cache reported as `degraded` when Redis is away
/// (the node still serves correctly from the database); 503 when the database is unreachable.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = state.readiness().await;
    let mut answer = if readiness.database == "ok" {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    answer
        .insert_header(("Cache-Control", "no-store"))
        .json(readiness)
}
