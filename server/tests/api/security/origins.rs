//! Issue 14, "one org slows every org": CORS on the token and userinfo endpoints used to reload
//! and parse every SPA redirect URI of the org on each request with an `Origin` header (and on
//! each preflight). The origins are now a cached copy per org, dropped on every node when an app
//! of the org is created, changed or deleted.

use crate::helpers::{Rp, TestApp, org_with_alice};
use portcullis::apps::{AppType, CreateApp};
use portcullis::store::cache::CacheKey;
use portcullis::tenancy::Org;

/// Lets the fence of the org's last app change lapse (it refuses copies for 30 s after a change,
/// so that a reader holding the old rows cannot write them back), as if the time had passed.
async fn fence_lapses(node: &TestApp, org: &Org) {
    let key = CacheKey::org_copy(org.id, "spa-origins", "all");
    node.state.cache.delete(&key).await;
}

async fn preflight_allows(node: &TestApp, org: &str, origin: &str) -> bool {
    let res = node
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/o/{org}/token", node.address),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    match res.headers().get("access-control-allow-origin") {
        Some(v) => {
            assert_eq!(v.to_str().unwrap(), origin);
            true
        }
        None => false,
    }
}

async fn spa(node: &TestApp, org: &Org, name: &str, uri: &str) -> Rp {
    let mut req = CreateApp::new(name, AppType::Spa);
    req.redirect_uris = vec![uri.into()];
    Rp::register(node, org, req).await
}

both_backends!(
    security_spa_origins_are_a_cached_copy_per_org_dropped_on_every_app_change,
    |backend| {
        let a = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&a, "acme").await;
        let one = spa(&a, &org, "one", "https://one.example/cb").await;
        let two = spa(&a, &org, "two", "https://two.example/cb").await;
        // A second node of the same deployment, when the cache is shared.
        let b = match &a.redis {
            Some(redis) => Some(TestApp::spawn_on(&a.db_url, Some(redis.clone()), |f| f).await),
            None => None,
        };

        fence_lapses(&a, &org).await;
        assert!(preflight_allows(&a, "acme", "https://one.example").await);
        assert!(!preflight_allows(&a, "acme", "https://evil.example").await);

        // Rows removed behind the service's back (no app change announced) are not read again
        // per request: the org's copy answers. On the old code every preflight read the rows.
        let one_app = a
            .state
            .store
            .app_by_client_id(org.id, &one.client_id)
            .await
            .unwrap()
            .unwrap();
        a.state.store.delete_app(org.id, one_app.id).await.unwrap();
        assert!(
            preflight_allows(&a, "acme", "https://one.example").await,
            "the preflight is answered from the org's cached origins"
        );

        // An app change through the service drops the copy at once, on every node.
        let two_app = a
            .state
            .store
            .app_by_client_id(org.id, &two.client_id)
            .await
            .unwrap()
            .unwrap();
        if let Some(b) = &b {
            assert!(preflight_allows(b, "acme", "https://two.example").await);
        }
        let mut req = CreateApp::new("two", AppType::Spa);
        req.redirect_uris = vec!["https://two-new.example/cb".into()];
        a.state
            .apps
            .update(&org, &two_app, req, "test")
            .await
            .unwrap();
        for node in std::iter::once(&a).chain(b.as_ref()) {
            assert!(
                !preflight_allows(node, "acme", "https://one.example").await,
                "the deleted app's origin is gone after the next change"
            );
            assert!(!preflight_allows(node, "acme", "https://two.example").await);
            assert!(preflight_allows(node, "acme", "https://two-new.example").await);
        }

        // Creating and deleting apps drop the copy too.
        let three = spa(&a, &org, "three", "https://three.example/cb").await;
        for node in std::iter::once(&a).chain(b.as_ref()) {
            assert!(preflight_allows(node, "acme", "https://three.example").await);
        }
        let three_app = a
            .state
            .store
            .app_by_client_id(org.id, &three.client_id)
            .await
            .unwrap()
            .unwrap();
        a.state.apps.delete(&org, &three_app).await.unwrap();
        for node in std::iter::once(&a).chain(b.as_ref()) {
            assert!(!preflight_allows(node, "acme", "https://three.example").await);
        }

        // Each org has its own copy: another org's apps allow nothing here.
        let globex = a.state.orgs.create("globex", None, "test").await.unwrap();
        spa(&a, &globex, "g", "https://globex.example/cb").await;
        assert!(preflight_allows(&a, "globex", "https://globex.example").await);
        assert!(!preflight_allows(&a, "acme", "https://globex.example").await);
        assert!(!preflight_allows(&a, "globex", "https://two-new.example").await);
    }
);
