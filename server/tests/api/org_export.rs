//! Org export and import (issue 21): an org exported from one backend and imported into a
//! fresh database on the other signs its user in with the same password and passkey and shows
//! identical apps through the admin API; signing keys move only sealed for the target; an import
//! that is refused (existing slug, ids already here, unknown version, a value the API would
//! refuse, a key sealed for another deployment) writes nothing; and the CLI does it through
//! files and pipes.

use crate::browser::Browser;
use crate::helpers::{Answer, Backend, TEST_KEY_ENCRYPTION_KEY, TestApp};
use crate::signin::{EMAIL, PASSWORD, acme};
use crate::webauthn::{Key, body, enrol, finish, start};
use portcullis::apps::{AcsRequest, AppType, CreateApp, SamlRequest};
use portcullis::email::{Template, TemplateKind};
use portcullis::export::{OrgExport, OrgTransfer, TransferError};
use portcullis::keys::KeyEncryptionKey;
use portcullis::sessions::{MfaPolicy, SessionPolicy};
use portcullis::tenancy::Org;
use serde_json::{Value, json};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/// The key-encryption key of a target deployment that differs from the source's.
const TARGET_KEK: &str = "dGFyZ2V0LWRlcGxveW1lbnQta2V5LWVuY3J5cHRpb24=";

/// The backend a test's org moves to: the other one (PostgreSQL from SQLite when its URLs are
/// set, else another SQLite database).
fn other(backend: &Backend) -> Backend {
    match backend {
        Backend::Embedded => Backend::external().unwrap_or(Backend::Embedded),
        Backend::External { .. } => Backend::Embedded,
    }
}

fn kek(raw: &str) -> KeyEncryptionKey {
    KeyEncryptionKey::from_base64(raw).unwrap()
}

async fn export(app: &TestApp, target: Option<&KeyEncryptionKey>) -> OrgExport {
    let k = kek(TEST_KEY_ENCRYPTION_KEY);
    transfer(app, &k)
        .export("acme", target, "test")
        .await
        .unwrap()
}

fn transfer<'a>(app: &'a TestApp, kek: &'a KeyEncryptionKey) -> OrgTransfer<'a> {
    OrgTransfer {
        store: &app.state.store,
        apps: &app.state.apps,
        clock: &app.state.clock,
        kek,
        public_url: app.state.config.public_url(),
    }
}

async fn import(
    app: &TestApp,
    kek_raw: &str,
    file: &OrgExport,
    slug: Option<&str>,
) -> Result<Org, TransferError> {
    let k = kek(kek_raw);
    // Through the text, as a file would go.
    let parsed = OrgTransfer::parse(&serde_json::to_string(file).unwrap())?;
    transfer(app, &k).import(parsed, slug, "test").await
}

/// Acme with Alice (password and passkey, two recovery codes), a custom session policy, an
/// email template, a web app with every URI and custom rules, a third-party app she consented
/// to, a SAML app and a service app with the admin role (its secret returned).
async fn rich_org(app: &TestApp, key: &mut Key) -> (Org, String, String) {
    let org = acme(app).await;
    enrol(app, key, "passkey").await;
    let policy = SessionPolicy {
        idle_timeout_secs: 1800,
        absolute_lifetime_secs: 7200,
        remember_me_allowed: false,
        remember_me_lifetime_secs: 86400,
        mfa: MfaPolicy::Off,
    };
    app.state
        .sessions
        .set_policy(org.id, policy, "test")
        .await
        .unwrap();
    let template = Template {
        subject: "Acme notice".into(),
        text: "Hello {{email}}: {{message}}".into(),
        html: "<p>{{message}}</p>".into(),
    };
    app.state
        .email
        .set_template(org.id, TemplateKind::Notice, Some(&template), "test")
        .await
        .unwrap();
    let mut web = CreateApp::new("Shop", AppType::Web);
    web.redirect_uris = vec![
        "https://shop.example/cb".into(),
        "http://127.0.0.1:9/cb".into(),
    ];
    web.post_logout_redirect_uris = vec!["https://shop.example/bye".into()];
    web.backchannel_logout_uri = Some("http://127.0.0.1:9/backchannel".into());
    web.frontchannel_logout_uri = Some("https://shop.example/front".into());
    web.session_profile = portcullis::apps::SessionProfile::Privileged;
    web.access_token_ttl_secs = Some(600);
    app.state.apps.create(&org, web, "test").await.unwrap();
    let mut third = CreateApp::new("Partner", AppType::Spa);
    third.redirect_uris = vec!["https://partner.example/cb".into()];
    third.first_party = false;
    let (partner, _) = app.state.apps.create(&org, third, "test").await.unwrap();
    let user = crate::signin::user_id(app, &org).await;
    let now = app.state.clock.now();
    let store = &app.state.store;
    store
        .grant_consent(org.id, user, partner.id, "openid email", now)
        .await
        .unwrap();
    let codes = ["a", "b"].map(|c| portcullis::secrets::sha256_hex(&format!("{user}:{c}")));
    store
        .replace_recovery_codes(org.id, user, &codes, now)
        .await
        .unwrap();
    let saml = CreateApp {
        saml: Some(SamlRequest {
            sp_entity_id: "https://wiki.example/saml".into(),
            acs_urls: vec![AcsRequest {
                url: "https://wiki.example/acs".into(),
                binding: None,
                index: None,
            }],
            ..SamlRequest::default()
        }),
        ..CreateApp::new("Wiki", AppType::Saml)
    };
    app.state.apps.create(&org, saml, "test").await.unwrap();
    let mut service = CreateApp::new("Automation", AppType::Service);
    service.admin = true;
    let (service, secret) = app.state.apps.create(&org, service, "test").await.unwrap();
    (org, service.client_id, secret.unwrap())
}

