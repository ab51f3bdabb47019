//! The OpenID Connect provider from the outside: a real relying party (the `openidconnect`
//! crate) through discovery, code + PKCE, ID token validation, refresh and userinfo on ES256 and
//! RS256 orgs, then the protocol's sharp edges with raw HTTP: redirect URI matching, code reuse,
//! PKCE, refresh token rotation, isolation between apps and orgs, prompt/max_age, key rotation,
//! the discovery document and the client credentials grant.

use crate::browser::Browser;
use crate::helpers::{
    Answer, Rp, TestApp, Tokens, follow_to_app, jwt_claims, jwt_header, local_path, org_with_alice,
    pkce, query_params, submit_login,
};
use crate::signin::{EMAIL, PASSWORD};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, Audience, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis::apps::{AppType, CreateApp};
use portcullis::clock::Clock;
use portcullis::keys::SigningAlg;
use portcullis::sessions::ACR_ONE_FACTOR;
use serde_json::Value;
use std::str::FromStr;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The relying party's HTTP client: never follows redirects (SSRF, and so the test sees them).
fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// An error redirect to the app: `error`, the request's `state` and the issuer, and no code.
#[track_caller]
fn assert_error_redirect(rp: &Rp, page: &crate::browser::Page, error: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location();
    assert!(location.starts_with(&rp.redirect_uri), "{location}");
    let q = query_params(location);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("st-1"),
        "{location}"
    );
    assert_eq!(q.get("iss"), Some(&rp.issuer), "{location}");
    assert!(!q.contains_key("code"), "{location}");
}

/// The `kid`s of an org's JWKS, fetched over HTTP.
async fn jwks(app: &TestApp, org: &str) -> Value {
    let res = app
        .client
        .get(format!("{}/o/{org}/jwks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Discovery, code + PKCE + nonce, ID token and `at_hash` validation, refresh and userinfo with
/// the `openidconnect` crate, against the org `slug` signing with `alg`.
async fn relying_party_journey(app: &TestApp, slug: &str, alg: CoreJwsSigningAlgorithm) {
    let org = app.state.orgs.find(slug).await.unwrap();
    let redirect = format!("http://127.0.0.1:9/{slug}/shop/callback");
    let mut req = CreateApp::new("Shop", AppType::Web);
    req.redirect_uris = vec![redirect.clone()];
    req.access_token_ttl_secs = Some(120);
    req.id_token_ttl_secs = Some(600);
    let (registered, secret) = app.state.apps.create(&org, req, "test").await.unwrap();
    let client_id = registered.client_id.clone();
    let issuer = app.issuer(slug);
    let http = rp_http();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    assert_eq!(metadata.issuer().as_str(), issuer);
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(
            secret.expect("web apps are confidential"),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(
        auth_url
            .as_str()
            .starts_with(&format!("{issuer}/authorize?")),
        "{auth_url}"
    );

    // The browser part: no session, so the sign-in form, then back to /authorize and the app.
    let mut b = Browser::new(&app.address, UA);
    let first = b.get(&local_path(auth_url.as_str())).await;
    assert_eq!(first.status, 303);
    assert!(
        local_path(first.location()).starts_with(&format!("/o/{slug}/login?")),
        "{}",
        first.location()
    );
    let location = follow_to_app(&mut b, slug, &redirect, auth_url.as_str()).await;
    let q = query_params(&location);
    assert_eq!(q["state"], *csrf.secret());
    assert_eq!(
        q["iss"], issuer,
        "RFC 9207 iss in the authorization response"
    );
    let code = q["code"].clone();

    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        response.expires_in(),
        Some(std::time::Duration::from_secs(120))
    );
    let clock = app.clock.clone();
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![alg.clone()])
        .set_time_fn(move || clock.now());
    let id_token = response.id_token().expect("an ID token");
    assert_eq!(id_token.signing_alg().unwrap(), &alg);
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    assert_eq!(claims.issuer().as_str(), issuer);
    assert_eq!(claims.audiences(), &vec![Audience::new(client_id.clone())]);
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(
        claims.email_verified(),
        Some(true),
        "email scope: an admin-created user"
    );
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice")
    );
    let now = app.clock.now();
    assert_eq!(claims.auth_time(), Some(now));
    assert_eq!(claims.issue_time(), now);
    assert_eq!(claims.expiration(), now + chrono::Duration::seconds(600));
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(actual_hash.as_str(), expected_hash.as_str());

    // Claims the crate does not model, read raw.
    let raw = jwt_claims(&id_token.to_string());
    let sid = raw["sid"].as_str().expect("sid").to_owned();
    assert_eq!(raw["azp"], client_id.as_str());
    assert_eq!(raw["acr"], ACR_ONE_FACTOR);
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert_eq!(
        raw["session_expiry"].as_i64(),
        Some(now.timestamp() + 30 * 86400),
        "a standard app session lives 30 days: {raw}"
    );
    let header = jwt_header(&id_token.to_string());
    assert!(header["kid"].is_string(), "{header}");

    // The access token: a JWT of type at+jwt (RFC 9068) about the same user and session.
    let at = response.access_token().secret().clone();
    let at_header = jwt_header(&at);
    assert_eq!(at_header["typ"], "at+jwt", "{at_header}");
    assert_eq!(at_header["kid"], header["kid"]);
    let at_claims = jwt_claims(&at);
    assert_eq!(at_claims["iss"], issuer.as_str());
    assert_eq!(at_claims["sub"], claims.subject().as_str());
    assert_eq!(at_claims["client_id"], client_id.as_str());
    assert_eq!(at_claims["sid"], sid.as_str());
    assert!(!at_claims["aud"].is_null(), "{at_claims}");
    assert!(at_claims["jti"].is_string(), "{at_claims}");
    assert_eq!(at_claims["iat"].as_i64(), Some(now.timestamp()));
    assert_eq!(at_claims["exp"].as_i64(), Some(now.timestamp() + 120));
    let scope = at_claims["scope"].as_str().unwrap();
    for s in ["openid", "email", "profile"] {
        assert!(scope.split(' ').any(|x| x == s), "{scope}");
    }

    // Refresh: a new refresh token every time; any new ID token is about the same user.
    app.clock.advance(minutes(1));
    let refresh_token = response.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh_token)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let new_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(new_refresh.secret(), refresh_token.secret());
    assert_ne!(
        refreshed.access_token().secret(),
        response.access_token().secret()
    );
    if let Some(id2) = refreshed.id_token() {
        let expected_nonce = nonce.secret().clone();
        let c2 = id2
            .claims(&id_verifier, |n: Option<&Nonce>| match n {
                None => Ok(()),
                Some(n) if *n.secret() == expected_nonce => Ok(()),
                Some(_) => Err("another nonce".to_owned()),
            })
            .unwrap();
        assert_eq!(c2.subject(), claims.subject());
        assert_eq!(c2.auth_time(), claims.auth_time(), "no new authentication");
        assert_eq!(jwt_claims(&id2.to_string())["sid"], sid.as_str());
    }

    // Userinfo with the new access token; the crate checks `sub` against the ID token's.
    let info: CoreUserInfoClaims = client
        .user_info(
            refreshed.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice")
    );
}

