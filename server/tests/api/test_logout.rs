//! "Send a test logout token": an admin checks that an app's back-channel receiver works. One
//! real, signed logout token goes to it now (a `sid` that names no session), outside the
//! outbox; the answer is what the receiver said.

use crate::admin_api::{call, org_with, service_token};
use crate::helpers::{TestApp, jwt_claims, jwt_header};
use crate::slo::{Receiver, register};
use portcullis::accounts::Role;
use std::time::Duration;

both_backends!(a_test_logout_token_reaches_the_apps_receiver, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with(&app, "acme", Role::Admin).await;
    let other = org_with(&app, "globex", Role::Admin).await;
    let token = service_token(&app, &org).await;
    let other_token = service_token(&app, &other).await;
    let receiver = Receiver::start(200, Duration::ZERO).await;
    let uri = receiver.uri.clone();
    let rp = register(&app, &org, "shop", |r| r.backchannel_logout_uri = Some(uri)).await;
    let id = app
        .state
        .store
        .app_by_client_id(org.id, &rp.client_id)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let path = format!("/orgs/acme/apps/{id}/test-logout");

    let answer = call(&app, "post", &path, Some(&token)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["delivered"], true, "{answer:?}");
    assert_eq!(answer.json["http_status"], 200);
    assert_eq!(receiver.count(), 1);
    let sent = &receiver.tokens()[0];
    assert_eq!(jwt_header(sent)["typ"], "logout+jwt");
    let claims = jwt_claims(sent);
    assert_eq!(claims["iss"], app.issuer("acme"));
    assert_eq!(claims["aud"], rp.client_id);
    assert_eq!(
        claims["sid"], answer.json["sid"],
        "the answer names the token's sid"
    );
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    // Nothing was queued: no delivery row, no retry later.
    assert!(
        app.state
            .store
            .logout_deliveries(org.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The audit trail says who sent it.
    let audit = call(&app, "get", "/orgs/acme/audit-events", Some(&token)).await;
    assert!(
        audit.json.to_string().contains("app.test_logout_sent"),
        "{audit:?}"
    );

    // A receiver that refuses: the answer says so, and nothing is retried.
    receiver.set_status(500);
    let answer = call(&app, "post", &path, Some(&token)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["delivered"], false);
    assert_eq!(answer.json["http_status"], 500);
    assert_eq!(answer.json["error"], "HTTP 500");
    assert_eq!(receiver.count(), 2);

    // An app without a back-channel URI: 409. Another org's admin: refused, nothing sent.
    let plain = register(&app, &org, "blog", |_| {}).await;
    let plain_id = app
        .state
        .store
        .app_by_client_id(org.id, &plain.client_id)
        .await
        .unwrap()
        .unwrap()
        .id;
    let answer = call(
        &app,
        "post",
        &format!("/orgs/acme/apps/{plain_id}/test-logout"),
        Some(&token),
    )
    .await;
    assert_eq!(answer.status, 409, "{answer:?}");
    let answer = call(&app, "post", &path, Some(&other_token)).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let answer = call(
        &app,
        "post",
        &format!("/orgs/globex/apps/{id}/test-logout"),
        Some(&other_token),
    )
    .await;
    assert_eq!(answer.status, 404, "{answer:?}");
    assert_eq!(receiver.count(), 2);
});
