//! `/api/v1` routes. Public so far: the deployment facts the console shows before sign-in.

use crate::app::AppState;
use actix_web::{HttpResponse, web};
use portcullis_api_types::DeploymentInfo;

pub const API_PREFIX: &str = "/api/v1";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(API_PREFIX).route("/deployment", web::get().to(deployment)));
}

async fn deployment(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(DeploymentInfo {
        name: state.config.deployment.name.clone(),
        version: crate::VERSION.to_owned(),
    })
}