both_backends!(a_real_relying_party_signs_in_on_an_es256_org, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    org_with_alice(&app, "acme").await;
    relying_party_journey(&app, "acme", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
});

both_backends!(a_real_relying_party_signs_in_on_an_rs256_org, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "globex").await;
    let key = app
        .state
        .keys
        .rotate(&org, Some(SigningAlg::Rs256), chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(key.alg, SigningAlg::Rs256);
    assert_eq!(key.activates_at, app.clock.now());
    assert!(kids(&jwks(&app, "globex").await).contains(&key.kid));
    relying_party_journey(
        &app,
        "globex",
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await;
});

both_backends!(
    unregistered_redirect_uris_get_an_error_page_never_a_redirect,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Shop", AppType::Web);
        req.redirect_uris = vec!["https://shop.example.com/callback".into()];
        let rp = Rp::register(&app, &org, req).await;
        let other = Rp::web(&app, &org, "other").await;

        let bad_uris = [
            "https://shop.example.com/callback?next=%2Fadmin",
            "https://shop.example.com/callback/",
            "https://shop.example.com/Callback",
            "https://SHOP.example.com/callback",
            "https://shop.example.com:443/callback",
            "https://evil.example.com/callback",
            "https://shop.example.com.evil.example/callback",
            "http://shop.example.com/callback",
            "https://shop.example.com/other",
            "http://127.0.0.1:9/elsewhere",
        ];
        let refused = |page: &crate::browser::Page, what: &str| {
            assert_eq!(page.status, 400, "{what}: {}", page.body);
            assert!(
                page.headers.get("location").is_none(),
                "{what}: never a redirect"
            );
            let ct = page
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(ct.starts_with("text/html"), "{what}: {ct}");
        };

        // Without a session: refused before any redirect to the sign-in page.
        let mut anon = Browser::new(&app.address, UA);
        for bad in bad_uris {
            let page = anon.get(&rp.authorize_path(&[("redirect_uri", bad)])).await;
            refused(&page, bad);
        }
        // The registered URI itself: on to the sign-in page.
        let ok = anon.get(&rp.authorize_path(&[])).await;
        assert_eq!(ok.status, 303);
        assert!(local_path(ok.location()).starts_with("/o/acme/login?"));

        // Signed in, where a lenient server would mint a code at once.
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        let ok = b.get(&rp.authorize_path(&[])).await;
        assert_eq!(ok.status, 303);
        assert!(
            ok.location()
                .starts_with("https://shop.example.com/callback?"),
            "{}",
            ok.location()
        );
        assert!(query_params(ok.location()).contains_key("code"));
        for bad in bad_uris {
            let page = b.get(&rp.authorize_path(&[("redirect_uri", bad)])).await;
            refused(&page, bad);
        }
        // Unknown client, and another app's client id with this app's URI.
        let page = b
            .get(&rp.authorize_path(&[("client_id", "no-such-client")]))
            .await;
        refused(&page, "unknown client_id");
        let page = b
            .get(&other.authorize_path(&[("redirect_uri", &rp.redirect_uri)]))
            .await;
        refused(&page, "another app's redirect URI");
        // The client id of org acme at org globex.
        org_with_alice(&app, "globex").await;
        let page = b.get(&rp.at_org(&app, "globex").authorize_path(&[])).await;
        refused(&page, "client of another org");
    }
);

