//! Where a user is signed in, per app, through the admin API: the session views carry each IdP
//! session's live app sessions (with the app's name), a user's view also lists an ended IdP
//! session whose app session outlives it, and an admin ends one app session (local logout of
//! one app): only it ends, only its app is told, the IdP session and the other apps go on.
//! Another org's admin sees none of it and ends nothing.

use crate::admin_api::{call, org_with, service_token};
use crate::browser::Browser;
use crate::helpers::Answer;
use crate::helpers::TestApp;
use crate::slo::{Receiver, register, run_once, session_ended, sid_of, sign_out_form};
use portcullis::accounts::Role;
use serde_json::{Value, json};
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The app sessions of a session view, as (app name, client id, outlives the IdP session).
fn apps_of(session: &Value) -> Vec<(String, String, bool)> {
    let mut apps: Vec<(String, String, bool)> = session["app_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["app_name"].as_str().unwrap().to_owned(),
                a["client_id"].as_str().unwrap().to_owned(),
                a["outlives_idp_session"].as_bool().unwrap(),
            )
        })
        .collect();
    apps.sort();
    apps
}

/// The app session of `client_id` in a session view.
#[track_caller]
fn app_session_view(session: &Value, client_id: &str) -> Value {
    let found: Vec<&Value> = session["app_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["client_id"] == client_id)
        .collect();
    assert_eq!(found.len(), 1, "{session}");
    found[0].clone()
}

#[track_caller]
fn app_session_of(session: &Value, client_id: &str) -> String {
    app_session_view(session, client_id)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The client id of the org's admin service app (`service_token`'s).
async fn automation_client_id(app: &TestApp, org: &portcullis::tenancy::Org) -> String {
    app.state
        .store
        .apps(org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "Automation")
        .unwrap()
        .client_id
}

fn sid_in(logout_token: &str) -> String {
    crate::helpers::jwt_claims(logout_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn ok(res: Answer) -> Value {
    assert_eq!(res.status, 200, "{res:?}");
    res.json
}

both_backends!(
    admins_see_and_end_one_app_session_and_only_its_app_is_told,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let globex = org_with(&app, "globex", Role::Admin).await;
        let token = service_token(&app, &acme).await;
        let globex_token = service_token(&app, &globex).await;
        let shop_rx = Receiver::start(200, Duration::ZERO).await;
        let blog_rx = Receiver::start(200, Duration::ZERO).await;
        // Standard apps: their app sessions outlive the IdP session.
        let shop = register(&app, &acme, "shop", |r| {
            r.backchannel_logout_uri = Some(shop_rx.uri.clone());
        })
        .await;
        let blog = register(&app, &acme, "blog", |r| {
            r.backchannel_logout_uri = Some(blog_rx.uri.clone());
        })
        .await;
        let alice = app
            .state
            .store
            .users(acme.id, None)
            .await
            .unwrap()
            .remove(0)
            .id
            .to_string();

        // The shop on a laptop, signed out there: its app session outlives the IdP session.
        let mut laptop = Browser::new(&app.address, UA);
        let old = shop.sign_in(&mut laptop, &[]).await;
        let old_sid = sid_of(&old);
        sign_out_form(&mut laptop, "acme").await;
        assert!(session_ended(&app, &acme, &old_sid).await.is_some());
        run_once(&app).await;
        let (shop_told, blog_told) = (shop_rx.count(), blog_rx.count());
        app.clock.advance(chrono::Duration::seconds(60));
        // Then both apps in another browser.
        let mut b = Browser::new(&app.address, UA);
        let t = shop.sign_in(&mut b, &[]).await;
        let tb = blog.sign_in(&mut b, &[]).await;
        let sid = sid_of(&t);
        assert_eq!(sid_of(&tb), sid);

        // The user's view: the live session with both apps, then the ended one with the shop
        // session that outlives it.
        let mine = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/users/{alice}/sessions"),
            Some(&token),
        )
        .await);
        assert_eq!(mine["total"], 2, "{mine}");
        let (live, ended) = (&mine["items"][0], &mine["items"][1]);
        assert_eq!(live["id"], sid.as_str());
        assert_eq!(live["ended_at"], Value::Null);
        assert_eq!(
            apps_of(live),
            [
                ("blog".into(), blog.client_id.clone(), true),
                ("shop".into(), shop.client_id.clone(), true)
            ]
        );
        assert_eq!(live["app_sessions"][0]["session_id"], sid.as_str());
        assert!(live["app_sessions"][0]["absolute_expiry"].is_string());
        assert_eq!(ended["id"], old_sid.as_str());
        assert!(ended["ended_at"].is_string(), "{ended}");
        assert_eq!(ended["end_reason"], "logout");
        assert_eq!(
            apps_of(ended),
            [("shop".into(), shop.client_id.clone(), true)]
        );
        let outliving = app_session_of(ended, &shop.client_id);
        let shop_session = app_session_of(live, &shop.client_id);
        let blog_session = app_session_of(live, &blog.client_id);
        // Paged: one per page, the same rows.
        let first = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/users/{alice}/sessions?per_page=1&page=2"),
            Some(&token),
        )
        .await);
        assert_eq!(first["total"], 2);
        assert_eq!(first["items"].as_array().unwrap().len(), 1);
        assert_eq!(first["items"][0]["id"], old_sid.as_str());

        // The org's list shows live IdP sessions only, with their apps; the detail shows an
        // ended one with its outliving app session.
        let list = ok(call(&app, "get", "/orgs/acme/sessions", Some(&token)).await);
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["items"][0]["id"], sid.as_str());
        assert_eq!(apps_of(&list["items"][0]), apps_of(live));
        let detail = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/sessions/{old_sid}"),
            Some(&token),
        )
        .await);
        assert_eq!(detail["end_reason"], "logout");
        assert_eq!(app_session_of(&detail, &shop.client_id), outliving);

        // Globex's admin sees none of it and ends nothing, by path or through their own org.
        let theirs = [
            ("get", format!("/orgs/acme/users/{alice}/sessions")),
            ("get", format!("/orgs/acme/sessions/{sid}")),
            (
                "post",
                format!("/orgs/acme/app-sessions/{shop_session}/revoke"),
            ),
        ];
        for (method, path) in &theirs {
            let res = call(&app, method, path, Some(&globex_token)).await;
            assert_eq!(res.status, 403, "{method} {path}: {res:?}");
        }
        let by_id = [
            ("get", format!("/orgs/globex/users/{alice}/sessions")),
            ("get", format!("/orgs/globex/sessions/{sid}")),
            ("get", format!("/orgs/globex/sessions/{old_sid}")),
            (
                "post",
                format!("/orgs/globex/app-sessions/{shop_session}/revoke"),
            ),
            (
                "post",
                format!("/orgs/globex/app-sessions/{outliving}/revoke?dry_run=true"),
            ),
        ];
        for (method, path) in &by_id {
            let res = call(&app, method, path, Some(&globex_token)).await;
            assert_eq!(res.status, 404, "{method} {path}: {res:?}");
        }
        let globex_list = ok(call(&app, "get", "/orgs/globex/sessions", Some(&globex_token)).await);
        assert_eq!(globex_list["total"], 0, "{globex_list}");
        assert!(shop.active(&t.access).await, "still signed in to the shop");
        assert!(shop.active(&old.access).await, "and on the laptop");

        // The preview names that app session and the shop, and changes nothing.
        let revoke = format!("/orgs/acme/app-sessions/{shop_session}/revoke");
        let preview = ok(call(
            &app,
            "post",
            &format!("{revoke}?dry_run=true"),
            Some(&token),
        )
        .await);
        let expected = json!({
            "dry_run": true,
            "sessions": [],
            "app_sessions": [shop_session],
            "apps_notified": [shop.client_id],
        });
        assert_eq!(preview, expected);
        assert!(shop.active(&t.access).await);
        assert_eq!(run_once(&app).await, 0, "nothing queued");

        // The admin ends the shop's app session in the live IdP session.
        let done = ok(call(&app, "post", &revoke, Some(&token)).await);
        assert_eq!(done["dry_run"], false);
        assert_eq!(done["app_sessions"], preview["app_sessions"]);
        assert_eq!(done["apps_notified"], preview["apps_notified"]);
        assert_eq!(run_once(&app).await, 1, "one delivery: the shop's");
        let tokens = shop_rx.tokens();
        assert_eq!(tokens.len(), shop_told + 1);
        assert_eq!(sid_in(tokens.last().unwrap()), sid);
        assert_eq!(blog_rx.count(), blog_told, "the blog is not told");
        let deliveries = app.state.store.logout_deliveries(acme.id).await.unwrap();
        let newest = deliveries.iter().max_by_key(|d| d.created_at).unwrap();
        assert_eq!(newest.reason, "admin_revoked");
        assert_eq!(
            newest.app_id.to_string(),
            app_session_view(live, &shop.client_id)["app_id"]
        );
        assert_eq!(newest.session_id.to_string(), sid);
        // That app session is over; the IdP session, the blog and the laptop's shop go on.
        assert!(!shop.active(&t.access).await);
        shop.refresh(&t.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(session_ended(&app, &acme, &sid).await, None);
        assert!(blog.active(&tb.access).await);
        let refreshed = blog.refresh(&tb.refresh).await;
        assert_eq!(refreshed.status, 200, "{:?}", refreshed.json);
        assert!(shop.active(&old.access).await);
        // The audit trail names the admin and the reason.
        let audit = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/audit-events?action=app_session.ended&target={shop_session}"),
            Some(&token),
        )
        .await);
        assert_eq!(audit["total"], 1, "{audit}");
        let admin = automation_client_id(&app, &acme).await;
        assert_eq!(audit["items"][0]["actor"], format!("app:{admin}"));
        assert!(
            audit["items"][0]["details"]
                .as_str()
                .unwrap()
                .contains("admin_revoked"),
            "{audit}"
        );
        // Ended once: a second revoke finds nothing.
        let again = call(&app, "post", &revoke, Some(&token)).await;
        assert_eq!(again.status, 404, "{again:?}");
        assert_eq!(run_once(&app).await, 0);

        let mine = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/users/{alice}/sessions"),
            Some(&token),
        )
        .await);
        assert_eq!(
            apps_of(&mine["items"][0]),
            [("blog".into(), blog.client_id.clone(), true)]
        );
        assert_eq!(
            app_session_of(&mine["items"][0], &blog.client_id),
            blog_session
        );

        // Ending the outliving one too: the ended IdP session leaves the user's view.
        ok(call(
            &app,
            "post",
            &format!("/orgs/acme/app-sessions/{outliving}/revoke"),
            Some(&token),
        )
        .await);
        assert!(!shop.active(&old.access).await);
        assert_eq!(run_once(&app).await, 1);
        assert_eq!(
            sid_in(shop_rx.tokens().last().unwrap()),
            old_sid,
            "told about the laptop's session"
        );
        assert_eq!(blog_rx.count(), blog_told, "the blog is still not told");
        let mine = ok(call(
            &app,
            "get",
            &format!("/orgs/acme/users/{alice}/sessions"),
            Some(&token),
        )
        .await);
        assert_eq!(mine["total"], 1, "{mine}");
        assert_eq!(mine["items"][0]["id"], sid.as_str());
        assert_eq!(
            apps_of(&mine["items"][0]),
            [("blog".into(), blog.client_id.clone(), true)]
        );
    }
);
