//! The admin API's list filters: users by status and verified email, logout deliveries by app,
//! audit events by actor. Each filter is checked against the unfiltered list (it must pick
//! exactly the rows that match, and never rows of another org).

use crate::admin_api::{call, org_with, service_token};
use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::slo::{Receiver, register};
use portcullis::accounts::Role;
use serde_json::Value;
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn items(answer: &crate::helpers::Answer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json["items"].as_array().unwrap().clone()
}

fn field(rows: &[Value], name: &str) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().map(|r| r[name].to_string()).collect();
    out.sort();
    out
}

both_backends!(
    admin_lists_filter_users_deliveries_and_audit_events,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with(&app, "acme", Role::Admin).await;
        let token = service_token(&app, &org).await;
        let get = |path: String| {
            let (app, token) = (&app, token.clone());
            async move { call(app, "get", &path, Some(&token)).await }
        };

        // Users: a second one, invited (no verified email yet), then disabled.
        let res = app
            .client
            .post(format!("{}/api/v1/orgs/acme/users", app.address))
            .bearer_auth(&token)
            .json(&serde_json::json!({"email": "bob@example.com", "invite": true}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        let all = items(&get("/orgs/acme/users".into()).await);
        assert_eq!(all.len(), 2);
        let bob = all
            .iter()
            .find(|u| u["email"] == "bob@example.com")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let answer = call(
            &app,
            "post",
            &format!("/orgs/acme/users/{bob}/disable"),
            Some(&token),
        )
        .await;
        assert!(answer.status < 300, "{answer:?}");
        let disabled = items(&get("/orgs/acme/users?status=disabled".into()).await);
        assert_eq!(field(&disabled, "email"), vec!["\"bob@example.com\""]);
        let active = items(&get("/orgs/acme/users?status=active".into()).await);
        assert!(active.iter().all(|u| u["email"] != "bob@example.com") && active.len() == 1);
        assert_eq!(get("/orgs/acme/users?status=gone".into()).await.status, 422);
        let all = items(&get("/orgs/acme/users".into()).await);
        for verified in [true, false] {
            let want: Vec<Value> = all
                .iter()
                .filter(|u| u["email_verified"] == verified)
                .cloned()
                .collect();
            let got = items(&get(format!("/orgs/acme/users?verified={verified}")).await);
            assert_eq!(field(&got, "id"), field(&want, "id"), "verified={verified}");
        }
        assert!(
            all.iter().any(|u| u["email_verified"] == false),
            "the invited user has no verified email"
        );

        // Deliveries: alice signs in to two apps with back-channel receivers, then the admin
        // revokes her session: one delivery per app; the filter picks one app's.
        let rx = Receiver::start(200, Duration::ZERO).await;
        let shop = register(&app, &org, "shop", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone())
        })
        .await;
        let blog = register(&app, &org, "blog", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone())
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        shop.sign_in(&mut b, &[]).await;
        blog.sign_in(&mut b, &[]).await;
        let sessions = items(&get("/orgs/acme/sessions".into()).await);
        let sid = sessions[0]["id"].as_str().unwrap().to_owned();
        let answer = call(
            &app,
            "post",
            &format!("/orgs/acme/sessions/{sid}/revoke"),
            Some(&token),
        )
        .await;
        assert!(answer.status < 300, "{answer:?}");
        let shop_id = app
            .state
            .store
            .app_by_client_id(org.id, &shop.client_id)
            .await
            .unwrap()
            .unwrap()
            .id;
        let all = items(&get("/orgs/acme/logout-deliveries".into()).await);
        assert_eq!(all.len(), 2, "{all:?}");
        let mine = items(&get(format!("/orgs/acme/logout-deliveries?app_id={shop_id}")).await);
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0]["client_id"], shop.client_id, "{mine:?}");
        assert_eq!(
            get("/orgs/acme/logout-deliveries?app_id=nope".into())
                .await
                .status,
            422
        );

        // Audit events by who did them.
        let by_app = items(
            &get(format!(
                "/orgs/acme/audit-events?actor=app:{}",
                "no-such-client"
            ))
            .await,
        );
        assert!(by_app.is_empty());
        let all = items(&get("/orgs/acme/audit-events?per_page=200".into()).await);
        let actor = all
            .iter()
            .find_map(|e| e["actor"].as_str().filter(|a| a.starts_with("app:")))
            .expect("an event by the admin app")
            .to_owned();
        let mine = items(
            &get(format!(
                "/orgs/acme/audit-events?actor={actor}&per_page=200"
            ))
            .await,
        );
        let want: Vec<Value> = all
            .iter()
            .filter(|e| e["actor"] == actor.as_str())
            .cloned()
            .collect();
        assert!(!mine.is_empty());
        assert_eq!(field(&mine, "id"), field(&want, "id"));
    }
);