both_backends!(
    a_reused_code_is_refused_and_ends_what_it_granted,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = Rp::web(&app, &org, "shop").await;
        let mut b = Browser::new(&app.address, UA);
        let (challenge, verifier) = pkce();
        let code = rp
            .code(
                &mut b,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        let answer = rp.exchange(&code, Some(&verifier)).await;
        assert_eq!(answer.header("cache-control"), "no-store");
        let first = Tokens::of(&answer);
        assert!(rp.active(&first.access).await);
        let info = rp.userinfo(&first.access).await;
        assert_eq!(info.status, 200, "{info:?}");
        assert_eq!(info.json["email"], EMAIL);

        let again = rp.exchange(&code, Some(&verifier)).await;
        again.assert_error(400, "invalid_grant");
        assert_eq!(again.header("cache-control"), "no-store");
        // What the first exchange granted is withdrawn (RFC 9700 §4.5).
        assert!(!rp.active(&first.access).await);
        let info = rp.userinfo(&first.access).await;
        assert_eq!(info.status, 401, "{info:?}");
        assert!(
            info.header("www-authenticate").starts_with("Bearer"),
            "RFC 6750 §3: {info:?}"
        );
        rp.refresh(&first.refresh)
            .await
            .assert_error(400, "invalid_grant");

        // A code is bound to its client and redirect URI, and expires.
        let code = rp.code(&mut b, &[]).await;
        let other = Rp::web(&app, &org, "other").await;
        rp.with_credentials(&other.client_id, other.secret.as_deref())
            .exchange(&code, None)
            .await
            .assert_error(400, "invalid_grant");
        let code = rp.code(&mut b, &[]).await;
        let mut elsewhere = rp.clone();
        elsewhere.redirect_uri = "http://127.0.0.1:9/elsewhere".into();
        elsewhere
            .exchange(&code, None)
            .await
            .assert_error(400, "invalid_grant");
        let code = rp.code(&mut b, &[]).await;
        app.clock.advance(minutes(11));
        rp.exchange(&code, None)
            .await
            .assert_error(400, "invalid_grant");
        rp.exchange("made-up-code", None)
            .await
            .assert_error(400, "invalid_grant");
    }
);

both_backends!(
    pkce_is_required_of_public_apps_and_checked_for_all,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Spa", AppType::Spa);
        req.redirect_uris = vec!["http://127.0.0.1:9/spa/callback".into()];
        let spa = Rp::register(&app, &org, req).await;
        assert!(spa.secret.is_none(), "a public app has no secret");
        let web = Rp::web(&app, &org, "web").await;
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);

        // A public app without a challenge.
        let page = b.get(&spa.authorize_path(&[])).await;
        assert_error_redirect(&spa, &page, "invalid_request");
        // `plain`, explicitly or by default (RFC 7636 §4.3), for public and confidential apps.
        let (_, verifier) = pkce();
        for rp in [&spa, &web] {
            let page = b
                .get(&rp.authorize_path(&[
                    ("code_challenge", &verifier),
                    ("code_challenge_method", "plain"),
                ]))
                .await;
            assert_error_redirect(rp, &page, "invalid_request");
            let page = b
                .get(&rp.authorize_path(&[("code_challenge", &verifier)]))
                .await;
            assert_error_redirect(rp, &page, "invalid_request");
        }

        // The right verifier: tokens, and a public app refreshes without a secret.
        let tokens = spa.sign_in(&mut b, &[]).await;
        Tokens::of(&spa.refresh(&tokens.refresh).await);

        // A wrong verifier.
        let (challenge, _) = pkce();
        let (_, wrong) = pkce();
        let code = spa
            .code(
                &mut b,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        spa.exchange(&code, Some(&wrong))
            .await
            .assert_error(400, "invalid_grant");
        // The challenge itself sent as the verifier.
        let code = spa
            .code(
                &mut b,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        spa.exchange(&code, Some(&challenge))
            .await
            .assert_error(400, "invalid_grant");
        // Downgrade: a challenge at /authorize, no verifier at /token.
        for rp in [&spa, &web] {
            let (challenge, _) = pkce();
            let code = rp
                .code(
                    &mut b,
                    &[
                        ("code_challenge", &challenge),
                        ("code_challenge_method", "S256"),
                    ],
                )
                .await;
            rp.exchange(&code, None)
                .await
                .assert_error(400, "invalid_grant");
        }
        // A verifier at /token when /authorize had no challenge (confidential app).
        let code = web.code(&mut b, &[]).await;
        let (_, verifier) = pkce();
        web.exchange(&code, Some(&verifier))
            .await
            .assert_error(400, "invalid_grant");
        // Without PKCE a confidential app still works (the secret authenticates it).
        let code = web.code(&mut b, &[]).await;
        Tokens::of(&web.exchange(&code, None).await);
    }
);

