//! DPoP (RFC 9449) over real HTTP: proofs made here with a real P-256 key (ring), tokens bound
//! to it at the token endpoint, userinfo and introspection honouring the binding, every
//! refusal of a bad proof (replayed, another method or URL, an old `iat`, a wrong `ath`,
//! another key), public clients' refresh tokens bound to the key, apps that require DPoP or a
//! server nonce, discovery, and 503 while the cache that remembers `jti`s is away.

use crate::browser::Browser;
use crate::helpers::{Answer, Rp, TestApp, jwt_claims, org_with_alice, pkce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::apps::{AppType, CreateApp, DpopRules};
use portcullis::clock::Clock;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A client's DPoP key (P-256) and the proofs it makes.
struct DpopKey(EcdsaKeyPair);

impl DpopKey {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng).unwrap(),
        )
    }

    fn xy(&self) -> (String, String) {
        let p = self.0.public_key().as_ref();
        (
            URL_SAFE_NO_PAD.encode(&p[1..33]),
            URL_SAFE_NO_PAD.encode(&p[33..]),
        )
    }

    /// The RFC 7638 thumbprint, computed here from the members in lexical order.
    fn thumbprint(&self) -> String {
        let (x, y) = self.xy();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A proof of `claims` (a fresh `jti` unless given).
    fn sign(&self, mut claims: Value) -> String {
        let (x, y) = self.xy();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256",
            "jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y}});
        if claims.get("jti").is_none() {
            claims["jti"] = uuid::Uuid::new_v4().to_string().into();
        }
        let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.0.sign(&SystemRandom::new(), jws.as_bytes()).unwrap();
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        jws
    }

    /// A proof for `htm` `htu` at the node's time, over `token` when given, with `nonce`.
    fn proof(
        &self,
        app: &TestApp,
        htm: &str,
        htu: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({"htm": htm, "htu": htu, "iat": app.clock.now().timestamp()});
        if let Some(t) = token {
            claims["ath"] = URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())).into();
        }
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        self.sign(claims)
    }
}

fn token_url(rp: &Rp) -> String {
    format!("{}/token", rp.issuer)
}

fn userinfo_url(rp: &Rp) -> String {
    format!("{}/userinfo", rp.issuer)
}

/// A token request of `rp` with these `DPoP` headers.
async fn token(app: &TestApp, rp: &Rp, form: &[(&str, &str)], proofs: &[&str]) -> Answer {
    let mut form = form.to_vec();
    let mut req = app
        .client
        .post(format!("{}/o/{}/token", app.address, rp.org));
    match &rp.secret {
        Some(secret) => req = req.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", &rp.client_id)),
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    Answer::read(req.form(&form).send().await.unwrap()).await
}

/// /userinfo with `Authorization: {scheme} {token}` and these `DPoP` headers.
async fn userinfo(app: &TestApp, rp: &Rp, scheme: &str, at: &str, proofs: &[&str]) -> Answer {
    let mut req = app
        .client
        .get(format!("{}/o/{}/userinfo", app.address, rp.org))
        .header("Authorization", format!("{scheme} {at}"));
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    Answer::read(req.send().await.unwrap()).await
}

/// Signs in in a fresh browser and exchanges the code with a proof by `key` (if any).
async fn sign_in(app: &TestApp, rp: &Rp, key: Option<&DpopKey>) -> Answer {
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
    let proof = key.map(|k| k.proof(app, "POST", &token_url(rp), None, None));
    let proofs: Vec<&str> = proof.iter().map(String::as_str).collect();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    token(app, rp, &form, &proofs).await
}

async fn spa(app: &TestApp, org: &portcullis::tenancy::Org, dpop: DpopRules) -> Rp {
    let mut req = CreateApp::new("Dashboard", AppType::Spa);
    req.redirect_uris = vec!["http://localhost:5173/callback".into()];
    req.dpop = dpop;
    Rp::register(app, org, req).await
}

/// A refused proof at a resource endpoint: 401, the error, and a DPoP challenge naming it.
#[track_caller]
fn assert_dpop_refusal(a: &Answer, error: &str, why: &str) {
    assert_eq!((a.status, a.error()), (401, error), "{why}: {a:?}");
    let challenge = a.header("www-authenticate");
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains(&format!("error=\"{error}\"")),
        "{why}: {challenge}"
    );
}

