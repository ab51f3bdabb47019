//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9): apps sign a JWT with
//! their own key, registered inline or published at a `jwks_uri` the server fetches.

use crate::helpers::{Answer, Rp, TestApp, org_with_alice};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::apps::{AppType, ClientAuthMethod, CreateApp};
use portcullis::clock::Clock;
use ring::signature::KeyPair;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A signing key of an app, with its public JWK.
pub(crate) struct TestKey {
    kid: String,
    alg: jsonwebtoken::Algorithm,
    encoding: jsonwebtoken::EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    /// A new P-256 key (ES256).
    pub fn es256(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        Self {
            kid: kid.to_owned(),
            alg: jsonwebtoken::Algorithm::ES256,
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    /// A new Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self {
            kid: kid.to_owned(),
            alg: jsonwebtoken::Algorithm::EdDSA,
            encoding: jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub(crate) fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// The claims of an assertion by `client_id` for `aud`, valid `exp_in` seconds from the test
/// clock's now.
fn claims(app: &TestApp, client_id: &str, aud: &str, exp_in: i64, jti: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + exp_in, "jti": jti })
}

/// POSTs `form` with the assertion to the org's `endpoint`.
async fn post_with(
    app: &TestApp,
    org: &str,
    endpoint: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> Answer {
    let mut all = form.to_vec();
    all.push((
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ));
    all.push(("client_assertion", assertion));
    let url = format!("{}/o/{org}/{endpoint}", app.address);
    Answer::read(app.client.post(url).form(&all).send().await.unwrap()).await
}

async fn service_app(app: &TestApp, org: &portcullis::tenancy::Org, req: CreateApp) -> Rp {
    let rp = Rp::register(app, org, req).await;
    assert!(
        rp.secret.is_some(),
        "a confidential app still gets a secret"
    );
    rp
}

both_backends!(
    private_key_jwt_authenticates_at_token_introspection_and_revocation,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let _other_org = org_with_alice(&app, "globex").await;
        let key = TestKey::es256("k1");
        let mut req = CreateApp::new("Batch", AppType::Service);
        req.client_auth = ClientAuthMethod::PrivateKeyJwt;
        req.jwks = Some(jwks(&[&key]));
        let rp = service_app(&app, &org, req).await;
        let id = rp.client_id.as_str();
        let token_aud = format!("{}/token", rp.issuer);
        let cc = [("grant_type", "client_credentials")];

        let first = key.sign(&claims(&app, id, &token_aud, 60, "j-1"));
        let answer = post_with(&app, "acme", "token", &first, &cc).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let access = answer.str("access_token");

        // The same assertion again: its jti was used.
        post_with(&app, "acme", "token", &first, &cc)
            .await
            .assert_error(401, "invalid_client");

        // The issuer itself is an audience too; a list of audiences may name it.
        let a = key.sign(
            &json!({"iss": id, "sub": id, "aud": ["https://other.example", rp.issuer],
        "exp": app.clock.now().timestamp() + 60, "jti": "j-2"}),
        );
        assert_eq!(post_with(&app, "acme", "token", &a, &cc).await.status, 200);

        // Refusals: all invalid_client, none of them used up a jti the next one needs.
        let refused = [
            (
                "another audience",
                key.sign(&claims(&app, id, "https://evil.example/token", 60, "r-1")),
            ),
            (
                "expired",
                key.sign(&claims(&app, id, &token_aud, -120, "r-2")),
            ),
            (
                "valid for an hour",
                key.sign(&claims(&app, id, &token_aud, 3600, "r-3")),
            ),
            (
                "no jti",
                key.sign(&json!({"iss": id, "sub": id, "aud": token_aud,
            "exp": app.clock.now().timestamp() + 60})),
            ),
            (
                "an unregistered key",
                TestKey::es256("k1").sign(&claims(&app, id, &token_aud, 60, "r-4")),
            ),
            (
                "iss is another app",
                key.sign(&json!({"iss": "someone-else", "sub": id,
            "aud": token_aud, "exp": app.clock.now().timestamp() + 60, "jti": "r-5"})),
            ),
            ("unsigned", {
                let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
                format!(
                    "{}.{}.",
                    enc(json!({"alg": "none"})),
                    enc(claims(&app, id, &token_aud, 60, "r-6"))
                )
            }),
        ];
        for (why, assertion) in &refused {
            let answer = post_with(&app, "acme", "token", assertion, &cc).await;
            assert_eq!(
                (answer.status, answer.error()),
                (401, "invalid_client"),
                "{why}: {answer:?}"
            );
        }
        // The assertion alone authenticates: the app's secret is refused for this app...
        rp.token(&cc).await.assert_error(401, "invalid_client");
        // ...and so is a secret sent beside an assertion.
        let both = key.sign(&claims(&app, id, &token_aud, 60, "j-3"));
        let secret = rp.secret.clone().unwrap();
        post_with(
            &app,
            "acme",
            "token",
            &both,
            &[cc[0], ("client_secret", &secret)],
        )
        .await
        .assert_error(401, "invalid_client");
        // Another org does not know the app.
        let elsewhere = key.sign(&claims(&app, id, &app.issuer("globex"), 60, "j-4"));
        post_with(&app, "globex", "token", &elsewhere, &cc)
            .await
            .assert_error(401, "invalid_client");

        // Introspection and revocation take it too.
        let intro = key.sign(&claims(
            &app,
            id,
            &format!("{}/introspect", rp.issuer),
            60,
            "j-5",
        ));
        let answer = post_with(&app, "acme", "introspect", &intro, &[("token", &access)]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json["active"], true, "{answer:?}");
        post_with(&app, "acme", "introspect", &intro, &[("token", &access)])
            .await
            .assert_error(401, "invalid_client");
        let revoke = key.sign(&claims(
            &app,
            id,
            &format!("{}/revoke", rp.issuer),
            60,
            "j-6",
        ));
        let answer = post_with(&app, "acme", "revoke", &revoke, &[("token", &access)]).await;
        assert_eq!(answer.status, 200, "{answer:?}");

        // A later assertion with a used jti is refused until it would have expired anyway.
        app.clock.advance(chrono::Duration::seconds(30));
        let again = key.sign(&claims(&app, id, &token_aud, 60, "j-1"));
        post_with(&app, "acme", "token", &again, &cc)
            .await
            .assert_error(401, "invalid_client");

        // Discovery says so.
        let doc: Value = app
            .get("/o/acme/.well-known/openid-configuration")
            .await
            .json()
            .await
            .unwrap();
        for field in [
            "token_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_methods_supported",
        ] {
            assert!(
                doc[field]
                    .as_array()
                    .unwrap()
                    .contains(&json!("private_key_jwt")),
                "{field}"
            );
        }
        assert!(
            doc["token_endpoint_auth_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("EdDSA"))
        );
    }
);

/// The app's JWK Set served on a loopback port, changeable by the test; counts the fetches.
struct JwksServer {
    uri: String,
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start(body: &Value) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(Mutex::new(body.to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let task = {
            let (body, fetches) = (body.clone(), fetches.clone());
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let text = body.lock().unwrap().clone();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.shutdown().await;
                }
            })
        };
        Self {
            uri: format!("http://127.0.0.1:{port}/jwks.json"),
            body,
            fetches,
            task,
        }
    }