both_backends!(
    refresh_tokens_rotate_and_stay_within_their_app_and_org,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = Rp::web(&app, &org, "shop").await;
        let blog = Rp::web(&app, &org, "blog").await;
        let mut b = Browser::new(&app.address, UA);

        let t1 = rp.sign_in(&mut b, &[]).await;
        let sid = t1.id_claims()["sid"].as_str().unwrap().to_owned();
        app.clock.advance(minutes(1));
        let answer = rp.refresh(&t1.refresh).await;
        assert_eq!(answer.header("cache-control"), "no-store");
        let t2 = Tokens::of(&answer);
        assert_ne!(t2.refresh, t1.refresh);
        assert_ne!(t2.access, t1.access);
        assert_eq!(jwt_claims(&t2.access)["sid"], sid.as_str());
        let t3 = Tokens::of(&rp.refresh(&t2.refresh).await);
        // Replaying a rotated token fails, and ends the newer one too (RFC 9700 §4.14.2).
        rp.refresh(&t2.refresh)
            .await
            .assert_error(400, "invalid_grant");
        rp.refresh(&t3.refresh)
            .await
            .assert_error(400, "invalid_grant");
        rp.refresh(&t1.refresh)
            .await
            .assert_error(400, "invalid_grant");

        // A new sign-in (SSO, no form) starts a fresh chain.
        let t4 = rp.sign_in(&mut b, &[]).await;
        let t5 = Tokens::of(&rp.refresh(&t4.refresh).await);

        // Another app's refresh token with this app's credentials.
        let o1 = blog.sign_in(&mut b, &[]).await;
        rp.refresh(&o1.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(blog.active(&o1.access).await);

        // Org B knows nothing of org A's tokens or clients.
        let globex = org_with_alice(&app, "globex").await;
        let g = Rp::web(&app, &globex, "gshop").await;
        let g1 = g.sign_in(&mut b, &[]).await;
        assert!(g.active(&g1.access).await);
        assert!(!g.active(&t5.access).await, "org A token at org B");
        let info = g.userinfo(&t5.access).await;
        assert_eq!(info.status, 401, "{info:?}");
        g.refresh(&t5.refresh)
            .await
            .assert_error(400, "invalid_grant");
        let a_at_b = rp.at_org(&app, "globex");
        a_at_b
            .refresh(&t5.refresh)
            .await
            .assert_error(401, "invalid_client");
        assert!(!rp.active(&g1.access).await, "org B token at org A");
        // None of that used up org A's token at org A.
        assert!(rp.active(&t5.access).await);
        assert_eq!(rp.userinfo(&t5.access).await.status, 200);
        Tokens::of(&rp.refresh(&t5.refresh).await);
    }
);

