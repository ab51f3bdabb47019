//! One log line per request, inside a root span that carries the request id, so every line
//! logged while serving a request names it. The span records the path without its query
//! string: queries carry single-use secrets (emailed link tokens, authorization codes). The
//! client IP follows `http.trusted_proxies` like the sign-in throttle (`pages::client_ip_from`).
//! With OTLP export on, this span is each trace's root; a W3C `traceparent` from a trusted
//! proxy makes it a child of the proxy's span.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

pub struct RequestLog;

impl RootSpanBuilder for RequestLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        use actix_web::HttpMessage;
        // Client mistakes the HTTP layer refused since the last report: a sampled warning.
        crate::telemetry::report_client_mistakes();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // The same rule as the throttle: X-Forwarded-For only from a trusted proxy, never
        // `realip_remote_addr`, which believes any client's header.
        let state = request.app_data::<actix_web::web::Data<crate::state::AppState>>();
        let trusted = state.map_or(&[][..], |s| s.config.http.trusted_proxies.as_slice());
        let client_ip = crate::http::pages::client_ip_from(
            request.peer_addr().map(|a| a.ip()),
            request.headers(),
            trusted,
        );
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{} {route}", request.method()),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        // A trace started upstream continues here only when a trusted proxy hands it over;
        // anyone else's `traceparent` is ignored (a new trace starts).
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        if request
            .peer_addr()
            .is_some_and(|a| trusted.contains(&a.ip()))
            && let Some(traceparent) = header("traceparent")
        {
            crate::telemetry::continue_remote_trace(&span, traceparent, header("tracestate"));
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                if response.status().is_server_error() {
                    tracing::warn!(status, "request finished");
                } else {
                    tracing::info!(status, "request finished");
                }
            }
            Err(error) => tracing::warn!(%error, "request failed"),
        }
    }
}
