//! What the console's app detail and dashboard read: an app's live app sessions (those that
//! outlive their ended IdP session included, which the org's session list leaves out) and the
//! logout deliveries per app by outcome, counted by the database and checked against the rows.
//! Another org's admin sees none of it.

use crate::admin_api::{call, org_with, service_token};
use crate::browser::Browser;
use crate::helpers::{Answer, TestApp};
use crate::signin::EMAIL;
use crate::slo::{Receiver, register, run_once, sid_of, sign_out_form};
use portcullis::accounts::Role;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[track_caller]
fn ok(res: Answer) -> Value {
    assert_eq!(res.status, 200, "{res:?}");
    res.json
}

/// A list of JSON objects' `field`, in order.
fn column(rows: &Value, field: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap().to_owned())
        .collect()
}

both_backends!(
    an_apps_live_sessions_include_those_outliving_the_sign_in,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let globex = org_with(&app, "globex", Role::Admin).await;
        let token = service_token(&app, &acme).await;
        let globex_token = service_token(&app, &globex).await;
        // Standard apps: their app sessions outlive the IdP session.
        let shop = register(&app, &acme, "shop", |_| {}).await;
        let blog = register(&app, &acme, "blog", |_| {}).await;
        let id_of = |client_id: String| {
            let app = &app;
            let org = acme.id;
            async move {
                app.state
                    .store
                    .app_by_client_id(org, &client_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
                    .to_string()
            }
        };
        let (shop_id, blog_id) = (
            id_of(shop.client_id.clone()).await,
            id_of(blog.client_id.clone()).await,
        );

        // The shop on a laptop, signed out there: the app session outlives the IdP session.
        let mut laptop = Browser::new(&app.address, UA);
        let old_sid = sid_of(&shop.sign_in(&mut laptop, &[]).await);
        sign_out_form(&mut laptop, "acme").await;
        app.clock.advance(chrono::Duration::seconds(60));
        // Then the shop and the blog in another browser.
        let mut b = Browser::new(&app.address, UA);
        let sid = sid_of(&shop.sign_in(&mut b, &[]).await);
        blog.sign_in(&mut b, &[]).await;

        let path = format!("/orgs/acme/apps/{shop_id}/sessions");
        let mine = ok(call(&app, "get", &path, Some(&token)).await);
        assert_eq!(mine["total"], 2, "{mine}");
        let items = &mine["items"];
        // Newest first: the live sign-in's, then the one outliving the laptop's.
        assert_eq!(column(items, "session_id"), [sid.clone(), old_sid.clone()]);
        assert_eq!(column(items, "app_id"), [shop_id.clone(), shop_id.clone()]);
        assert_eq!(
            column(items, "client_id"),
            [shop.client_id.clone(), shop.client_id.clone()]
        );
        assert_eq!(column(items, "app_name"), ["shop", "shop"]);
        assert_eq!(column(items, "user_email"), [EMAIL, EMAIL]);
        assert!(
            items
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["outlives_idp_session"] == true)
        );
        // The org's session list filtered by app shows only the live IdP session.
        let by_idp = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/sessions?app_id={shop_id}"),
            Some(&token),
        )
        .await);
        assert_eq!(column(&by_idp["items"], "id"), [sid.as_str()]);
        // The blog has one; paging reads the same rows.
        let blog_sessions = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/apps/{blog_id}/sessions"),
            Some(&token),
        )
        .await);
        assert_eq!(
            column(&blog_sessions["items"], "session_id"),
            [sid.as_str()]
        );
        let second = ok(call(
            &app,
            "get",
            &format!("{path}?per_page=1&page=2"),
            Some(&token),
        )
        .await);
        assert_eq!(
            (second["total"].as_u64(), second["per_page"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(column(&second["items"], "session_id"), [old_sid.as_str()]);

        // Revoking the live IdP session ends its app sessions: the laptop's outliving one
        // stays (revoking one IdP session ends only its own).
        let revoke = format!("/orgs/acme/sessions/{sid}/revoke");
        ok(call(&app, "post", &revoke, Some(&token)).await);
        let after = ok(call(&app, "get", &path, Some(&token)).await);
        assert_eq!(column(&after["items"], "session_id"), [old_sid.as_str()]);

        // Globex's admin: refused at acme's path, and acme's app is not theirs.
        let theirs = call(&app, "get", &path, Some(&globex_token)).await;
        assert_eq!(theirs.status, 403, "{theirs:?}");
        let by_id = call(
            &app,
            "get",
            &format!("/orgs/globex/apps/{shop_id}/sessions"),
            Some(&globex_token),
        )
        .await;
        assert_eq!(by_id.status, 404, "{by_id:?}");
        let nonsense = call(&app, "get", "/orgs/acme/apps/nope/sessions", Some(&token)).await;
        assert_eq!(nonsense.status, 404, "{nonsense:?}");
    }
);

/// (delivered, failed, pending) per client id, as the endpoint answers.
fn stats(answer: &Value) -> BTreeMap<String, (u64, u64, u64)> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |f: &str| r[f].as_u64().unwrap();
            (
                r["client_id"].as_str().unwrap().to_owned(),
                (n("delivered"), n("failed"), n("pending")),
            )
        })
        .collect()
}