both_backends!(
    concurrent_uses_of_one_refresh_token_let_one_through_and_end_the_family,
    |backend| {
        // A rotation is one statement; of eight uses of one token at once, the unique successor
        // index lets exactly one rotate. The others are replays: the family ends, so the
        // winner's new refresh token is refused too (RFC 9700 §4.14.2).
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = Rp::web(&app, &org, "shop").await;
        let mut b = Browser::new(&app.address, UA);
        let t1 = rp.sign_in(&mut b, &[]).await;
        let uses = (0..8).map(|_| {
            let rp = rp.clone();
            let token = t1.refresh.clone();
            tokio::spawn(async move { rp.refresh(&token).await })
        });
        let mut won = Vec::new();
        for u in uses {
            let answer = u.await.unwrap();
            if answer.status == 200 {
                won.push(Tokens::of(&answer));
            } else {
                answer.assert_error(400, "invalid_grant");
            }
        }
        assert_eq!(won.len(), 1, "exactly one use rotates");
        rp.refresh(&won[0].refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!rp.active(&won[0].access).await);

        // The same race without timing: two uses that both read the token before either
        // rotated it. The second rotation stores nothing.
        let t2 = rp.sign_in(&mut b, &[("prompt", "login")]).await;
        let store = &app.state.store;
        let hash = portcullis::secrets::sha256_hex(&t2.refresh);
        let read = store.refresh_token(org.id, &hash).await.unwrap().unwrap();
        assert!(read.used_at.is_none());
        let now = app.clock.now();
        let rotate = |successor: &'static str| {
            store.rotate_refresh_token(org.id, &read, successor, "openid", now)
        };
        assert_eq!(
            rotate("a").await.unwrap(),
            portcullis::store::Rotation::Rotated
        );
        assert_eq!(
            rotate("b").await.unwrap(),
            portcullis::store::Rotation::Spent
        );
        let spent = store.refresh_token(org.id, &hash).await.unwrap().unwrap();
        assert!(spent.used_at.is_some(), "a token with a successor is spent");
        assert!(store.refresh_token(org.id, "b").await.unwrap().is_none());
    }
);