both_backends!(
    code_flow_binds_the_tokens_and_userinfo_checks_every_proof,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = spa(&app, &org, DpopRules::default()).await;
        let key = DpopKey::new();

        let answer = sign_in(&app, &rp, Some(&key)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.str("token_type"), "DPoP");
        let at = answer.str("access_token");
        assert_eq!(jwt_claims(&at)["cnf"]["jkt"], key.thumbprint());
        let ui = userinfo_url(&rp);

        // The bound token with a proof by its key over it: the claims.
        let good = key.proof(&app, "GET", &ui, Some(&at), None);
        let ok = userinfo(&app, &rp, "DPoP", &at, &[&good]).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert!(!ok.str("sub").is_empty());
        // The same proof again: a replay.
        let again = userinfo(&app, &rp, "DPoP", &at, &[&good]).await;
        assert_dpop_refusal(&again, "invalid_dpop_proof", "a replayed proof");
        assert!(again.str("error_description").contains("used before"));

        // As a bearer token: refused with a DPoP challenge, proof or not.
        let bearer = userinfo(&app, &rp, "Bearer", &at, &[]).await;
        assert_dpop_refusal(&bearer, "invalid_token", "a bound token as Bearer");
        let fresh = key.proof(&app, "GET", &ui, Some(&at), None);
        let bearer = userinfo(&app, &rp, "Bearer", &at, &[&fresh]).await;
        assert_dpop_refusal(
            &bearer,
            "invalid_token",
            "a bound token as Bearer with a proof",
        );

        // The DPoP scheme without a proof, or with a bad one.
        let none = userinfo(&app, &rp, "DPoP", &at, &[]).await;
        assert_dpop_refusal(&none, "invalid_dpop_proof", "no proof");
        let cases = [
        (key.proof(&app, "GET", &ui, Some("another-token"), None), "a wrong ath"),
        (key.proof(&app, "GET", &ui, None, None), "no ath"),
        (key.proof(&app, "POST", &ui, Some(&at), None), "a wrong htm"),
        (key.proof(&app, "GET", &token_url(&rp), Some(&at), None), "a wrong htu"),
        (
            key.proof(&app, "GET", &format!("{}/o/other/userinfo", app.public_url()), Some(&at), None),
            "another org's htu",
        ),
        (DpopKey::new().proof(&app, "GET", &ui, Some(&at), None), "another key"),
        (
            key.sign(json!({"htm": "GET", "htu": ui, "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(at.as_bytes())),
                "iat": app.clock.now().timestamp() + 30})),
            "an iat ahead",
        ),
    ];
        for (proof, why) in &cases {
            let a = userinfo(&app, &rp, "DPoP", &at, &[proof]).await;
            assert_dpop_refusal(&a, "invalid_dpop_proof", why);
        }
        // Two DPoP headers, each valid on its own.
        let one = key.proof(&app, "GET", &ui, Some(&at), None);
        let two = key.proof(&app, "GET", &ui, Some(&at), None);
        let a = userinfo(&app, &rp, "DPoP", &at, &[&one, &two]).await;
        assert_dpop_refusal(&a, "invalid_dpop_proof", "two DPoP headers");
        // A proof made 61 s ago (the node's clock moved on): too old.
        let old = key.proof(&app, "GET", &ui, Some(&at), None);
        app.clock.advance(chrono::Duration::seconds(61));
        let a = userinfo(&app, &rp, "DPoP", &at, &[&old]).await;
        assert_dpop_refusal(&a, "invalid_dpop_proof", "an iat outside the window");
        assert!(a.str("error_description").contains("iat"));
        let now = key.proof(&app, "GET", &ui, Some(&at), None);
        assert_eq!(userinfo(&app, &rp, "DPoP", &at, &[&now]).await.status, 200);

        // An unbound token with the DPoP scheme is refused too; as Bearer it works.
        let plain = sign_in(&app, &rp, None).await;
        assert_eq!(plain.str("token_type"), "Bearer");
        let plain_at = plain.str("access_token");
        assert!(jwt_claims(&plain_at).get("cnf").is_none());
        let p = key.proof(&app, "GET", &ui, Some(&plain_at), None);
        let a = userinfo(&app, &rp, "DPoP", &plain_at, &[&p]).await;
        assert_dpop_refusal(&a, "invalid_token", "an unbound token with the DPoP scheme");
        assert_eq!(
            userinfo(&app, &rp, "Bearer", &plain_at, &[]).await.status,
            200
        );

        // No token at all: both schemes are offered.
        let res = app
            .client
            .get(format!("{}/o/acme/userinfo", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let challenges: Vec<&str> = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Bearer realm=")),
            "{challenges:?}"
        );
        assert!(
            challenges.iter().any(|c| c.starts_with("DPoP algs=\"")),
            "{challenges:?}"
        );

        // The admin API takes bearer tokens only: a bound token is not one.
        let verified = app.state.oidc.verify_access_token(&org, &at).await.unwrap();
        assert!(verified.is_none(), "a DPoP-bound token is no bearer token");
    }
);