/// An admin API token of the service app, by client credentials at `app`.
async fn admin_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let res = app
        .client
        .post(format!("{}/o/acme/token", app.address))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let answer = Answer::read(res).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.str("access_token")
}

async fn apps_seen_by_admin_api(app: &TestApp, token: &str) -> Value {
    let res = app
        .client
        .get(format!(
            "{}/api/v1/orgs/acme/apps?per_page=100",
            app.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let answer = Answer::read(res).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json["items"].clone()
}

/// The parts of two exports that must be equal (not when or where they were taken).
fn content(file: &OrgExport) -> Value {
    let mut v = serde_json::to_value(file).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("exported_at");
    obj.remove("source_issuer");
    v
}

both_backends!(
    an_org_moves_to_the_other_backend_and_signs_in_there,
    |backend| {
        let source = TestApp::spawn(&backend).await;
        let mut key = Key::new();
        let (org, client_id, secret) = rich_org(&source, &mut key).await;
        let file = export(&source, None).await;
        let counts = file.counts();
        assert_eq!(
            (counts.users, counts.apps, counts.webauthn_credentials),
            (1, 4, 1)
        );
        assert_eq!(
            (
                counts.recovery_codes,
                counts.consents,
                counts.email_templates
            ),
            (2, 1, 1)
        );
        assert!(file.signing_keys.is_none());
        let text = serde_json::to_string(&file).unwrap();
        assert!(text.contains("$argon2id$"), "the password hash travels");
        assert!(
            !text.contains(&secret),
            "the client secret does not, only its hash"
        );
        assert!(!text.contains(PASSWORD));

        let target = TestApp::spawn(&other(&backend)).await;
        let imported = import(&target, TEST_KEY_ENCRYPTION_KEY, &file, None)
            .await
            .unwrap();
        assert_eq!((imported.id, imported.slug.as_str()), (org.id, "acme"));
        // What the target holds is what the source held, row for row.
        assert_eq!(content(&export(&target, None).await), content(&file));

        // The user signs in with the same password through the hosted page (MFA off by the
        // imported policy) ...
        let mut b = Browser::new(&target.address, UA);
        let signed_in = b.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert!(b.session("acme").is_some());
        assert_eq!(b.get("/o/acme/account").await.status, 200);
        // ... and with the same passkey, passwordless.
        let mut b = Browser::new(&target.address, UA);
        b.get("/o/acme/login").await;
        let (flow, options) = start(&mut b, "passkey-login", "passkey").await;
        let answer = key.assert(&options);
        let done = finish(&mut b, "acme", "passkey-login", &flow, &answer).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(b.session("acme").is_some(), "{:?}", body(&done));

        // The apps' settings are identical through the admin API, reached with the service app's
        // same client secret on both sides.
        let at_source =
            apps_seen_by_admin_api(&source, &admin_token(&source, &client_id, &secret).await).await;
        let at_target =
            apps_seen_by_admin_api(&target, &admin_token(&target, &client_id, &secret).await).await;
        assert_eq!(at_source.as_array().unwrap().len(), 4, "{at_source}");
        assert_eq!(at_source, at_target);
        let policy = target.state.sessions.policy(org.id).await.unwrap();
        assert_eq!(policy.idle_timeout_secs, 1800);
        assert_eq!(policy.mfa, MfaPolicy::Off);
    }
);

both_backends!(signing_keys_move_only_sealed_for_the_target, |backend| {
    let source = TestApp::spawn(&backend).await;
    let org = acme(&source).await;
    // The org's first JOSE key and its SAML key, made on first use.
    let jwks: Value = serde_json::from_str(&source.state.keys.jwks(org.id).await.unwrap()).unwrap();
    let saml = source.state.keys.saml_keys(org.id).await.unwrap();
    let target_kek = kek(TARGET_KEK);
    let file = export(&source, Some(&target_kek)).await;
    let keys = file.signing_keys.clone().unwrap();
    assert_eq!(keys.len(), 1);
    // Sealed for the target: the source's own key does not open it.
    let k = kek(TEST_KEY_ENCRYPTION_KEY);
    assert!(k.check_imported(org.id, &keys[0]).is_err());
    assert!(target_kek.check_imported(org.id, &keys[0]).is_ok());

    // A deployment with another key-encryption key refuses it, and writes nothing.
    let wrong = TestApp::spawn(&other(&backend)).await;
    let before = wrong.state.store.count_orgs().await.unwrap();
    let err = import(&wrong, TEST_KEY_ENCRYPTION_KEY, &file, None)
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Keys(_)), "{err}");
    assert_eq!(wrong.state.store.count_orgs().await.unwrap(), before);

    // The target signs with the same keys: same JWKS, same SAML certificate.
    let target = TestApp::spawn_with(&other(&backend), |f| {
        f.merge(("keys.encryption_key", TARGET_KEK))
    })
    .await;
    import(&target, TARGET_KEK, &file, None).await.unwrap();
    let moved: Value =
        serde_json::from_str(&target.state.keys.jwks(org.id).await.unwrap()).unwrap();
    assert_eq!(moved, jwks);
    let moved_saml = target.state.keys.saml_keys(org.id).await.unwrap();
    assert_eq!(moved_saml.published, saml.published);
    // A token signed at the target verifies with the source's published key.
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let (token, _) = target
        .state
        .keys
        .sign(
            org.id,
            "JWT",
            &json!({ "sub": "x", "exp": 4_000_000_000u64 }),
        )
        .await
        .unwrap();
    assert_eq!(crate::helpers::jwt_header(&token)["kid"], kid);
    source
        .state
        .keys
        .verify::<Value>(org.id, &token, "JWT")
        .await
        .unwrap();
});

