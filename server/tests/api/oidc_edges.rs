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

// OpenID Connect Core §3.1.2.1: the authorization endpoint takes POST (form-encoded) as well as
// GET. Signed out, the POST goes to the sign-in page, which comes back to the same request as
// a GET; signed in, the POST answers with the code at once; the code redeems like any other.
both_backends!(authorize_accepts_a_form_post, |backend| {
    use crate::browser::Browser;
    use crate::helpers::{follow_to_app, pkce, query_params, submit_login};
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let (challenge, verifier) = pkce();
    let path = rp.authorize_path(&[
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "posted"),
    ]);
    let (endpoint, query) = path.split_once('?').unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut b = Browser::new(
        &app.address,
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    );

    // Without a session cookie (a cross-site POST never carries the `SameSite=Lax` one) the
    // POST hands over to the equivalent GET, which does carry it.
    let page = b.post(endpoint, &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), path, "the same request as a GET");
    let page = b.get(page.location()).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location().starts_with("/o/acme/login?"),
        "{}",
        page.location()
    );
    let login = b.get(page.location()).await;
    let back = submit_login(&mut b, "acme", &login).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location().starts_with("/o/acme/authorize?"),
        "{}",
        back.location()
    );
    let location = follow_to_app(&mut b, "acme", &rp.redirect_uri, back.location()).await;
    let q = query_params(&location);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("posted"),
        "{location}"
    );
    let tokens = rp.exchange(&q["code"], Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.json);

    // Signed in now: the POST answers with a code straight away.
    let page = b.post(endpoint, &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location().starts_with(&rp.redirect_uri),
        "{}",
        page.location()
    );
    let q = query_params(page.location());
    assert!(
        q.contains_key("code") && q["state"] == "posted",
        "{}",
        page.location()
    );

    // As with GET, an unknown client gets the error page, never a redirect; a body that is not
    // a form is refused.
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "client_id");
    bad.push(("client_id", "nobody"));
    let page = b.post(endpoint, &bad).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location().is_empty());
    let res = app
        .client
        .post(format!("{}{endpoint}", app.address))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Nor is a form larger than any authorization request needs.
    let huge = "x".repeat(9 * 1024);
    let mut big = form.clone();
    big.push(("nonce", &huge));
    let page = b.post(endpoint, &big).await;
    assert_eq!(page.status, 413, "{}", page.body);
});

// OAuth 2.0 Form Post Response Mode: the code (or an error) reaches the app as a form POST from
// an auto-submitting page whose script is a static asset the CSP allows (no inline script), and
// discovery lists the mode. Other modes stay refused.
both_backends!(form_post_answers_with_an_auto_submitting_form, |backend| {
    use crate::browser::Browser;
    use crate::helpers::{follow_to_app, html_attr_after, html_unescape, query_params};
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let discovery: serde_json::Value = app
        .get("/o/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );

    let mut b = Browser::new(
        &app.address,
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    );
    // Signed in first (query mode), then the same app asks with form_post.
    rp.code(&mut b, &[]).await;
    let page = b
        .get(&rp.authorize_path(&[("response_mode", "form_post"), ("state", "fp")]))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.location().is_empty());
    // One form, posting to the app's registered redirect URI.
    assert_eq!(page.body.matches("<form ").count(), 1, "{}", page.body);
    let tag = &page.body[page.body.find("<form ").unwrap()..];
    let tag = &tag[..tag.find('>').unwrap()];
    assert!(
        tag.contains("method=\"post\"") && tag.contains("data-testid=\"form-post\""),
        "{tag}"
    );
    assert_eq!(
        html_unescape(&html_attr_after(&page.body, "<form ", "action")),
        rp.redirect_uri
    );
    assert_eq!(field_of(&page.body, "state"), "fp");
    assert_eq!(field_of(&page.body, "iss"), rp.issuer);
    let code = field_of(&page.body, "code");
    assert!(!code.is_empty());
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(
        page.body.contains("<script src=\"/assets/form_post.js\">"),
        "{}",
        page.body
    );
    let header = |name: &str| {
        let value = page.headers.get(name).and_then(|v| v.to_str().ok());
        value.unwrap_or_default().to_owned()
    };
    let csp = header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header("cache-control"), "no-store");
    let script = app.get("/assets/form_post.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains(".submit()"));
    // The code redeems as any other.
    let tokens = rp.exchange(&code, None).await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.json);

    // An error after the redirect URI is checked goes back the same way.
    let mut fresh = Browser::new(
        &app.address,
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    );
    let page = fresh
        .get(&rp.authorize_path(&[("response_mode", "form_post"), ("prompt", "none")]))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(field_of(&page.body, "error"), "login_required");
    assert_eq!(field_of(&page.body, "state"), "st-1");

    // Any other mode is refused, in the query as before.
    let location = follow_to_app(
        &mut b,
        "acme",
        &rp.redirect_uri,
        &rp.authorize_path(&[("response_mode", "fragment")]),
    )
    .await;
    assert_eq!(
        query_params(&location)["error"],
        "invalid_request",
        "{location}"
    );

    // A native app's private-use scheme cannot receive a form post: refused, in the query.
    let mut req = CreateApp::new("Desktop", AppType::Native);
    req.redirect_uris = vec!["com.example.desktop:/cb".into()];
    let native = Rp::register(&app, &org, req).await;
    let (challenge, _) = crate::helpers::pkce();
    let page = b
        .get(&native.authorize_path(&[
            ("response_mode", "form_post"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location();
    assert!(
        location.starts_with("com.example.desktop:/cb?"),
        "{location}"
    );
    assert_eq!(
        query_params(location)["error"],
        "invalid_request",
        "{location}"
    );
});

fn field_of(body: &str, name: &str) -> String {
    crate::helpers::html_unescape(&crate::helpers::html_attr_after(
        body,
        &format!("name=\"{name}\""),
        "value",
    ))
}
