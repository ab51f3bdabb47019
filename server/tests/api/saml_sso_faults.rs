//! Review findings in SAML SSO (issue 20), each a test that failed before its fix:
//! - M8: an answer that cannot be made (the signing key cannot be loaded) leaves the pending
//!   request for the retry, instead of using it up ("already answered");
//! - L10: a Redirect AuthnRequest signed over the query needs a `Destination`;
//! - L11: no app session starts in an IdP session that ended meanwhile, and the assertion's
//!   `SessionNotOnOrAfter` never promises more than the IdP session gives;
//! - L12: an unusable SAML key on a signing-key row answers 503 for SAML and leaves OIDC (the
//!   JWKS, a sign-in) working.

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, idp_session, local_path};
use crate::saml_sso::{
    ACS, SP, UA, World, authn_request, child, follow, posted, redirect_path, refused, sso_url,
    world, world_with,
};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::saml::xml;
use portcullis::saml::{NS_ASSERTION, messages::format_instant};
use portcullis::sessions::EndReason;
use portcullis::tenancy::Org;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Database};

/// Replaces the org's stored SAML private keys with `broken` (or with what `restore` holds);
/// returns what was there, by kid.
async fn set_saml_keys(
    app: &TestApp,
    org: &Org,
    broken: &str,
    restore: Option<&[(String, String)]>,
) -> Vec<(String, String)> {
    let db = Database::connect(app.db_url.as_str()).await.unwrap();
    let select = Query::select()
        .columns([Alias::new("kid"), Alias::new("saml_private_key")])
        .from(Alias::new("signing_keys"))
        .and_where(Expr::col(Alias::new("org_id")).eq(org.id.0))
        .and_where(Expr::col(Alias::new("saml_private_key")).is_not_null())
        .to_owned();
    let before: Vec<(String, String)> = db
        .query_all(&select)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "kid").unwrap(),
                r.try_get::<String>("", "saml_private_key").unwrap(),
            )
        })
        .collect();
    assert!(!before.is_empty(), "the org has a SAML key");
    for (kid, old) in &before {
        let value = match restore {
            Some(saved) => saved.iter().find(|(k, _)| k == kid).unwrap().1.clone(),
            None => {
                assert_ne!(old, broken);
                broken.to_owned()
            }
        };
        let update = Query::update()
            .table(Alias::new("signing_keys"))
            .value(Alias::new("saml_private_key"), value)
            .and_where(Expr::col(Alias::new("org_id")).eq(org.id.0))
            .and_where(Expr::col(Alias::new("kid")).eq(kid.as_str()))
            .to_owned();
        db.execute(&update).await.unwrap();
    }
    db.close().await.unwrap();
    before
}

/// Past the time a node keeps an org's decrypted keys (30 s with Redis, 1 s in-process).
fn keys_forgotten(w: &World) {
    w.app.clock.advance(chrono::Duration::seconds(31));
}

