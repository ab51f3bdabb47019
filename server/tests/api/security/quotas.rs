//! Item 7 of the review, mail quota: admin invitations (admin API create-with-invite and
//! resend, CLI `user invite`) count in a per-org hourly quota, like the other mail; past it the
//! admin API answers 429 with Retry-After and no more mail is queued.

use crate::email::{admin_token, smtp_sink};
use crate::helpers::TestApp;
use crate::signin::acme;

/// Invitations per org and hour in this test (the default is 100).
const QUOTA: i64 = 3;

both_backends!(
    security_admin_invitations_count_in_an_hourly_quota_per_org,
    |backend| {
        let (smtp, inbox) = smtp_sink().await;
        let app = TestApp::spawn_oidc_with(&backend, move |f| {
            f.merge(("email.smtp_url", format!("smtp://127.0.0.1:{smtp}")))
                .merge(("email.invitations_per_org_per_hour", QUOTA))
        })
        .await;
        let org = acme(&app).await;
        let globex = app.state.orgs.create("globex", None, "test").await.unwrap();
        let bearer = admin_token(&app, &org).await;
        let create = |email: String| {
            let req = app
                .client
                .post(format!("{}/api/v1/orgs/acme/users", app.address))
                .bearer_auth(&bearer)
                .json(&serde_json::json!({ "email": email, "invite": true }));
            async move { req.send().await.unwrap() }
        };
        // The quota's invitations go out…
        let mut first = String::new();
        for i in 0..QUOTA {
            let res = create(format!("invitee{i}@acme.test")).await;
            assert_eq!(res.status(), 201);
            let body: serde_json::Value = res.json().await.unwrap();
            if i == 0 {
                first = body["id"].as_str().unwrap().to_owned();
            }
        }
        let queued = |app: &TestApp, org| {
            let store = app.state.store.clone();
            async move { store.emails(org).await.unwrap().len() as i64 }
        };
        assert_eq!(queued(&app, org.id).await, QUOTA);
        // …the next one is refused before anything is created or queued…
        let refused = create("one.more@acme.test".into()).await;
        assert_eq!(refused.status(), 429);
        let secs: i64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs >= 1);
        assert!(
            app.state
                .store
                .user_by_email(
                    org.id,
                    &portcullis::accounts::EmailAddress::parse("one.more@acme.test").unwrap()
                )
                .await
                .unwrap()
                .is_none(),
            "a refused invitation creates no user"
        );
        // …and so is a resend.
        let resend = app
            .client
            .post(format!(
                "{}/api/v1/orgs/acme/users/{first}/invite",
                app.address
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(resend.status(), 429);
        assert!(resend.headers().contains_key("retry-after"));
        // Creating users without an invitation sends nothing and is not limited.
        let plain = app
            .client
            .post(format!("{}/api/v1/orgs/acme/users", app.address))
            .bearer_auth(&bearer)
            .json(&serde_json::json!({ "email": "plain@acme.test" }))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 201);
        // The CLI counts in the same quota where nodes share a cache (with Redis); an
        // in-process cache is not visible to another process.
        if app.redis.is_some() {
            let out = app
                .cli()
                .env(
                    "PORTCULLIS__EMAIL__INVITATIONS_PER_ORG_PER_HOUR",
                    &QUOTA.to_string(),
                )
                .run(&[
                    "user",
                    "invite",
                    "--org",
                    "acme",
                    "--email",
                    "cli@acme.test",
                ])
                .await;
            assert!(!out.success, "{}", out.stdout);
            assert!(out.stderr.contains("quota"), "{}", out.stderr);
        }
        assert_eq!(queued(&app, org.id).await, QUOTA, "no more mail queued");
        app.state.email.run_once().await.unwrap();
        assert_eq!(inbox.lock().unwrap().len() as i64, QUOTA);
        // Another org has its own quota.
        app.state
            .accounts
            .create_user(
                &globex,
                portcullis::accounts::CreateUser {
                    email: "someone@globex.test",
                    password: None,
                    name: None,
                    role: portcullis::accounts::Role::Member,
                },
                "test",
            )
            .await
            .unwrap();
        let someone = app
            .state
            .store
            .user_by_email(
                globex.id,
                &portcullis::accounts::EmailAddress::parse("someone@globex.test").unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        app.state
            .accounts
            .invite(&globex, &someone, "test")
            .await
            .unwrap();
        assert_eq!(queued(&app, globex.id).await, 1);
        // The next hour the org may invite again (the in-process cache keeps time by the
        // node's clock; Redis by its own).
        if app.redis.is_none() {
            app.clock.advance(chrono::Duration::minutes(61));
            let bearer = admin_token(&app, &org).await;
            let res = app
                .client
                .post(format!("{}/api/v1/orgs/acme/users", app.address))
                .bearer_auth(&bearer)
                .json(&serde_json::json!({ "email": "next.hour@acme.test", "invite": true }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            assert_eq!(queued(&app, org.id).await, QUOTA + 1);
        }
    }
);