both_backends!(delivery_stats_count_each_apps_outcomes, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let globex = org_with(&app, "globex", Role::Admin).await;
    let token = service_token(&app, &acme).await;
    // Three receivers: one takes the token, one refuses it (400: failed at once), one is down
    // (500: tried again later, pending meanwhile).
    let (good, refusing, down) = (
        Receiver::start(200, Duration::ZERO).await,
        Receiver::start(400, Duration::ZERO).await,
        Receiver::start(500, Duration::ZERO).await,
    );
    let with = |rx: &Receiver| {
        let uri = rx.uri.clone();
        move |r: &mut portcullis::apps::CreateApp| r.backchannel_logout_uri = Some(uri)
    };
    let shop = register(&app, &acme, "shop", with(&good)).await;
    let blog = register(&app, &acme, "blog", with(&refusing)).await;
    let news = register(&app, &acme, "news", with(&down)).await;
    let quiet = register(&app, &acme, "quiet", |_| {}).await;

    let empty = ok(call(&app, "get", "/orgs/acme/delivery-stats", Some(&token)).await);
    assert_eq!(empty, Value::Array(vec![]), "no deliveries yet");

    // Two sign-ins to every app, each signed out: two deliveries to each listening app.
    for _ in 0..2 {
        let mut b = Browser::new(&app.address, UA);
        for rp in [&shop, &blog, &news, &quiet] {
            rp.sign_in(&mut b, &[]).await;
        }
        sign_out_form(&mut b, "acme").await;
    }
    assert_eq!(run_once(&app).await, 6);
    let got = stats(&ok(call(
        &app,
        "get",
        "/orgs/acme/delivery-stats?hours=168",
        Some(&token),
    )
    .await));
    let want = BTreeMap::from([
        (shop.client_id.clone(), (2, 0, 0)),
        (blog.client_id.clone(), (0, 2, 0)),
        (news.client_id.clone(), (0, 0, 2)),
    ]);
    assert_eq!(got, want);
    // The same as counting the rows one by one.
    let rows = app.state.store.logout_deliveries(acme.id).await.unwrap();
    let mut counted: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for d in &rows {
        let client_id = app
            .state
            .store
            .app_by_id(acme.id, d.app_id)
            .await
            .unwrap()
            .unwrap()
            .client_id;
        let e = counted.entry(client_id).or_default();
        match d.status.as_str() {
            "delivered" => e.0 += 1,
            "failed" => e.1 += 1,
            _ => e.2 += 1,
        }
    }
    assert_eq!(got, counted);
    // Each row names its app; sorted by name.
    let answer = ok(call(&app, "get", "/orgs/acme/delivery-stats", Some(&token)).await);
    assert_eq!(column(&answer, "app_name"), ["blog", "news", "shop"]);

    // Two hours on: a one-hour window holds none of them, the default week all.
    app.clock.advance(chrono::Duration::hours(2));
    // (The access tokens expired meanwhile: new ones.)
    let token = service_token(&app, &acme).await;
    let globex_token = service_token(&app, &globex).await;
    let recent = ok(call(
        &app,
        "get",
        "/orgs/acme/delivery-stats?hours=1",
        Some(&token),
    )
    .await);
    assert_eq!(recent, Value::Array(vec![]));
    let week = ok(call(&app, "get", "/orgs/acme/delivery-stats", Some(&token)).await);
    assert_eq!(stats(&week).len(), 3);
    for bad in ["0", "721", "x"] {
        let res = call(
            &app,
            "get",
            &format!("/orgs/acme/delivery-stats?hours={bad}"),
            Some(&token),
        )
        .await;
        assert!(matches!(res.status, 400 | 422), "hours={bad}: {res:?}");
    }

    // Globex's admin: nothing of acme's, at their org or at acme's path.
    let theirs = ok(call(
        &app,
        "get",
        "/orgs/globex/delivery-stats",
        Some(&globex_token),
    )
    .await);
    assert_eq!(theirs, Value::Array(vec![]));
    let refused = call(
        &app,
        "get",
        "/orgs/acme/delivery-stats",
        Some(&globex_token),
    )
    .await;
    assert_eq!(refused.status, 403, "{refused:?}");
});
