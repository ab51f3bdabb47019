//! Edges of the OIDC endpoints: CORS only for registered SPA origins (token, userinfo) and never
//! on /authorize, `login_hint` prefilling the sign-in form, and loopback port variance for
//! native apps only (RFC 8252 §7.3).

use crate::helpers::{Rp, TestApp, org_with_alice};
use portcullis::apps::{AppType, CreateApp};

both_backends!(cors_only_for_registered_spa_origins, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let mut req = CreateApp::new("Dashboard", AppType::Spa);
    req.redirect_uris = vec!["http://localhost:5173/callback".into()];
    let _spa = Rp::register(&app, &org, req).await;
    let web = Rp::web(&app, &org, "web").await;
    let url = |p: &str| format!("{}/o/acme/{p}", app.address);
    let acao = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let res = app
        .client
        .post(url("token"))
        .header("Origin", "http://localhost:5173")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(acao(&res).as_deref(), Some("http://localhost:5173"));
    assert_eq!(res.status(), 401);

    let res = app
        .client
        .post(url("token"))
        .header("Origin", "https://evil.example")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        acao(&res),
        None,
        "an unregistered origin gets no CORS grant"
    );

    let res = app
        .client
        .request(reqwest::Method::OPTIONS, url("userinfo"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(acao(&res).as_deref(), Some("http://localhost:5173"));
    let allowed = res.headers().get("access-control-allow-headers").unwrap();
    assert!(allowed.to_str().unwrap().contains("Authorization"));

    let res = app
        .client
        .get(url("userinfo"))
        .header("Origin", "http://localhost:5173")
        .header("Authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(acao(&res).as_deref(), Some("http://localhost:5173"));

    // /authorize is a browser navigation, never a CORS resource.
    let res = app
        .client
        .get(format!("{}{}", app.address, web.authorize_path(&[])))
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(acao(&res), None);
});

both_backends!(login_hint_prefills_the_sign_in_form, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let web = Rp::web(&app, &org, "web").await;
    let res = app
        .client
        .get(format!(
            "{}{}",
            app.address,
            web.authorize_path(&[("login_hint", "alice@example.com")])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("login_hint=alice%40example.com"),
        "{location}"
    );
    let page = app.get(&location).await.text().await.unwrap();
    assert!(
        page.contains("value=\"alice@example.com\""),
        "the email field is prefilled: {page}"
    );
});

both_backends!(only_native_apps_may_vary_the_loopback_port, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let mut req = CreateApp::new("Desktop", AppType::Native);
    req.redirect_uris = vec!["http://127.0.0.1/callback".into()];
    let mut native = Rp::register(&app, &org, req).await;
    let mut req = CreateApp::new("Server", AppType::Web);
    req.redirect_uris = vec!["http://127.0.0.1/callback".into()];
    let mut web = Rp::register(&app, &org, req).await;
    let pkce = [
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    native.redirect_uri = "http://127.0.0.1:53127/callback".into();
    web.redirect_uri = "http://127.0.0.1:53127/callback".into();
    let res = app.get(&native.authorize_path(&pkce)).await;
    assert_eq!(res.status(), 303, "a native app may pick its loopback port");
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/o/acme/login"),
        "on to sign-in"
    );
    let res = app.get(&web.authorize_path(&pkce)).await;
    assert_eq!(res.status(), 400, "a web app's URI matches exactly");
    native.redirect_uri = "http://127.0.0.1:53127/other".into();
    assert_eq!(app.get(&native.authorize_path(&pkce)).await.status(), 400);
});