both_backends!(
    token_endpoint_refuses_bad_proofs_and_apps_may_require_dpop,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rp = spa(
            &app,
            &org,
            DpopRules {
                required: true,
                nonce_required: false,
            },
        )
        .await;
        let key = DpopKey::new();
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
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let tu = token_url(&rp);
        // Without a proof: refused (the code is not spent by the refusal).
        token(&app, &rp, &form, &[])
            .await
            .assert_error(400, "invalid_dpop_proof");
        // Bad proofs.
        let wrong_htm = key.proof(&app, "GET", &tu, None, None);
        token(&app, &rp, &form, &[&wrong_htm])
            .await
            .assert_error(400, "invalid_dpop_proof");
        let wrong_htu = key.proof(&app, "POST", &userinfo_url(&rp), None, None);
        token(&app, &rp, &form, &[&wrong_htu])
            .await
            .assert_error(400, "invalid_dpop_proof");
        let other_host = key.proof(
            &app,
            "POST",
            &tu.replace("localhost", "127.0.0.1"),
            None,
            None,
        );
        token(&app, &rp, &form, &[&other_host])
            .await
            .assert_error(400, "invalid_dpop_proof");
        let stale_proof =
            key.sign(json!({"htm": "POST", "htu": tu, "iat": app.clock.now().timestamp() - 61}));
        token(&app, &rp, &form, &[&stale_proof])
            .await
            .assert_error(400, "invalid_dpop_proof");
        // A good one (scheme and host in another case, a query: the same endpoint).
        let good = key.proof(
            &app,
            "POST",
            &format!("HTTP://LOCALHOST{}?x=1", &tu["http://localhost".len()..]),
            None,
            None,
        );
        let ok = token(&app, &rp, &form, &[&good]).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.str("token_type"), "DPoP");
        // The same proof again, for the refresh: a replay.
        let refresh = ok.str("refresh_token");
        let rform = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        token(&app, &rp, &rform, &[&good])
            .await
            .assert_error(400, "invalid_dpop_proof");
        // A refresh without a proof: the app requires DPoP.
        token(&app, &rp, &rform, &[])
            .await
            .assert_error(400, "invalid_dpop_proof");
        let p = key.proof(&app, "POST", &tu, None, None);
        assert_eq!(token(&app, &rp, &rform, &[&p]).await.status, 200);

        // The rule is stored with the app's settings.
        let stored = app
            .state
            .store
            .app_by_client_id(org.id, &rp.client_id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.settings.dpop.required && !stored.settings.dpop.nonce_required);
    }
);

