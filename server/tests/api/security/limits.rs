//! Issue 14: what one org's admin can register is bounded (redirect URIs per app, apps per org),
//! so one org cannot make every request that matches its registrations slow for everyone.

use crate::helpers::TestApp;
use portcullis::apps::{AppError, AppType, CreateApp, MAX_APPS_PER_ORG, MAX_REDIRECT_URIS_PER_APP};

fn web_app(name: &str, uris: usize) -> CreateApp {
    let mut req = CreateApp::new(name, AppType::Web);
    req.redirect_uris = (0..uris)
        .map(|i| format!("https://app.example.com/callback/{i}"))
        .collect();
    req
}

both_backends!(redirect_uris_per_app_are_bounded, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = app.state.orgs.create("acme", None, "test").await.unwrap();
    let at_limit = web_app("At the limit", MAX_REDIRECT_URIS_PER_APP);
    app.state.apps.create(&org, at_limit, "test").await.unwrap();
    let over = web_app("Over the limit", MAX_REDIRECT_URIS_PER_APP + 1);
    let refused = app.state.apps.create(&org, over, "test").await;
    assert!(
        matches!(refused, Err(AppError::TooManyUris { .. })),
        "{refused:?}"
    );
    // Editing an app cannot get past it either.
    let (existing, _) = app
        .state
        .apps
        .create(&org, web_app("Edited", 1), "test")
        .await
        .unwrap();
    let edit = web_app("Edited", 7_000);
    let refused = app.state.apps.update(&org, &existing, edit, "test").await;
    assert!(
        matches!(refused, Err(AppError::TooManyUris { .. })),
        "{refused:?}"
    );
});

both_backends!(apps_per_org_are_bounded_even_in_parallel, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = app.state.orgs.create("acme", None, "test").await.unwrap();
    let other = app.state.orgs.create("other", None, "test").await.unwrap();
    let start = MAX_APPS_PER_ORG - 5;
    for i in 0..start {
        app.state
            .apps
            .create(&org, web_app(&format!("App {i}"), 1), "test")
            .await
            .unwrap();
    }
    // Twenty registrations at once for the last five places: five get one.
    let racing = (0..20).map(|i| {
        let apps = app.state.apps.clone();
        let org = org.clone();
        tokio::spawn(async move {
            apps.create(&org, web_app(&format!("Racer {i}"), 1), "test")
                .await
        })
    });
    let mut created = 0;
    for r in futures_util::future::join_all(racing).await {
        match r.unwrap() {
            Ok(_) => created += 1,
            Err(AppError::TooManyApps(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 5);
    let count = app.state.store.apps(org.id).await.unwrap().len() as u64;
    assert_eq!(count, MAX_APPS_PER_ORG);
    // Another org is not affected.
    app.state
        .apps
        .create(&other, web_app("Elsewhere", 1), "test")
        .await
        .unwrap();
});

both_backends!(
    one_client_flooding_anonymous_requests_waits_its_turn_and_is_refused_past_it,
    |backend| {
        // Pacing on (the suites turn it off elsewhere): a burst of 3, then one a second, and
        // no wait at all, so the fourth anonymous request at one instant is refused.
        let app = TestApp::spawn_with(&backend, |f| {
            f.merge(("security.anonymous_per_ip_per_second", 1))
                .merge(("security.anonymous_burst", 3))
                .merge(("security.anonymous_max_wait_ms", 0))
                .merge(("http.trusted_proxies", vec!["127.0.0.1"]))
        })
        .await;
        app.state.orgs.create("acme", None, "test").await.unwrap();
        app.state.orgs.create("other", None, "test").await.unwrap();
        let url = |path: &str| format!("{}{path}", app.address);
        let from = |ip: &'static str| {
            let client = app.client.clone();
            move |req: reqwest::Method, path: String| {
                client
                    .request(req, path)
                    .header("X-Forwarded-For", ip)
                    .header("Origin", "https://spa.example")
                    .send()
            }
        };
        let flooder = from("203.0.113.7");
        for _ in 0..3 {
            let res = flooder(reqwest::Method::OPTIONS, url("/o/acme/token"))
                .await
                .unwrap();
            assert_ne!(res.status(), 429);
        }
        let refused = flooder(reqwest::Method::OPTIONS, url("/o/acme/token"))
            .await
            .unwrap();
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["retry-after"], "1");
        // The pace is the client's, whatever the org and the anonymous endpoint; script-driven
        // endpoints get JSON.
        let res = flooder(reqwest::Method::POST, url("/o/other/login"))
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.text().await.unwrap().contains("Too many requests"));
        let res = flooder(
            reqwest::Method::POST,
            url("/o/acme/webauthn/passkey-login/start"),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 429);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "too_many_requests");
        // SAML's anonymous endpoints, by GET too: an SSO request is verified and stored, the
        // metadata may make the org's first RSA key.
        for path in ["/o/acme/saml/sso?SAMLRequest=x", "/o/acme/saml/metadata"] {
            let res = flooder(reqwest::Method::GET, url(path)).await.unwrap();
            assert_eq!(res.status(), 429, "{path}");
        }
        let res = flooder(reqwest::Method::POST, url("/o/acme/saml/sso"))
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        // What is not anonymous, or not costly, goes on: pages, and client-authenticated calls.
        let res = flooder(reqwest::Method::GET, url("/o/acme/login"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = flooder(reqwest::Method::POST, url("/o/acme/token"))
            .await
            .unwrap();
        assert_ne!(res.status(), 429);
        // Another client has its own pace.
        let res = from("198.51.100.2")(reqwest::Method::OPTIONS, url("/o/acme/token"))
            .await
            .unwrap();
        assert_ne!(res.status(), 429);
        // One second later the flooder has one more turn, not more.
        app.clock.advance(chrono::Duration::seconds(1));
        let res = flooder(reqwest::Method::OPTIONS, url("/o/acme/token"))
            .await
            .unwrap();
        assert_ne!(res.status(), 429);
        let res = flooder(reqwest::Method::OPTIONS, url("/o/acme/token"))
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
    }
);
