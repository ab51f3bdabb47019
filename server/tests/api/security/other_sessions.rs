//! Item 6 of the review: "Sign out other sessions" and a password change with "sign out my other
//! sessions" end every app session of the user except the current browser's, outliving ones (a
//! standard app's) included, and notify the apps.

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, org_with_alice};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A thief's refresh token for the standard catalog app whose IdP session already ended (so the
/// app session outlives it), plus the victim's own browser with a catalog session of its own.
async fn thief_and_victim(app: &TestApp) -> (Rp, String, Browser, String) {
    let org = org_with_alice(app, "acme").await;
    let mut req = CreateApp::new("Catalog", AppType::Web);
    req.redirect_uris = vec!["http://127.0.0.1:9/catalog/callback".into()];
    req.backchannel_logout_uri = Some("http://127.0.0.1:9/catalog/backchannel".into());
    let catalog = Rp::register(app, &org, req).await;

    let mut thief = Browser::new(&app.address, UA);
    let stolen = catalog.sign_in(&mut thief, &[]).await;
    // The thief's IdP session ends (a plain sign-out); the catalog's session outlives it.
    let csrf = thief.get("/o/acme/account").await.csrf();
    assert_eq!(
        thief
            .post("/o/acme/logout", &[("csrf", &csrf)])
            .await
            .status,
        200
    );
    let refreshed = catalog.refresh(&stolen.refresh).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let stolen = refreshed.str("refresh_token");

    let mut victim = Browser::new(&app.address, UA);
    let own = catalog.sign_in(&mut victim, &[]).await;
    (catalog, stolen, victim, own.refresh)
}

both_backends!(
    sign_out_other_sessions_ends_outliving_app_sessions,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let (catalog, stolen, mut victim, own) = thief_and_victim(&app).await;
        let csrf = victim.get("/o/acme/account").await.csrf();
        let done = victim
            .post("/o/acme/account/sessions/end-others", &[("csrf", &csrf)])
            .await;
        assert!(done.status < 400, "{}", done.body);
        catalog
            .refresh(&stolen)
            .await
            .assert_error(400, "invalid_grant");
        // The victim's own browser and its app sessions stay.
        assert_eq!(victim.get("/o/acme/account").await.status, 200);
        assert_eq!(catalog.refresh(&own).await.status, 200);
    }
);

both_backends!(
    password_change_signing_out_others_ends_outliving_app_sessions,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let (catalog, stolen, mut victim, own) = thief_and_victim(&app).await;
        let org = app.state.orgs.find("acme").await.unwrap();
        let before = app
            .state
            .store
            .logout_deliveries(org.id)
            .await
            .unwrap()
            .len();
        let csrf = victim.get("/o/acme/account").await.csrf();
        let ok = victim
            .post(
                "/o/acme/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new long password"),
                    ("end_other_sessions", "on"),
                ],
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        catalog
            .refresh(&stolen)
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(victim.get("/o/acme/account").await.status, 200);
        assert_eq!(catalog.refresh(&own).await.status, 200);
        // The catalog is told about the thief's session.
        let rows = app.state.store.logout_deliveries(org.id).await.unwrap();
        assert!(rows.len() > before, "no logout delivery was queued");
        assert!(
            rows.iter().any(|d| d.reason == "password_changed"),
            "{rows:?}"
        );
        // The new password is in place (the change and the sign-out committed together).
        let mut again = Browser::new(&app.address, UA);
        assert_eq!(
            again
                .sign_in("acme", EMAIL, "a brand new long password", false)
                .await
                .status,
            303
        );
    }
);

/// Makes every UPDATE that ends a session fail (a stand-in for a database error in the middle
/// of a change), or lifts that again.
async fn sessions_cannot_end(app: &TestApp, on: bool) {
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(app.db_url.as_str()).await.unwrap();
    let postgres = app.db_url.starts_with("postgres");
    let sql: &[&str] = match (postgres, on) {
        (false, true) => &[
            "CREATE TRIGGER no_end BEFORE UPDATE OF ended_at ON sessions \
              BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        (false, false) => &["DROP TRIGGER no_end"],
        (true, true) => &[
            "CREATE FUNCTION no_end() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER no_end BEFORE UPDATE OF ended_at ON sessions \
             FOR EACH ROW EXECUTE FUNCTION no_end()",
        ],
        (true, false) => &["DROP TRIGGER no_end ON sessions", "DROP FUNCTION no_end()"],
    };
    for statement in sql {
        db.execute_unprepared(statement).await.unwrap();
    }
    db.close().await.unwrap();
}

both_backends!(
    a_password_change_and_the_sign_out_of_other_sessions_commit_together,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        crate::signin::acme(&app).await;
        let mut laptop = Browser::new(&app.address, UA);
        let mut phone = Browser::new(&app.address, UA);
        for b in [&mut laptop, &mut phone] {
            assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        }
        let csrf = laptop.get("/o/acme/account").await.csrf();
        sessions_cannot_end(&app, true).await;
        let res = laptop
            .post(
                "/o/acme/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new long password"),
                    ("end_other_sessions", "on"),
                ],
            )
            .await;
        sessions_cannot_end(&app, false).await;
        // A statement the database refuses is not an outage: our failure, 500 (issue 15).
        assert_eq!(res.status, 500, "{}", res.body);
        // Neither happened: the old password still signs in, the new one does not, and the
        // other session lives.
        let mut check = Browser::new(&app.address, UA);
        assert_eq!(
            check
                .sign_in("acme", EMAIL, "a brand new long password", false)
                .await
                .status,
            401,
            "the new password was saved without the sign-out"
        );
        assert_eq!(
            check.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        assert_eq!(phone.get("/o/acme/account").await.status, 200);
    }
);
