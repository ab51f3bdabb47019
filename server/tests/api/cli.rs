//! The `portcullis` CLI (DESIGN §5), run as a real process against the test database.

use crate::helpers::TestApp;
use portcullis::clock::Clock;
use portcullis::tenancy::OrgId;
use portcullis_api_types::{AppCreated, OrgCreated, UserCreated};

both_backends!(cli_creates_org_user_and_app_as_documented, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cli = app.cli();

    let out = cli
        .run(&["org", "create", "acme", "--name", "Acme Inc", "--json"])
        .await;
    assert!(out.success, "{}", out.stderr);
    let org: OrgCreated = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(org.slug, "acme");
    assert_eq!(org.issuer, "http://localhost:8080/o/acme");
    // The running server sees the new org.
    assert_eq!(app.get("/o/acme/").await.status(), 200);

    let out = cli
        .run(&[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "A@Example.com",
            "--password",
            "correct horse battery",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let user: UserCreated = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(user.email, "a@example.com");

    // The stored hash is argon2id at OWASP parameters and verifies the password.
    let org_id = OrgId(org.id.parse().unwrap());
    let user_id = portcullis::accounts::UserId(user.id.parse().unwrap());
    let hash = app
        .state
        .store
        .user_password_hash(org_id, user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let pw = portcullis::accounts::Password::parse("correct horse battery").unwrap();
    assert!(
        app.state
            .accounts
            .hasher()
            .verify(&pw, &hash)
            .await
            .unwrap()
    );

    let out = cli
        .run(&[
            "app",
            "create",
            "--org",
            "acme",
            "--name",
            "web",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let created: AppCreated = serde_json::from_str(out.stdout.trim()).unwrap();
    let secret = created
        .client_secret
        .clone()
        .expect("web apps get a secret");
    assert!(secret.len() >= 43, "256-bit secret expected: {secret}");
    let stored = app
        .state
        .store
        .app_by_client_id(org_id, &created.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.redirect_uris[0].as_str(), "http://127.0.0.1:9000/cb");
    let acme = app.state.orgs.find("acme").await.unwrap();
    assert!(
        app.state
            .apps
            .verify_secret(&acme, &created.client_id, &secret)
            .await
            .unwrap()
    );
    assert!(
        !app.state
            .apps
            .verify_secret(&acme, &created.client_id, "wrong")
            .await
            .unwrap()
    );
    // Only a hash is stored, never the secret itself.
    let hash = app
        .state
        .store
        .app_secret_hash(org_id, &created.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(hash, secret);

    // Public clients get no secret.
    let out = cli
        .run(&[
            "app",
            "create",
            "--org",
            "acme",
            "--name",
            "spa",
            "--type",
            "spa",
            "--redirect-uri",
            "https://spa.example.com/cb",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let spa: AppCreated = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(spa.client_secret.is_none());

    // The password can come from stdin instead of the command line.
    let out = cli
        .run_with_stdin(
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "b@example.com",
                "--password-stdin",
                "--json",
            ],
            Some("another long password\n"),
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    // Every change left an audit event: org, its first signing key, two users, two apps.
    assert_eq!(app.state.store.count_audit_events(org_id).await.unwrap(), 6);
});

// Each refused command: non-zero exit, a message naming the problem, database unchanged.
both_backends!(cli_refuses_bad_input_and_changes_nothing, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cli = app.cli();
    let out = cli.run(&["org", "create", "acme", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    let acme = app.state.orgs.find("acme").await.unwrap();

    let snapshot = || async {
        (
            app.state.store.count_orgs().await.unwrap(),
            app.state.store.count_users(acme.id).await.unwrap(),
            app.state.store.count_apps(acme.id).await.unwrap(),
            app.state.store.count_audit_events(acme.id).await.unwrap(),
        )
    };
    let before = snapshot().await;

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["org", "create", "acme"], "already exists"),
        (vec!["org", "create", "Bad Slug"], "invalid org slug"),
        (
            vec![
                "app",
                "create",
                "--org",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "http://evil.example.com/cb",
            ],
            "http://evil.example.com/cb",
        ),
        (
            vec![
                "app",
                "create",
                "--org",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "https://ok.example.com/cb",
                "--redirect-uri",
                "https://x.example.com/cb#frag",
            ],
            "fragment",
        ),
        (
            vec![
                "app",
                "create",
                "--org",
                "acme",
                "--name",
                "x",
                "--redirect-uri",
                "relative/cb",
            ],
            "relative/cb",
        ),
        (
            vec!["app", "create", "--org", "acme", "--name", "x"],
            "redirect-uri",
        ),
        (
            vec![
                "app",
                "create",
                "--org",
                "nope",
                "--name",
                "x",
                "--redirect-uri",
                "https://ok.example.com/cb",
            ],
            "nope",
        ),
        (
            vec![
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "not-an-email",
                "--password",
                "long enough pw",
            ],
            "not-an-email",
        ),
        (
            vec![
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "c@example.com",
                "--password",
                "short",
            ],
            "too short",
        ),
        (
            vec![
                "user",
                "create",
                "--org",
                "nope",
                "--email",
                "c@example.com",
                "--password",
                "long enough pw",
            ],
            "nope",
        ),
    ];
    for (args, needle) in cases {
        let out = cli.run(&args).await;
        assert!(!out.success, "{args:?} should fail");
        assert!(
            out.stderr.contains(needle),
            "{args:?}: stderr {:?} lacks {needle:?}",
            out.stderr
        );
        assert_eq!(snapshot().await, before, "{args:?} changed the database");
    }

    // A duplicate email in the same org is refused too.
    let ok = [
        "user",
        "create",
        "--org",
        "acme",
        "--email",
        "d@example.com",
        "--password",
        "long enough pw",
    ];
    assert!(cli.run(&ok).await.success);
    let after_user = snapshot().await;
    let out = cli.run(&ok).await;
    assert!(!out.success);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(snapshot().await, after_user);

    // With --json, errors are JSON on stderr and stdout stays empty.
    let out = cli.run(&["org", "create", "acme", "--json"]).await;
    assert!(!out.success);
    assert!(out.stdout.is_empty());
    let err: portcullis_api_types::ErrorBody = serde_json::from_str(out.stderr.trim()).unwrap();
    assert!(err.message.contains("already exists"));
});

both_backends!(bad_configuration_is_named_and_changes_nothing, |backend| {
    let app = TestApp::spawn(&backend).await;
    let before = app.state.store.count_orgs().await.unwrap();

    let out = app
        .cli()
        .env("PORTCULLIS__HTTP__BINDD", "127.0.0.1:1")
        .run(&["org", "create", "x1"])
        .await;
    assert!(!out.success);
    assert!(
        out.stderr.to_lowercase().contains("bindd"),
        "{}",
        out.stderr
    );

    let out = app
        .cli()
        .env("PORTCULLIS__HTTP__PUBLIC_URL", "not a url")
        .run(&["org", "create", "x2"])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("http.public_url"), "{}", out.stderr);

    let out = app
        .cli()
        .env("PORTCULLIS__HTTP__PUBLIC_URL", "http://idp.example.com")
        .run(&["org", "create", "x3"])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("http.public_url"), "{}", out.stderr);

    let out = app
        .cli()
        .env("PORTCULLIS__CACHE__URL", "memcached://localhost")
        .run(&["org", "create", "x4"])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("cache.url"), "{}", out.stderr);

    let out = app
        .cli()
        .run(&[
            "--config",
            "/nonexistent/portcullis.toml",
            "org",
            "create",
            "x5",
        ])
        .await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("/nonexistent/portcullis.toml"),
        "{}",
        out.stderr
    );

    // The secret in a bad database URL is never echoed.
    let out = app
        .cli()
        .env("PORTCULLIS__DATABASE__URL", "mysql://root:hunter2@db/x")
        .run(&["migrate"])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("database.url"), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);

    assert_eq!(app.state.store.count_orgs().await.unwrap(), before);
});

both_backends!(cli_chooses_signing_alg_and_rotates_keys, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cli = app.cli();
    let out = cli
        .run(&["org", "create", "rsa", "--signing-alg", "RS256", "--json"])
        .await;
    assert!(out.success, "{}", out.stderr);
    let jwks: serde_json::Value = app.get("/o/rsa/jwks").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");
    let first_kid = keys[0]["kid"].as_str().unwrap().to_owned();

    // Rotate to ES256 with a publish lead: both keys are published, the old one still signs.
    let out = cli
        .run(&[
            "key",
            "rotate",
            "--org",
            "rsa",
            "--alg",
            "ES256",
            "--publish-lead-secs",
            "600",
            "--json",
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    // A node holds its decrypted keys; the CLI tells it through Redis, and a node with an
    // in-process cache (which no other process reaches) reads them again within a second.
    app.clock.advance(chrono::Duration::seconds(1));
    let info: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(info["alg"], "ES256");
    let jwks: serde_json::Value = app.get("/o/rsa/jwks").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&first_kid.as_str()));
    assert!(kids.contains(&info["kid"].as_str().unwrap()));

    // The private keys are stored encrypted, never as DER or PEM.
    let org = app.state.orgs.find("rsa").await.unwrap();
    let stored = app
        .state
        .store
        .signing_keys(org.id, app.clock.now())
        .await
        .unwrap();
    for k in &stored {
        assert!(!k.encrypted_private_key.contains("BEGIN"));
        assert!(!k.encrypted_private_key.starts_with("MII"));
    }

    // An unknown algorithm is refused.
    let out = cli
        .run(&["key", "rotate", "--org", "rsa", "--alg", "HS256"])
        .await;
    assert!(!out.success);
});