both_backends!(public_refresh_tokens_are_bound_to_the_key, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = spa(&app, &org, DpopRules::default()).await;
    let key = DpopKey::new();
    let first = sign_in(&app, &rp, Some(&key)).await;
    let refresh = first.str("refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let tu = token_url(&rp);

    // Another key, or none: refused, and the token stays good for the key's holder.
    let thief = DpopKey::new().proof(&app, "POST", &tu, None, None);
    token(&app, &rp, &form, &[&thief])
        .await
        .assert_error(400, "invalid_grant");
    token(&app, &rp, &form, &[])
        .await
        .assert_error(400, "invalid_dpop_proof");
    let p = key.proof(&app, "POST", &tu, None, None);
    let next = token(&app, &rp, &form, &[&p]).await;
    assert_eq!(next.status, 200, "{next:?}");
    assert_eq!(next.str("token_type"), "DPoP");
    assert_eq!(
        jwt_claims(&next.str("access_token"))["cnf"]["jkt"],
        key.thumbprint()
    );
    // And the successor is bound too (the long way: a narrower scope).
    let successor = next.str("refresh_token");
    let narrower = [
        ("grant_type", "refresh_token"),
        ("refresh_token", successor.as_str()),
        ("scope", "openid"),
    ];
    let thief = DpopKey::new().proof(&app, "POST", &tu, None, None);
    token(&app, &rp, &narrower, &[&thief])
        .await
        .assert_error(400, "invalid_grant");
    let p = key.proof(&app, "POST", &tu, None, None);
    assert_eq!(token(&app, &rp, &narrower, &[&p]).await.status, 200);
});

both_backends!(
    confidential_clients_bind_each_access_token_and_introspection_shows_it,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let web = Rp::web(&app, &org, "shop").await;
        let key = DpopKey::new();
        let answer = sign_in(&app, &web, Some(&key)).await;
        assert_eq!(answer.str("token_type"), "DPoP");
        let at = answer.str("access_token");
        let seen = web.introspect(&at).await;
        assert_eq!(seen.json["active"], true, "{seen:?}");
        assert_eq!(seen.str("token_type"), "DPoP");
        assert_eq!(seen.json["cnf"]["jkt"], key.thumbprint());
        // The refresh token of a confidential client is bound to its authentication (RFC 9449
        // §5): no proof gives a bearer token, another key a token bound to that key.
        let refresh = answer.str("refresh_token");
        let plain = web.refresh(&refresh).await;
        assert_eq!(plain.str("token_type"), "Bearer", "{plain:?}");
        let seen = web.introspect(&plain.str("access_token")).await;
        assert_eq!(seen.str("token_type"), "Bearer");
        assert!(seen.json.get("cnf").is_none());
        let other = DpopKey::new();
        let p = other.proof(&app, "POST", &token_url(&web), None, None);
        let rotated = token(
            &app,
            &web,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &plain.str("refresh_token")),
            ],
            &[&p],
        )
        .await;
        assert_eq!(rotated.status, 200, "{rotated:?}");
        assert_eq!(
            web.introspect(&rotated.str("access_token")).await.json["cnf"]["jkt"],
            other.thumbprint()
        );
    }
);

both_backends!(a_nonce_is_handed_out_and_required, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let rp = spa(
        &app,
        &org,
        DpopRules {
            required: false,
            nonce_required: true,
        },
    )
    .await;
    let key = DpopKey::new();
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
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let tu = token_url(&rp);
    let bare = key.proof(&app, "POST", &tu, None, None);
    let asked = token(&app, &rp, &form, &[&bare]).await;
    asked.assert_error(400, "use_dpop_nonce");
    let nonce = asked.header("dpop-nonce").to_owned();
    assert!(!nonce.is_empty(), "{asked:?}");
    let forged = key.proof(
        &app,
        "POST",
        &tu,
        None,
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    token(&app, &rp, &form, &[&forged])
        .await
        .assert_error(400, "use_dpop_nonce");
    let with = key.proof(&app, "POST", &tu, None, Some(&nonce));
    let ok = token(&app, &rp, &form, &[&with]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        !ok.header("dpop-nonce").is_empty(),
        "the next nonce comes with the tokens"
    );
    let at = ok.str("access_token");

    // Userinfo wants it too (RFC 9449 §9).
    let ui = userinfo_url(&rp);
    let p = key.proof(&app, "GET", &ui, Some(&at), None);
    let a = userinfo(&app, &rp, "DPoP", &at, &[&p]).await;
    assert_dpop_refusal(&a, "use_dpop_nonce", "no nonce at userinfo");
    let nonce = a.header("dpop-nonce").to_owned();
    assert!(!nonce.is_empty());
    let p = key.proof(&app, "GET", &ui, Some(&at), Some(&nonce));
    assert_eq!(userinfo(&app, &rp, "DPoP", &at, &[&p]).await.status, 200);

    // Another org's nonce is not this org's.
    let other_org = org_with_alice(&app, "other").await;
    let theirs = app.state.oidc.dpop_nonce(&other_org);
    let p = key.proof(&app, "GET", &ui, Some(&at), Some(&theirs));
    assert_dpop_refusal(
        &userinfo(&app, &rp, "DPoP", &at, &[&p]).await,
        "use_dpop_nonce",
        "another org's nonce",
    );

    // Two buckets later the nonce is stale: a new one is handed out.
    app.clock.advance(chrono::Duration::seconds(601));
    let refresh = ok.str("refresh_token");
    let rform = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let p = key.proof(&app, "POST", &tu, None, Some(&nonce));
    let stale = token(&app, &rp, &rform, &[&p]).await;
    stale.assert_error(400, "use_dpop_nonce");
    let fresh = stale.header("dpop-nonce").to_owned();
    assert_ne!(fresh, nonce);
    let p = key.proof(&app, "POST", &tu, None, Some(&fresh));
    assert_eq!(token(&app, &rp, &rform, &[&p]).await.status, 200);
});