both_backends!(
    the_one_statement_refresh_spends_only_this_apps_live_unspent_token,
    |backend| {
        // The common refresh (same scope) is one INSERT … SELECT … RETURNING. It must store
        // nothing, and spend nothing, for another app's token, an ended app session, or a
        // token already spent; then the long way tells those apart.
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let shop = Rp::web(&app, &org, "shop").await;
        let crm = Rp::web(&app, &org, "crm").await;
        let mut ids = Vec::new();
        for rp in [&shop, &crm] {
            let client = app.state.apps.client(org.id, &rp.client_id).await.unwrap();
            ids.push(client.unwrap().app.id);
        }
        let (shop_id, crm_id) = (ids[0], ids[1]);
        let mut b = Browser::new(&app.address, UA);
        let t1 = shop.sign_in(&mut b, &[]).await;
        let store = &app.state.store;
        let now = app.clock.now();
        let hash = portcullis::secrets::sha256_hex(&t1.refresh);
        let read = store.refresh_token(org.id, &hash).await.unwrap().unwrap();

        // Another app's token: nothing stored, the token still unspent.
        let other = store
            .rotate_refresh_token_by_hash(org.id, crm_id, &hash, "n0", now)
            .await
            .unwrap();
        assert!(other.is_none());
        assert!(store.refresh_token(org.id, "n0").await.unwrap().is_none());
        assert!(
            store
                .refresh_token(org.id, &hash)
                .await
                .unwrap()
                .unwrap()
                .used_at
                .is_none()
        );
        // Unknown token: nothing.
        assert!(
            store
                .rotate_refresh_token_by_hash(org.id, shop_id, "unknown", "n0", now)
                .await
                .unwrap()
                .is_none()
        );

        // Its own app: rotated, and the answer is the spent token's record.
        let spent = store
            .rotate_refresh_token_by_hash(org.id, shop_id, &hash, "n1", now)
            .await
            .unwrap()
            .expect("rotated");
        assert_eq!(spent.id, read.id);
        assert_eq!(spent.app_session_id, read.app_session_id);
        assert_eq!(spent.scope, read.scope);
        assert!(store.refresh_token(org.id, "n1").await.unwrap().is_some());
        assert!(
            store
                .refresh_token(org.id, &hash)
                .await
                .unwrap()
                .unwrap()
                .used_at
                .is_some()
        );
        // Spent: a second use stores nothing (the unique successor index).
        assert!(
            store
                .rotate_refresh_token_by_hash(org.id, shop_id, &hash, "n2", now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.refresh_token(org.id, "n2").await.unwrap().is_none());

        // A rotation whose answer never went out (the request failed after it) is undone:
        // the old token is unspent again and rotates as if nothing happened.
        assert!(store.drop_unsent_refresh_token(org.id, "n1").await.unwrap());
        assert!(store.refresh_token(org.id, "n1").await.unwrap().is_none());
        let again = store.refresh_token(org.id, &hash).await.unwrap().unwrap();
        assert!(again.used_at.is_none());
        assert!(
            store
                .rotate_refresh_token_by_hash(org.id, shop_id, &hash, "n1", now)
                .await
                .unwrap()
                .is_some()
        );
        // A successor that was used itself is never dropped (nor is another org's token).
        assert!(
            store
                .rotate_refresh_token_by_hash(org.id, shop_id, "n1", "n1b", now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(!store.drop_unsent_refresh_token(org.id, "n1").await.unwrap());
        let elsewhere = portcullis::tenancy::OrgId(uuid::Uuid::now_v7());
        assert!(
            !store
                .drop_unsent_refresh_token(elsewhere, "n1b")
                .await
                .unwrap()
        );
        assert!(store.refresh_token(org.id, "n1b").await.unwrap().is_some());

        // An ended app session: its unspent successor stores nothing either.
        store
            .end_app_session(org.id, read.app_session_id, "test", "test", now)
            .await
            .unwrap();
        assert!(
            store
                .rotate_refresh_token_by_hash(org.id, shop_id, "n1b", "n3", now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.refresh_token(org.id, "n3").await.unwrap().is_none());
        // And over HTTP the other app's use of a live token is refused without spending it.
        let t2 = shop.sign_in(&mut b, &[("prompt", "login")]).await;
        crm.refresh(&t2.refresh)
            .await
            .assert_error(400, "invalid_grant");
        let t3 = Tokens::of(&shop.refresh(&t2.refresh).await);
        assert!(shop.active(&t3.access).await);
    }
);

both_backends!(prompt_none_max_age_and_prompt_login, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let mut b = Browser::new(&app.address, UA);

    // No session and no UI allowed.
    let page = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
    assert_error_redirect(&rp, &page, "login_required");

    let t1 = rp.sign_in(&mut b, &[]).await;
    let c1 = t1.id_claims();
    let sid = c1["sid"].as_str().unwrap().to_owned();
    let auth1 = c1["auth_time"].as_i64().unwrap();
    assert_eq!(auth1, app.clock.now().timestamp());
    assert_eq!(c1["nonce"], "n-1");
    let session = crate::helpers::idp_session(&app, &org, &b).await;

    // With a session, prompt=none answers at once.
    let page = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with(&rp.redirect_uri));
    assert!(query_params(page.location()).contains_key("code"));

    app.clock.advance(minutes(2));
    // max_age=60 with a sign-in two minutes old: the form again, although signed in.
    let (challenge, verifier) = pkce();
    let path = rp.authorize_path(&[
        ("max_age", "60"),
        ("nonce", "n-2"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let page = b.get(&path).await;
    assert_eq!(page.status, 303);
    let login_path = local_path(page.location());
    assert!(login_path.starts_with("/o/acme/login?"), "{login_path}");
    let q = query_params(&login_path);
    assert_eq!(
        q.get("reauth").map(String::as_str),
        Some("1"),
        "{login_path}"
    );
    assert!(
        q["return_to"].starts_with("/o/acme/authorize?"),
        "{login_path}"
    );
    // prompt=none cannot show that form.
    let page = b
        .get(&rp.authorize_path(&[("prompt", "none"), ("max_age", "60")]))
        .await;
    assert_error_redirect(&rp, &page, "login_required");

    let login = b.get(&login_path).await;
    assert_eq!(login.status, 200, "the form, although signed in");
    let done = submit_login(&mut b, "acme", &login).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = follow_to_app(&mut b, "acme", &rp.redirect_uri, done.location()).await;
    let q = query_params(&location);
    assert_eq!(q["state"], "st-1");
    let t2 = Tokens::of(&rp.exchange(&q["code"], Some(&verifier)).await);
    let c2 = t2.id_claims();
    assert_eq!(c2["auth_time"].as_i64(), Some(auth1 + 120), "{c2}");
    assert_eq!(c2["sid"], sid.as_str(), "the same IdP session");
    assert_eq!(c2["nonce"], "n-2");
    let after = crate::helpers::idp_session(&app, &org, &b).await;
    assert_eq!(after.id, session.id);
    assert_eq!(after.auth_time, session.auth_time + minutes(2));

    // prompt=login: the form even right after signing in, and no loop after it.
    let page = b.get(&rp.authorize_path(&[("prompt", "login")])).await;
    assert_eq!(page.status, 303);
    let login_path = local_path(page.location());
    assert!(login_path.starts_with("/o/acme/login?"), "{login_path}");
    assert_eq!(query_params(&login_path)["reauth"], "1");
    let login = b.get(&login_path).await;
    let done = submit_login(&mut b, "acme", &login).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = follow_to_app(&mut b, "acme", &rp.redirect_uri, done.location()).await;
    assert!(query_params(&location).contains_key("code"), "{location}");
});

both_backends!(key_rotation_publishes_first_and_signs_later, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let mut b = Browser::new(&app.address, UA);
    let t0 = app.clock.now();

    let t1 = rp.sign_in(&mut b, &[]).await;
    let id1 = t1.id.clone().unwrap();
    let old = jwt_header(&id1);
    assert_eq!(old["alg"], "ES256", "new orgs sign with ES256");
    let kid1 = old["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwt_header(&t1.access)["kid"], kid1.as_str());
    assert_eq!(kids(&jwks(&app, "acme").await), vec![kid1.clone()]);

    let key = app
        .state
        .keys
        .rotate(&org, Some(SigningAlg::Rs256), chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_ne!(key.kid, kid1);
    assert_eq!(key.alg, SigningAlg::Rs256);
    assert_eq!(key.activates_at, t0 + chrono::Duration::hours(1));
    // Published at once, not yet used.
    let published = kids(&jwks(&app, "acme").await);
    assert!(
        published.contains(&kid1) && published.contains(&key.kid),
        "{published:?}"
    );
    let t2 = Tokens::of(&rp.refresh(&t1.refresh).await);
    assert_eq!(jwt_header(&t2.access)["kid"], kid1.as_str());
    let t2b = rp.sign_in(&mut b, &[]).await;
    assert_eq!(jwt_header(t2b.id.as_deref().unwrap())["kid"], kid1.as_str());

    app.clock.advance(minutes(61));
    let t3 = rp.sign_in(&mut b, &[]).await;
    let id3 = t3.id.clone().unwrap();
    let new = jwt_header(&id3);
    assert_eq!(new["kid"], key.kid.as_str());
    assert_eq!(new["alg"], "RS256");
    assert_eq!(jwt_header(&t3.access)["kid"], key.kid.as_str());
    let t4 = Tokens::of(&rp.refresh(&t2.refresh).await);
    assert_eq!(jwt_header(&t4.access)["kid"], key.kid.as_str());

    // Both tokens verify against the published set (each at a time it was valid).
    let set: CoreJsonWebKeySet = serde_json::from_value(jwks(&app, "acme").await).unwrap();
    let verify = |token: &str, at: chrono::DateTime<chrono::Utc>, nonce: &str| {
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(rp.client_id.clone()),
            ClientSecret::new(rp.secret.clone().unwrap()),
            IssuerUrl::new(rp.issuer.clone()).unwrap(),
            set.clone(),
        )
        .set_allowed_algs(vec![
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ])
        .set_time_fn(move || at);
        let nonce = Nonce::new(nonce.to_owned());
        CoreIdToken::from_str(token)
            .unwrap()
            .claims(&verifier, &nonce)
            .map(|c| c.subject().as_str().to_owned())
    };
    let sub_old = verify(&id1, t0 + minutes(1), "n-1").unwrap();
    let sub_new = verify(&id3, app.clock.now(), "n-1").unwrap();
    assert_eq!(sub_old, sub_new);

    // The old key stays published for 24 hours after the new one took over, then goes.
    app.clock.advance(chrono::Duration::hours(22));
    assert!(kids(&jwks(&app, "acme").await).contains(&kid1));
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(kids(&jwks(&app, "acme").await), vec![key.kid.clone()]);
});

both_backends!(discovery_document_and_jwks, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = app
        .state
        .orgs
        .create("acme", Some("Acme"), "test")
        .await
        .unwrap();
    let globex = app
        .state
        .orgs
        .create("globex", Some("Globex"), "test")
        .await
        .unwrap();
    let issuer = app.issuer("acme");
    let res = app
        .client
        .get(format!(
            "{}/o/acme/.well-known/openid-configuration",
            app.address
        ))
        .send()
        .await
        .unwrap();
    let doc = Answer::read(res).await;
    assert_eq!(doc.status, 200, "{doc:?}");
    assert!(doc.header("content-type").starts_with("application/json"));
    let d = &doc.json;
    assert_eq!(d["issuer"], issuer.as_str());
    for (field, path) in [
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("jwks_uri", "jwks"),
        ("introspection_endpoint", "introspect"),
        ("revocation_endpoint", "revoke"),
    ] {
        assert_eq!(d[field], format!("{issuer}/{path}").as_str(), "{field}");
    }
    let list = |field: &str| -> Vec<String> {
        d[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} in {d}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(list("response_types_supported"), vec!["code"]);
    assert_eq!(list("code_challenge_methods_supported"), vec!["S256"]);
    let algs = list("id_token_signing_alg_values_supported");
    assert!(
        algs.contains(&"ES256".into()) && algs.contains(&"RS256".into()),
        "{algs:?}"
    );
    assert!(!algs.contains(&"none".into()), "{algs:?}");
    let auth = list("token_endpoint_auth_methods_supported");
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(auth.contains(&m.into()), "{m}: {auth:?}");
    }
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(list("subject_types_supported").contains(&"public".into()));
    let scopes = list("scopes_supported");
    for s in ["openid", "email", "profile"] {
        assert!(scopes.contains(&s.into()), "{s}: {scopes:?}");
    }
    let grants = list("grant_types_supported");
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.contains(&g.into()), "{g}: {grants:?}");
    }

    // Each org is an issuer of its own; unknown orgs have none.
    let g = app
        .get("/o/globex/.well-known/openid-configuration")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(g["issuer"], app.issuer("globex").as_str());
    assert_eq!(
        app.get("/o/nope/.well-known/openid-configuration")
            .await
            .status(),
        404
    );

    // JWKS: public halves only, one set per org.
    let rsa = app
        .state
        .keys
        .rotate(&acme, Some(SigningAlg::Rs256), chrono::Duration::zero())
        .await
        .unwrap();
    let ec = app
        .state
        .keys
        .rotate(&globex, Some(SigningAlg::Es256), chrono::Duration::zero())
        .await
        .unwrap();
    let a = jwks(&app, "acme").await;
    let b = jwks(&app, "globex").await;
    let key_of = |set: &Value, kid: &str| -> Value {
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .cloned()
            .unwrap_or_else(|| panic!("{kid} in {set}"))
    };
    let k = key_of(&a, &rsa.kid);
    assert_eq!(
        [&k["kty"], &k["alg"], &k["use"]],
        [
            &Value::from("RSA"),
            &Value::from("RS256"),
            &Value::from("sig")
        ],
        "{k}"
    );
    assert!(k["n"].is_string() && k["e"].is_string(), "{k}");
    let k = key_of(&b, &ec.kid);
    assert_eq!(
        [&k["kty"], &k["crv"], &k["alg"], &k["use"]],
        [
            &Value::from("EC"),
            &Value::from("P-256"),
            &Value::from("ES256"),
            &Value::from("sig")
        ],
        "{k}"
    );
    assert!(k["x"].is_string() && k["y"].is_string(), "{k}");
    for set in [&a, &b] {
        for key in set["keys"].as_array().unwrap() {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{private} published: {key}");
            }
        }
    }
    assert!(!kids(&a).contains(&ec.kid) && !kids(&b).contains(&rsa.kid));

    // A real relying party accepts both documents and key sets.
    let http = rp_http();
    for org in ["acme", "globex"] {
        let m =
            CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer(org)).unwrap(), &http)
                .await
                .unwrap();
        assert!(!m.jwks().keys().is_empty(), "{org}");
    }
});

