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
    // The display name is escaped, never rendered as markup.
    assert!(res.text().await.unwrap().contains("Acme &lt;Corp&gt;"));

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
