//! Serves the built Leptos console at `/console/`, with deep links falling back to its
//! `index.html` so the client-side router can take them.

use super::error::error_page;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use std::path::Path;

/// Checked once at start (and logged there), not once per worker.
pub fn is_built(dir: &Path) -> bool {
    let built = dir.join("index.html").is_file();
    if !built {
        tracing::warn!(dir = %dir.display(), "console not built; /console/ answers 503 (run `cargo xtask console`)");
    }
    built
}

pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path, built: bool) {
    cfg.route(
        "/console",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/console/"))
                .finish()
        }),
    );
    let index = dir.join("index.html");
    if !built {
        let shown = dir.display().to_string();
        cfg.service(web::scope("/console").default_service(web::to(move || {
            let shown = shown.clone();
            async move {
                error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Console not built",
                    &format!(
                        "The console was not found in {shown}. Build it with `cargo xtask console`."
                    ),
                )
            }
        })));
        return;
    }
    // The wasm and JS compress well (about a third); only these static files are compressed, never
    // pages that carry CSRF tokens next to reflected input (BREACH).
    cfg.service(
        web::scope("/console")
            .wrap(actix_web::middleware::Compress::default())
            .service(
                actix_files::Files::new("", dir)
                    .index_file("index.html")
                    .prefer_utf8(true)
                    .default_handler(fn_service(move |req: ServiceRequest| {
                        let index = index.clone();
                        async move {
                            let (req, _) = req.into_parts();
                            let file = actix_files::NamedFile::open_async(&index).await?;
                            let res = file.into_response(&req);
                            Ok::<ServiceResponse, actix_web::Error>(ServiceResponse::new(req, res))
                        }
                    })),
            ),
    );
}
