//! Path-based org resolution: the platform org, unknown orgs, disabled orgs on every node.

use crate::helpers::TestApp;
use portcullis::tenancy::{OrgStatus, PLATFORM_ORG_SLUG};

both_backends!(platform_org_exists_and_unknown_org_is_404, |backend| {
    let app = TestApp::spawn(&backend).await;
    let res = app.get(&format!("/o/{PLATFORM_ORG_SLUG}/")).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Platform"), "{body}");
    assert!(body.contains(&format!("/o/{PLATFORM_ORG_SLUG}")), "{body}");

    for path in ["/o/nope/", "/o/nope/anything/below", "/o/NOT%20A%20SLUG/"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(
            res.text().await.unwrap().contains("Organization not found"),
            "{path}"
        );
    }

    // Starting again on the same database does not create a second platform org.
    let second = TestApp::spawn_on(&app.db_url, app.redis.clone(), |f| f).await;
    assert_eq!(second.state.store.count_orgs().await.unwrap(), 1);
});

both_backends!(disabled_org_refuses_every_endpoint_at_once, |backend| {
    let app = TestApp::spawn(&backend).await;
    app.state
        .orgs
        .create("acme", Some("Acme <Corp>"), "test")
        .await
        .unwrap();

    let res = app.get("/o/acme/").await;
    assert_eq!(res.status(), 200);
    // The display name is escaped (askama writes `&#60;`), never rendered as markup.
    let body = res.text().await.unwrap();
    assert!(body.contains("Acme &#60;Corp&#62;"), "{body}");
    assert!(!body.contains("Acme <Corp>"), "{body}");

    // The org record is now cached; disabling must still take effect on the next request.
    app.state
        .orgs
        .set_status("acme", OrgStatus::Disabled, "test")
        .await
        .unwrap();
    for path in ["/o/acme/", "/o/acme", "/o/acme/any/endpoint"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 403, "{path}");
        assert!(res.text().await.unwrap().contains("Organization disabled"));
    }
    // Other orgs are unaffected.
    assert_eq!(app.get("/o/system/").await.status(), 200);

    app.state
        .orgs
        .set_status("acme", OrgStatus::Active, "test")
        .await
        .unwrap();
    assert_eq!(app.get("/o/acme/").await.status(), 200);
});

both_backends!(org_status_change_reaches_every_node, |backend| {
    let node1 = TestApp::spawn(&backend).await;
    let node2 = TestApp::spawn_on(&node1.db_url, node1.redis.clone(), |f| f).await;
    node1.state.orgs.create("acme", None, "test").await.unwrap();
    assert_eq!(node2.get("/o/acme/").await.status(), 200);

    // The change is made through the CLI, a separate process, as an operator would.
    let out = node1.cli().run(&["org", "disable", "acme", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("\"disabled\""), "{}", out.stdout);

    if node1.state.cache.is_shared() {
        // Redis: the CLI dropped the shared entry, so both nodes refuse right away.
        assert_eq!(node1.get("/o/acme/").await.status(), 403);
        assert_eq!(node2.get("/o/acme/").await.status(), 403);
    } else {
        // In-process caches cannot be reached from another process: their org entries live
        // one second, so one second later every node refuses.
        for node in [&node1, &node2] {
            node.clock.advance(chrono::Duration::seconds(1));
            assert_eq!(node.get("/o/acme/").await.status(), 403);
        }
    }
});

both_backends!(
    discovery_of_a_disabled_org_stops_at_once_where_it_was_disabled_and_within_a_second_elsewhere,
    |backend| {
        const DISCOVERY: &str = "/o/acme/.well-known/openid-configuration";
        let node1 = TestApp::spawn(&backend).await;
        let node2 = TestApp::spawn_on(&node1.db_url, node1.redis.clone(), |f| f).await;
        node1.state.orgs.create("acme", None, "test").await.unwrap();
        for node in [&node1, &node2] {
            let res = node.get(DISCOVERY).await;
            assert_eq!(res.status(), 200);
            let doc: serde_json::Value = res.json().await.unwrap();
            assert!(
                doc["issuer"].as_str().unwrap().ends_with("/o/acme"),
                "{doc}"
            );
        }
        // Unknown and malformed orgs are refused as in the scope.
        for path in [
            "/o/nope/.well-known/openid-configuration",
            "/o/NOT%20A%20SLUG/.well-known/openid-configuration",
        ] {
            assert_eq!(node1.get(path).await.status(), 404, "{path}");
        }

        node1
            .state
            .orgs
            .set_status("acme", OrgStatus::Disabled, "test")
            .await
            .unwrap();
        // The node that made the change dropped its own copy.
        let res = node1.get(DISCOVERY).await;
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("Organization disabled"));
        if node1.state.cache.is_shared() {
            // Everything that is not public metadata refuses at once on the other node too.
            assert_eq!(node2.get("/o/acme/").await.status(), 403);
            assert_eq!(node2.get("/o/acme/jwks").await.status(), 403);
            // Its discovery copy goes with the invalidation message (no clock moved).
            let mut status = 0;
            for _ in 0..200 {
                status = node2.get(DISCOVERY).await.status().as_u16();
                if status == 403 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            assert_eq!(
                status, 403,
                "the invalidation message never dropped the copy"
            );
        }
        // Whatever happened to the message, one second later every node refuses.
        node2.clock.advance(chrono::Duration::seconds(1));
        assert_eq!(node2.get(DISCOVERY).await.status(), 403);

        // Enabled again: served again.
        node1
            .state
            .orgs
            .set_status("acme", OrgStatus::Active, "test")
            .await
            .unwrap();
        node2.clock.advance(chrono::Duration::seconds(1));
        for node in [&node1, &node2] {
            assert_eq!(node.get(DISCOVERY).await.status(), 200);
        }
    }
);
