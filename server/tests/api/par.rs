//! Pushed authorization requests (RFC 9126): the app pushes its request, the browser brings
//! only the `request_uri`, which yields one code at most and expires.

use crate::browser::Browser;
use crate::helpers::{
    Answer, Rp, TestApp, follow_to_app, local_path, org_with_alice, pkce, query_params,
};
use portcullis::apps::{AppType, CreateApp};
use serde_json::{Value, json};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Pushes an authorization request for `rp` (its credentials, its redirect URI, PKCE
/// `challenge`), with `extra` parameters added.
async fn push(app: &TestApp, rp: &Rp, challenge: &str, extra: &[(&str, &str)]) -> Answer {
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("scope", "openid email"),
        ("state", "st-par"),
        ("nonce", "n-par"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    let mut req = app.client.post(format!("{}/o/{}/par", app.address, rp.org));
    match &rp.secret {
        Some(s) => req = req.basic_auth(&rp.client_id, Some(s)),
        None => form.push(("client_id", rp.client_id.as_str())),
    }
    Answer::read(req.form(&form).send().await.unwrap()).await
}

fn authorize_path(rp: &Rp, request_uri: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &rp.client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("/o/{}/authorize?{q}", rp.org)
}

both_backends!(a_pushed_request_signs_in_once_and_expires, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let other = Rp::web(&app, &org, "other").await;
    let (challenge, verifier) = pkce();

    let pushed = push(&app, &rp, &challenge, &[]).await;
    assert_eq!(pushed.status, 201, "{pushed:?}");
    assert_eq!(pushed.header("cache-control"), "no-store");
    assert_eq!(pushed.json["expires_in"], 90);
    let request_uri = pushed.str("request_uri");
    assert!(
        request_uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{request_uri}"
    );

    // Another app naming this request_uri finds nothing (and does not use it up).
    let mut b = Browser::new(&app.address, UA);
    let page = b.get(&authorize_path(&other, &request_uri)).await;
    assert_eq!(page.status, 400, "{}", page.body);

    // The browser brings only client_id and request_uri; the pushed parameters are used.
    let first = b.get(&authorize_path(&rp, &request_uri)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let continued = local_path(first.location());
    assert!(continued.contains("request_uri="), "{continued}");
    assert!(
        !continued.contains(
            &url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
        ),
        "the pushed reference is used up; the browser goes on with a new one"
    );
    let location = follow_to_app(&mut b, "acme", &rp.redirect_uri, &continued).await;
    let q = query_params(&location);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("st-par"),
        "{location}"
    );
    let code = q.get("code").expect("a code").clone();
    let tokens = rp.exchange(&code, Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    let id = crate::helpers::jwt_claims(&tokens.str("id_token"));
    assert_eq!(
        id["nonce"], "n-par",
        "the pushed nonce, not anything from the browser"
    );

    // Used: neither the pushed reference nor the continued one gives another code.
    for path in [authorize_path(&rp, &request_uri), continued.clone()] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(
            page.body.contains("expired or was already used"),
            "{}",
            page.body
        );
    }

    // The pushed response mode is the one used (the browser's query names none).
    let fp = push(&app, &rp, &challenge, &[("response_mode", "form_post")])
        .await
        .str("request_uri");
    let first = b.get(&authorize_path(&rp, &fp)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let page = b.get(&local_path(first.location())).await;
    assert_eq!(
        page.status, 200,
        "a form post, not a redirect: {}",
        page.body
    );
    assert!(
        page.body.contains("data-testid=\"form-post\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"code\""), "{}", page.body);

    // Expired: 90 seconds after the push.
    let late = push(&app, &rp, &challenge, &[]).await.str("request_uri");
    app.clock.advance(chrono::Duration::seconds(91));
    let page = b.get(&authorize_path(&rp, &late)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("expired or was already used"),
        "{}",
        page.body
    );

    // Discovery.
    let doc: Value = app
        .get("/o/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        json!(format!("{}/par", rp.issuer))
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
});

both_backends!(pushed_requests_are_checked_when_pushed, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let mut spa = CreateApp::new("Dashboard", AppType::Spa);
    spa.redirect_uris = vec!["http://localhost:5173/cb".into()];
    let spa = Rp::register(&app, &org, spa).await;
    let (challenge, _) = pkce();

    // Unauthenticated, or with a wrong secret.
    let anonymous = rp.with_credentials(&rp.client_id, None);
    push(&app, &anonymous, &challenge, &[])
        .await
        .assert_error(401, "invalid_client");
    let wrong = rp.with_credentials(&rp.client_id, Some("wrong"));
    push(&app, &wrong, &challenge, &[])
        .await
        .assert_error(401, "invalid_client");
    // The request's own faults: 400 with the error /authorize would have sent back.
    for (extra, error) in [
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (
            vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "email")], "invalid_scope"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
    ] {
        // `extra` replaces the default of the same name: build the form by hand.
        let mut form: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in &extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v));
        }
        let res = app
            .client
            .post(format!("{}/o/acme/par", app.address))
            .basic_auth(&rp.client_id, rp.secret.as_ref())
            .form(&form)
            .send()
            .await
            .unwrap();
        Answer::read(res).await.assert_error(400, error);
    }
    // A public app pushes with its client_id; without PKCE it is refused like at /authorize.
    assert_eq!(push(&app, &spa, &challenge, &[]).await.status, 201);
    let res = app
        .client
        .post(format!("{}/o/acme/par", app.address))
        .form(&[
            ("client_id", spa.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", spa.redirect_uri.as_str()),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    Answer::read(res).await.assert_error(400, "invalid_request");
    // A repeated parameter.
    let res = app
        .client
        .post(format!("{}/o/acme/par", app.address))
        .basic_auth(&rp.client_id, rp.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("response_type=code&scope=openid&scope=email")
        .send()
        .await
        .unwrap();
    Answer::read(res).await.assert_error(400, "invalid_request");
});

both_backends!(
    an_app_that_requires_par_refuses_a_plain_request,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Bank", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/bank/cb".into()];
        req.require_par = true;
        let rp = Rp::register(&app, &org, req).await;
        let mut b = Browser::new(&app.address, UA);
        let (challenge, verifier) = pkce();

        let page = b
            .get(&rp.authorize_path(&[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let q = query_params(page.location());
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_request"),
            "{}",
            page.location()
        );
        assert!(q["error_description"].contains("PAR"), "{q:?}");

        let request_uri = push(&app, &rp, &challenge, &[]).await.str("request_uri");
        let location = follow_to_app(
            &mut b,
            "acme",
            &rp.redirect_uri,
            &authorize_path(&rp, &request_uri),
        )
        .await;
        let code = query_params(&location)["code"].clone();
        assert_eq!(rp.exchange(&code, Some(&verifier)).await.status, 200);
    }
);

both_backends!(
    public_clients_pushing_from_one_address_are_throttled,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut spa = CreateApp::new("Dashboard", AppType::Spa);
        spa.redirect_uris = vec!["http://localhost:5173/cb".into()];
        let spa = Rp::register(&app, &org, spa).await;
        let web = Rp::web(&app, &org, "shop").await;
        let (challenge, _) = pkce();
        // Anyone can name a public app: each push stores a row, so an address gets 120 per
        // 10 minutes.
        for n in 0..120 {
            let answer = push(&app, &spa, &challenge, &[]).await;
            assert_eq!(answer.status, 201, "push {n}: {answer:?}");
        }
        let refused = push(&app, &spa, &challenge, &[]).await;
        refused.assert_error(429, "temporarily_unavailable");
        assert!(!refused.header("retry-after").is_empty(), "{refused:?}");
        // A client that authenticates is not counted.
        assert_eq!(push(&app, &web, &challenge, &[]).await.status, 201);
        // The device endpoint shares the allowance.
        let res = app
            .client
            .post(format!("{}/o/acme/device_authorization", app.address))
            .form(&[("client_id", spa.client_id.as_str()), ("scope", "openid")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        // The next window allows pushes again.
        app.clock.advance(chrono::Duration::seconds(600));
        assert_eq!(push(&app, &spa, &challenge, &[]).await.status, 201);
    }
);