both_backends!(client_credentials_for_service_apps, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = app
        .state
        .orgs
        .create("acme", Some("Acme"), "test")
        .await
        .unwrap();
    let svc = Rp::register(&app, &org, CreateApp::new("Worker", AppType::Service)).await;
    let secret = svc.secret.clone().expect("service apps are confidential");

    let answer = svc.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("cache-control"), "no-store");
    assert!(
        answer.str("token_type").eq_ignore_ascii_case("bearer"),
        "{answer:?}"
    );
    assert!(answer.json["expires_in"].as_i64().unwrap() > 0);
    assert!(answer.json.get("refresh_token").is_none(), "{answer:?}");
    assert!(answer.json.get("id_token").is_none(), "{answer:?}");
    let at = answer.str("access_token");
    assert_eq!(jwt_header(&at)["typ"], "at+jwt");
    let claims = jwt_claims(&at);
    assert_eq!(claims["client_id"], svc.client_id.as_str());
    assert_eq!(claims["iss"], app.issuer("acme").as_str());
    assert!(claims["sub"].is_string(), "{claims}");
    let intro = svc.introspect(&at).await;
    assert_eq!(intro.status, 200, "{intro:?}");
    assert_eq!(intro.json["active"], true, "{intro:?}");
    assert_eq!(intro.json["client_id"], svc.client_id.as_str());

    // client_secret_post works as well.
    let res = app
        .client
        .post(format!("{}/o/acme/token", app.address))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", svc.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Bad or missing client authentication.
    let unauthorized = |a: &Answer| {
        a.assert_error(401, "invalid_client");
        assert!(!a.header("www-authenticate").is_empty(), "{a:?}");
        assert_eq!(a.header("cache-control"), "no-store");
    };
    let wrong = svc.with_credentials(&svc.client_id, Some("not-the-secret"));
    unauthorized(&wrong.token(&[("grant_type", "client_credentials")]).await);
    let unknown = svc.with_credentials("no-such-client", Some(&secret));
    unauthorized(&unknown.token(&[("grant_type", "client_credentials")]).await);
    let res = app
        .client
        .post(format!("{}/o/acme/token", app.address))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    unauthorized(&Answer::read(res).await);
    assert_eq!(wrong.introspect(&at).await.status, 401);

    // Grants the app may not use, and grants nobody may.
    let web = Rp::web(&app, &org, "web").await;
    let a = web.token(&[("grant_type", "client_credentials")]).await;
    a.assert_error(400, "unauthorized_client");
    assert_eq!(a.header("cache-control"), "no-store");
    svc.token(&[
        ("grant_type", "password"),
        ("username", EMAIL),
        ("password", PASSWORD),
    ])
    .await
    .assert_error(400, "unsupported_grant_type");

    // The token expires.
    app.clock.advance(chrono::Duration::seconds(
        answer.json["expires_in"].as_i64().unwrap() + 1,
    ));
    assert!(!svc.active(&at).await);
});