both_backends!(
    cli_app_create_sets_the_session_profile_and_overrides,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let cli = app.cli();
        assert!(cli.run(&["org", "create", "acme"]).await.success);
        let out = cli
            .run(&[
                "app",
                "create",
                "--org",
                "acme",
                "--name",
                "pay",
                "--redirect-uri",
                "https://pay.example.com/cb",
                "--session-profile",
                "privileged",
                "--idle-timeout-secs",
                "300",
                "--third-party",
                "--json",
            ])
            .await;
        assert!(out.success, "{}", out.stderr);
        let created: AppCreated = serde_json::from_str(out.stdout.trim()).unwrap();
        let org = app.state.orgs.find("acme").await.unwrap();
        let stored = app
            .state
            .store
            .app_by_client_id(org.id, &created.client_id)
            .await
            .unwrap()
            .unwrap();
        let rules = stored.settings.session;
        assert_eq!(rules.idle_timeout_secs, Some(300), "override applied");
        assert_eq!(rules.reauth_max_age_secs, Some(900), "preset kept");
        assert!(rules.mfa_required);
        assert!(!rules.outlives_idp_session);
        assert!(!stored.settings.first_party);

        // Bounds are checked: an idle timeout longer than the lifetime is refused.
        let out = cli
            .run(&[
                "app",
                "create",
                "--org",
                "acme",
                "--name",
                "bad",
                "--redirect-uri",
                "https://bad.example.com/cb",
                "--lifetime-secs",
                "600",
                "--idle-timeout-secs",
                "900",
            ])
            .await;
        assert!(!out.success);
        assert!(out.stderr.contains("idle timeout"), "{}", out.stderr);
    }
);