both_backends!(a_refused_import_writes_nothing, |backend| {
    let source = TestApp::spawn(&backend).await;
    let mut key = Key::new();
    rich_org(&source, &mut key).await;
    let file = export(&source, None).await;
    let target = TestApp::spawn(&other(&backend)).await;
    let orgs = target.state.store.count_orgs().await.unwrap();
    let refused = |f: OrgExport| {
        let target = &target;
        async move {
            import(target, TEST_KEY_ENCRYPTION_KEY, &f, None)
                .await
                .unwrap_err()
        }
    };

    // Values the admin API would refuse.
    let mut bad = file.clone();
    bad.apps[0]
        .redirect_uris
        .push("http://shop.example/plain-http".into());
    assert!(matches!(refused(bad).await, TransferError::Invalid { .. }));
    let mut bad = file.clone();
    bad.users[0].password_hash =
        Some("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into());
    assert!(matches!(refused(bad).await, TransferError::Invalid { .. }));
    let mut bad = file.clone();
    bad.users[0].webauthn_credentials[0].credential_id = "AAAA".into();
    assert!(matches!(refused(bad).await, TransferError::Invalid { .. }));
    let mut bad = file.clone();
    bad.email_templates[0].html = "<p>{{password}}</p>".into();
    assert!(matches!(refused(bad).await, TransferError::Invalid { .. }));
    let mut bad = file.clone();
    bad.apps[0].settings.access_token_ttl_secs = 999_999;
    assert!(matches!(refused(bad).await, TransferError::Invalid { .. }));
    // Another version of the format.
    let mut text: Value = serde_json::to_value(&file).unwrap();
    text["version"] = json!(2);
    let err = OrgTransfer::parse(&text.to_string()).unwrap_err();
    assert!(matches!(err, TransferError::UnsupportedVersion(_)), "{err}");
    assert_eq!(target.state.store.count_orgs().await.unwrap(), orgs);

    // Imported once; the same slug again is refused, and so are the same ids under another
    // slug: the org row goes in first, the apps' ids collide after it, and the transaction
    // leaves nothing behind.
    import(&target, TEST_KEY_ENCRYPTION_KEY, &file, None)
        .await
        .unwrap();
    let err = refused(file.clone()).await;
    assert!(
        matches!(err, TransferError::SlugTaken(ref s) if s == "acme"),
        "{err}"
    );
    let mut copy = file.clone();
    copy.org.id = uuid::Uuid::now_v7();
    let err = import(&target, TEST_KEY_ENCRYPTION_KEY, &copy, Some("acme-copy"))
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::IdsTaken), "{err}");
    let slug = portcullis::tenancy::OrgSlug::parse("acme-copy").unwrap();
    assert!(
        target
            .state
            .store
            .org_by_slug(&slug)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        target
            .state
            .store
            .org_by_id(portcullis::tenancy::OrgId(copy.org.id))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(target.state.store.count_orgs().await.unwrap(), orgs + 1);
});