    fn serve(&self, body: &Value) {
        *self.body.lock().unwrap() = body.to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

both_backends!(
    private_key_jwt_keys_at_a_jwks_uri_are_cached_and_fetched_again_for_a_new_kid,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let old = TestKey::ed25519("2026-01");
        let server = JwksServer::start(&jwks(&[&old])).await;
        let mut req = CreateApp::new("Reports", AppType::Service);
        req.client_auth = ClientAuthMethod::PrivateKeyJwt;
        req.jwks_uri = Some(server.uri.clone());
        let rp = service_app(&app, &org, req).await;
        let id = rp.client_id.as_str();
        let aud = format!("{}/token", rp.issuer);
        let cc = [("grant_type", "client_credentials")];
        let mut n = 0;
        let mut next = |key: &TestKey| {
            n += 1;
            key.sign(&claims(&app, id, &aud, 60, &format!("j-{n}")))
        };

        assert_eq!(
            post_with(&app, "acme", "token", &next(&old), &cc)
                .await
                .status,
            200
        );
        assert_eq!(
            post_with(&app, "acme", "token", &next(&old), &cc)
                .await
                .status,
            200
        );
        assert_eq!(server.fetches(), 1, "the set is fetched once, then cached");

        // The app rotates to a new key. Right after a fetch, an unknown kid does not fetch again
        // (random kids must not make us hammer the app)...
        let new = TestKey::ed25519("2026-02");
        server.serve(&jwks(&[&new]));
        post_with(&app, "acme", "token", &next(&new), &cc)
            .await
            .assert_error(401, "invalid_client");
        assert_eq!(server.fetches(), 1);
        // ...a little later it does, and the new key works.
        app.clock.advance(chrono::Duration::seconds(31));
        assert_eq!(
            post_with(&app, "acme", "token", &next(&new), &cc)
                .await
                .status,
            200
        );
        assert_eq!(server.fetches(), 2);
        // The old key is gone from the set: refused (the cached set is fresh, no new fetch).
        post_with(&app, "acme", "token", &next(&old), &cc)
            .await
            .assert_error(401, "invalid_client");

        // A set that stops answering: the cached copy goes on serving.
        server.serve(&json!("not a set"));
        app.clock.advance(chrono::Duration::seconds(400));
        assert_eq!(
            post_with(&app, "acme", "token", &next(&new), &cc)
                .await
                .status,
            200
        );
        let fetched = server.fetches();
        assert_eq!(fetched, 3, "a stale set is fetched again");
        // Requests right after a failed fetch do not fetch again (one try per 30 s, whatever
        // its outcome).
        for _ in 0..3 {
            let answer = post_with(&app, "acme", "token", &next(&new), &cc).await;
            assert_eq!(answer.status, 200, "{answer:?}");
        }
        assert_eq!(server.fetches(), fetched);
        // An hour after the last good fetch the stale copy no longer serves.
        app.clock.advance(chrono::Duration::seconds(3600));
        post_with(&app, "acme", "token", &next(&new), &cc)
            .await
            .assert_error(401, "invalid_client");
    }
);

both_backends!(
    private_key_jwt_is_set_through_the_admin_api_with_public_keys_only,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut req = CreateApp::new("Automation", AppType::Service);
        req.admin = true;
        let admin = Rp::register(&app, &org, req).await;
        let token = admin
            .token(&[("grant_type", "client_credentials")])
            .await
            .str("access_token");
        let create = |body: Value| {
            let (app, token) = (&app, token.clone());
            async move {
                let res = app
                    .client
                    .post(format!("{}/api/v1/orgs/acme/apps", app.address))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                Answer::read(res).await
            }
        };
        let key = TestKey::es256("k1");
        let answer = create(json!({"name": "Signed", "app_type": "service",
        "client_auth": "private_key_jwt", "jwks": jwks(&[&key]).to_string()}))
        .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        assert_eq!(answer.json["app"]["client_auth"], "private_key_jwt");
        let client_id = answer.json["app"]["client_id"].as_str().unwrap().to_owned();
        let assertion = key.sign(&claims(&app, &client_id, &app.issuer("acme"), 60, "j-1"));
        let cc = [("grant_type", "client_credentials")];
        assert_eq!(
            post_with(&app, "acme", "token", &assertion, &cc)
                .await
                .status,
            200
        );

        // A private key in the set, no keys at all, a public app, an unknown method: refused (422),
        // naming the field.
        let mut private = key.jwk.clone();
        private["d"] = json!("AAAA");
        for (body, field) in [
            (
                json!({"name": "X", "app_type": "service", "client_auth": "private_key_jwt",
            "jwks": json!({"keys": [private]}).to_string()}),
                "jwks",
            ),
            (
                json!({"name": "X", "app_type": "service", "client_auth": "private_key_jwt"}),
                "client_auth",
            ),
            (
                json!({"name": "X", "app_type": "spa", "redirect_uris": ["http://localhost:5173/cb"],
            "client_auth": "private_key_jwt", "jwks": jwks(&[&key]).to_string()}),
                "client_auth",
            ),
            (
                json!({"name": "X", "app_type": "service", "client_auth": "mtls"}),
                "client_auth",
            ),
            (
                json!({"name": "X", "app_type": "service", "client_auth": "private_key_jwt",
                    "jwks": json!({"keys": [{"kty": "RSA", "e": "AQAB",
                        "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128])}]}).to_string()}),
                "jwks",
            ),
        ] {
            let answer = create(body.clone()).await;
            assert_eq!(answer.status, 422, "{body}: {answer:?}");
            assert!(
                answer.json.to_string().contains(field),
                "{field}: {answer:?}"
            );
        }
    }
);