both_backends!(
    an_unusable_saml_key_answers_503_for_saml_and_oidc_goes_on,
    |backend| {
        let w = world(&backend, false).await;
        crate::saml::metadata(&w.app, "acme").await;
        set_saml_keys(&w.app, &w.acme, "not-sealed", None).await;
        keys_forgotten(&w);
        let md = w.app.get("/o/acme/saml/metadata").await;
        assert_eq!(md.status(), 503);
        assert!(md.headers().contains_key("retry-after"));
        // OIDC: the JWKS and a whole sign-in with an ID token.
        let jwks = w.app.get("/o/acme/jwks").await;
        assert_eq!(jwks.status(), 200);
        let rp = Rp::web(&w.app, &w.acme, "shop").await;
        let mut b = Browser::new(&w.app.address, UA);
        let tokens = rp.sign_in(&mut b, &[("scope", "openid")]).await;
        assert!(tokens.id.is_some());
        // SAML SSO: 503 at the answer, never a verdict on the request.
        let xml = authn_request(&w, "_req-badkey", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let res = b.get(&local_path(first.location())).await;
        assert_eq!(res.status, 503, "{}", res.body);
    }
);

both_backends!(
    a_failed_answer_leaves_the_request_pending_for_the_retry,
    |backend| {
        let w = world(&backend, false).await;
        crate::saml::metadata(&w.app, "acme").await;
        let mut b = Browser::new(&w.app.address, UA);
        b.sign_in("acme", EMAIL, PASSWORD, false).await;
        let saved = set_saml_keys(&w.app, &w.acme, "not-sealed", None).await;
        keys_forgotten(&w);
        let xml = authn_request(&w, "_req-retry", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let pending = local_path(first.location());
        assert_eq!(b.get(&pending).await.status, 503);
        // Fixed: the browser's retry is answered, to the same request.
        set_saml_keys(&w.app, &w.acme, "", Some(&saved)).await;
        keys_forgotten(&w);
        let page = b.get(&pending).await;
        let (action, response, _) = posted(&page);
        assert_eq!(action, ACS);
        assert!(response.contains("InResponseTo=\"_req-retry\""));
        // Used up by that answer.
        assert_eq!(b.get(&pending).await.status, 400);
    }
);

both_backends!(
    a_redirect_request_signed_over_the_query_needs_a_destination,
    |backend| {
        let w = world(&backend, false).await;
        let no_destination = |id: &str| {
            authn_request(&w, id, &sso_url(&w), SP, ACS)
                .replace(&format!(" Destination=\"{}\"", sso_url(&w)), "")
        };
        let signed = redirect_path(&w, &no_destination("_req-nodest-1"), None, true);
        refused(&w, &signed, "needs a Destination").await;
        // Unsigned (the app does not require signatures): Destination stays optional.
        let unsigned = redirect_path(&w, &no_destination("_req-nodest-2"), None, false);
        let mut b = Browser::new(&w.app.address, UA);
        assert_eq!(b.get(&unsigned).await.status, 303);
    }
);

both_backends!(
    no_app_session_starts_in_an_ended_idp_session_and_none_outlasts_it,
    |backend| {
        // The app's sessions may last 30 days; the IdP session's lifetime is the org's.
        let w = world_with(&backend, false, |r| {
            let mut rules = r.session_profile.preset();
            rules.lifetime_secs = 30 * 24 * 3600;
            r.rules = Some(rules);
        })
        .await;
        let mut b = Browser::new(&w.app.address, UA);
        let xml = authn_request(&w, "_req-expiry", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let response = posted(&follow(&mut b, first).await).1;
        let idp = idp_session(&w.app, &w.acme, &b).await;
        let root = xml::parse(&response).unwrap();
        let assertion = child(&root, NS_ASSERTION, "Assertion");
        let statement = child(assertion, NS_ASSERTION, "AuthnStatement");
        assert_eq!(
            statement.attr("SessionNotOnOrAfter"),
            Some(format_instant(idp.absolute_expiry).as_str()),
            "the IdP session's end, not the app session's 30 days"
        );

        // The IdP session ends after the gates passed, before the app session is stored.
        let app = w
            .app
            .state
            .apps
            .saml_app(w.acme.id, SP)
            .await
            .unwrap()
            .unwrap();
        w.app
            .state
            .store
            .end_session(
                w.acme.id,
                idp.id,
                EndReason::Logout,
                "test",
                portcullis::clock::Clock::now(w.app.clock.as_ref()),
            )
            .await
            .unwrap()
            .unwrap();
        let started = w
            .app
            .state
            .oidc
            .start_browser_app_session(&w.acme, &app, &idp, "marker-after-end")
            .await
            .unwrap();
        assert!(started.is_none());
        let hash = portcullis::secrets::sha256_hex("marker-after-end");
        let stored = w
            .app
            .state
            .store
            .app_session_by_code(w.acme.id, &hash)
            .await;
        assert!(stored.unwrap().is_none(), "nothing written");
    }
);
