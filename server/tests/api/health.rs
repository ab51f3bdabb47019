//! `/healthz`, `/readyz`, the deployment endpoint and the headers every response carries.

use crate::helpers::{TestApp, TestDb, free_port, start_node};
use portcullis_api_types::{DeploymentInfo, Readiness};

fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let csp = h
        .get("content-security-policy")
        .expect("CSP")
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
}

both_backends!(health_and_readiness, |backend| {
    let app = TestApp::spawn(&backend).await;

    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);

    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    assert_security_headers(&res);
    let ready: Readiness = res.json().await.unwrap();
    assert_eq!(ready.status, "ready");
    assert_eq!(ready.database, "ok");
    assert_eq!(ready.cache, "ok");
});

both_backends!(deployment_info_comes_from_config, |backend| {
    let app = TestApp::spawn(&backend).await;
    let res = app.get("/api/v1/deployment").await;
    assert_eq!(res.status(), 200);
    let info: DeploymentInfo = res.json().await.unwrap();
    assert_eq!(info.name, "Portcullis Test");
    assert_eq!(info.version, portcullis::VERSION);
});

both_backends!(unknown_paths_are_404_with_headers, |backend| {
    let app = TestApp::spawn(&backend).await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert_security_headers(&res);
    assert!(res.text().await.unwrap().contains("Page not found"));

    let res = app.get("/api/v1/nope").await;
    assert_eq!(res.status(), 404);
    let body: portcullis_api_types::ErrorBody = res.json().await.unwrap();
    assert_eq!(body.error, "not_found");

    // The console is not built in this test's configuration: a clear 503, not a crash.
    let res = app.get("/console/").await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("cargo xtask console"));
});

both_backends!(every_request_log_line_names_its_request, |backend| {
    let db = TestDb::create(&backend).await;
    let port = free_port();
    let mut node = start_node(&db.url, port);
    assert!(node.ready(port).await);
    let client = reqwest::Client::new();
    for path in [
        "/healthz",
        "/o/system/",
        "/o/nope/",
        "/o/system/password/reset?token=secret-link-token",
    ] {
        client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap();
    }
    let log = node.stop().await;
    let requests: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request finished")
        .collect();
    // The readiness polls plus the three requests above.
    assert!(requests.len() >= 4, "{log}");
    let mut ids = std::collections::HashSet::new();
    for line in &requests {
        let id = line["span"]["request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no request id: {line}"));
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), requests.len(), "request ids must be unique");
    assert!(requests.iter().any(|l| l["fields"]["status"] == 404));
    // Query strings (emailed link tokens, codes) never reach the log; the path does.
    assert!(!log.contains("secret-link-token"), "{log}");
    assert!(log.contains("/o/system/password/reset"), "{log}");
});