both_backends!(
    the_cli_exports_and_imports_through_files_and_pipes,
    |backend| {
        let source = TestApp::spawn(&backend).await;
        let org = acme(&source).await;
        source.state.keys.jwks(org.id).await.unwrap();
        let cli = source.cli();
        let out = cli.run(&["org", "export", "acme"]).await;
        assert!(out.success, "{}", out.stderr);
        let file: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            (file["format"].as_str(), file["version"].as_u64()),
            (Some("portcullis-org-export"), Some(1))
        );
        assert!(file.get("signing_keys").is_none());
        // --with-keys needs the target's key.
        assert!(
            !cli.run(&["org", "export", "acme", "--with-keys"])
                .await
                .success
        );

        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("target.key");
        std::fs::write(&key_file, TARGET_KEK).unwrap();
        let out_file = dir.path().join("acme.json");
        let out = cli
            .run(&[
                "org",
                "export",
                "acme",
                "--with-keys",
                "--target-key-file",
                key_file.to_str().unwrap(),
                "-o",
                out_file.to_str().unwrap(),
                "--json",
            ])
            .await;
        assert!(out.success, "{}", out.stderr);
        let summary: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(summary["counts"]["signing_keys"], 1, "{summary}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Into a deployment with the target key: by file, then (another slug refused: same ids).
        let target = TestApp::spawn_with(&other(&backend), |f| {
            f.merge(("keys.encryption_key", TARGET_KEK))
        })
        .await;
        let tcli = target
            .cli()
            .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", TARGET_KEK);
        let out = tcli
            .run(&["org", "import", out_file.to_str().unwrap(), "--json"])
            .await;
        assert!(out.success, "{}", out.stderr);
        let done: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(done["id"], org.id.to_string());
        assert_eq!(done["counts"]["users"], 1);
        let out = tcli
            .run_with_stdin(
                &["org", "import", "--slug", "acme2", "--json"],
                Some(&std::fs::read_to_string(&out_file).unwrap()),
            )
            .await;
        assert!(!out.success);
        assert!(out.stderr.contains("ids are kept"), "{}", out.stderr);

        // By pipe, without keys, into yet another database.
        let third = TestApp::spawn(&backend).await;
        let plain = cli.run(&["org", "export", "acme"]).await.stdout;
        let out = third
            .cli()
            .run_with_stdin(&["org", "import", "-", "--json"], Some(&plain))
            .await;
        assert!(out.success, "{}", out.stderr);
        let out = third
            .cli()
            .run_with_stdin(&["org", "import", "--json"], Some(&plain))
            .await;
        assert!(!out.success);
        assert!(out.stderr.contains("exists already"), "{}", out.stderr);
        let mut b = Browser::new(&third.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        assert!(b.session("acme").is_some());
    }
);