both_backends!(discovery_and_cors_announce_dpop, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let _rp = spa(&app, &org, DpopRules::default()).await;
    let doc: Value = app
        .get("/o/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = doc["dpop_signing_alg_values_supported"]
        .as_array()
        .expect("dpop_signing_alg_values_supported")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(algs, ["ES256", "PS256", "RS256", "EdDSA"]);
    let res = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/o/acme/token", app.address),
        )
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "dpop")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("DPoP"), "{allowed}");
    let res = app
        .client
        .post(format!("{}/o/acme/token", app.address))
        .header("Origin", "http://localhost:5173")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("DPoP-Nonce"), "{exposed}");
});

both_backends!(
    a_cache_outage_is_503_never_a_verdict_on_the_proof,
    |backend| {
        let port = crate::helpers::free_port();
        let redis = crate::cache::RedisServer::start(port);
        let url = format!("redis://127.0.0.1:{port}");
        let prefix = format!("pctest:{}:", uuid::Uuid::new_v4().simple());
        let db = TestApp::spawn(&backend).await;
        let node_port = crate::helpers::free_port();
        let app = TestApp::spawn_on(&db.db_url, Some((url, prefix)), move |f| {
            f.merge(("cache.op_timeout_ms", 300))
                .merge(("http.bind", format!("127.0.0.1:{node_port}")))
                .merge(("http.public_url", format!("http://localhost:{node_port}")))
        })
        .await;
        assert!(
            crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
                app.state.cache.health().await == portcullis::store::cache::CacheHealth::Ok
            })
            .await
        );
        let org = org_with_alice(&app, "acme").await;
        let rp = spa(&app, &org, DpopRules::default()).await;
        let key = DpopKey::new();
        let answer = sign_in(&app, &rp, Some(&key)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let at = answer.str("access_token");
        let ui = userinfo_url(&rp);

        redis.signal("-STOP");
        let p = key.proof(&app, "GET", &ui, Some(&at), None);
        let a = userinfo(&app, &rp, "DPoP", &at, &[&p]).await;
        assert_eq!(
            (a.status, a.error()),
            (503, "temporarily_unavailable"),
            "{a:?}"
        );
        let refresh = answer.str("refresh_token");
        let p = key.proof(&app, "POST", &token_url(&rp), None, None);
        let t = token(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            &[&p],
        )
        .await;
        assert_eq!(
            (t.status, t.error()),
            (503, "temporarily_unavailable"),
            "{t:?}"
        );
        redis.signal("-CONT");

        // Back: a fresh proof works again (the refresh token was never spent).
        assert!(
            crate::helpers::eventually(std::time::Duration::from_secs(15), || async {
                let p = key.proof(&app, "GET", &ui, Some(&at), None);
                userinfo(&app, &rp, "DPoP", &at, &[&p]).await.status == 200
            })
            .await
        );
        let p = key.proof(&app, "POST", &token_url(&rp), None, None);
        let t = token(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            &[&p],
        )
        .await;
        assert_eq!(t.status, 200, "{t:?}");
    }
);
