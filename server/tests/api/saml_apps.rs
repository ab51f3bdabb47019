//! SAML apps (issue 20, item 2) through the admin API and the CLI: registered, read, changed,
//! listed and deleted; each refused field named in the 422; an SP entity id unique in its org
//! (409) but free in another org; another org's SAML app is 404; and a SAML app's client id is
//! worth nothing at the OAuth endpoints (refused like a client id never registered).

use crate::admin_api::{org_with, user_token};
use crate::browser::Browser;
use crate::helpers::{Answer, TestApp};
use portcullis::accounts::Role;
use portcullis::apps::{AppType, NameIdFormat, SamlBinding};
use serde_json::{Value, json};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const ENTITY: &str = "https://hr.example.com/saml/metadata";

/// A self-signed P-256 certificate (`openssl req -x509 -newkey ec …`), as an SP would send.
const SP_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBiDCCAS+gAwIBAgIULFRXPQkB65zifsZEmTOXCOlA3wswCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc3AuZXhhbXBsZS5jb20wIBcNMjYxMjA2MTMwODQxWhgPMjEy
NjExMTIxMzA4NDFaMBkxFzAVBgNVBAMMDnNwLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEN019cWokmdhPV/x/JM6F9tG1y+QqJXwoLquWLUqY
zfb6+AmKvwhn9Qt45DLb9V/5D9TZ7X9erkQ+S4QQ7N3E+aNTMFEwHQYDVR0OBBYE
FITqMUVJoIU0ZLwXobO64PaQXNhyMB8GA1UdIwQYMBaAFITqMUVJoIU0ZLwXobO6
4PaQXNhyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgBi7IjdcH
yrFCiA8PeW0ysFIo7AmAZlY8+UgOXRFbeNMCIHrqKThQTgjDXJD8R43y1Ptn9ecP
x2sJFWTrE88cUew8
-----END CERTIFICATE-----";

/// The smallest SAML app a request may register.
fn saml_app(name: &str, entity_id: &str) -> Value {
    json!({
        "name": name,
        "app_type": "saml",
        "saml": {
            "sp_entity_id": entity_id,
            "acs_urls": [{ "url": "https://hr.example.com/saml/acs" }],
        },
    })
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Answer {
    let url = format!("{}/api/v1{path}", app.address);
    let req = match method {
        "post" => app.client.post(url),
        "patch" => app.client.patch(url),
        "delete" => app.client.delete(url),
        _ => app.client.get(url),
    }
    .bearer_auth(token);
    let req = match body {
        Some(b) => req.json(b),
        None => req,
    };
    Answer::read(req.send().await.unwrap()).await
}

/// The field a 422 names (and that it is a 422).
#[track_caller]
fn refused_field(a: &Answer) -> String {
    assert_eq!(a.status, 422, "{a:?}");
    a.json["errors"][0]["field"].as_str().unwrap().to_owned()
}

both_backends!(
    saml_apps_are_registered_read_changed_listed_and_deleted,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let token = user_token(&app, &acme, true).await;

        let mut body = saml_app("HR", ENTITY);
        body["type"] = body["app_type"].take();
        body.as_object_mut().unwrap().remove("app_type");
        body["session_profile"] = "privileged".into();
        let created = send(&app, "post", "/orgs/acme/apps", &token, Some(&body)).await;
        assert_eq!(created.status, 201, "{created:?}");
        assert!(
            created.json["client_secret"].is_null(),
            "a SAML app has no secret"
        );
        let view = &created.json["app"];
        assert_eq!(view["app_type"], "saml");
        assert_eq!(view["redirect_uris"], json!([]));
        assert_eq!(view["grant_types"], json!([]));
        assert_eq!(
            view["session_rules"]["mfa_required"], true,
            "the profile's rules apply"
        );
        let saml = &view["saml"];
        assert_eq!(saml["sp_entity_id"], ENTITY);
        assert_eq!(
            saml["acs_urls"],
            json!([{ "index": 0, "binding": "post", "url": "https://hr.example.com/saml/acs" }])
        );
        assert_eq!(saml["default_acs_index"], 0);
        // The defaults: both signed, NameID email, email and name released, nothing else.
        assert_eq!(
            (
                saml["sign_response"].as_bool(),
                saml["sign_assertion"].as_bool()
            ),
            (Some(true), Some(true))
        );
        assert_eq!(saml["name_id_format"], "email");
        assert_eq!(saml["attributes"], json!(["email", "name"]));
        assert!(saml["slo_url"].is_null() && saml["sp_certificate"].is_null());
        assert_eq!(saml["allow_sha1"], false);
        assert_eq!(saml["require_signed_requests"], false);
        assert_eq!(saml["idp_initiated"], false, "off unless asked for");
        assert!(saml["idp_initiated_relay_state"].is_null());
        let id = view["id"].as_str().unwrap().to_owned();
        let path = format!("/orgs/acme/apps/{id}");
        // Audited with the SP it names.
        let audit = send(
            &app,
            "get",
            "/orgs/acme/audit-events?action=app.created",
            &token,
            None,
        )
        .await;
        let event = audit.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["target"] == view["client_id"])
            .expect("an app.created event");
        let details: Value = serde_json::from_str(event["details"].as_str().unwrap()).unwrap();
        assert_eq!(details["sp_entity_id"], ENTITY, "{details}");

        let read = send(&app, "get", &path, &token, None).await;
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.json, *view);
        let list = send(&app, "get", "/orgs/acme/apps", &token, None).await;
        let listed: Vec<&Value> = list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["id"] == id.as_str())
            .collect();
        assert_eq!(listed, [view]);

        // The SSO step finds it by its entity id.
        let found = app
            .state
            .apps
            .saml_app(acme.id, ENTITY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id.to_string(), id);
        assert_eq!(found.app_type, AppType::Saml);
        assert!(
            app.state
                .apps
                .saml_app(acme.id, "https://other.example.com")
                .await
                .unwrap()
                .is_none()
        );

        // Change: a SOAP logout, two ACS URLs (the second the default), a persistent NameID,
        // the SP's certificate with signed requests required, only the assertion signed.
        let change = json!({ "session_profile": "standard", "saml": {
            "slo_url": "https://hr.example.com/saml/slo", "slo_binding": "soap",
            "acs_urls": [
                { "url": "https://hr.example.com/saml/acs", "index": 1 },
                { "url": "http://127.0.0.1:9/acs", "binding": "redirect", "index": 7 },
            ],
            "default_acs_index": 7,
            "name_id_format": "persistent", "attributes": ["email"],
            "sp_certificate": SP_CERT, "require_signed_requests": true,
            "sign_response": false, "allow_sha1": true,
        }});
        let patched = send(&app, "patch", &path, &token, Some(&change)).await;
        assert_eq!(patched.status, 200, "{patched:?}");
        let saml = &patched.json["saml"];
        assert_eq!(saml["sp_entity_id"], ENTITY, "unchanged when absent");
        assert_eq!(
            (saml["slo_url"].as_str(), saml["slo_binding"].as_str()),
            (Some("https://hr.example.com/saml/slo"), Some("soap"))
        );
        assert_eq!(saml["default_acs_index"], 7);
        assert_eq!(saml["acs_urls"][1]["binding"], "redirect");
        assert_eq!(saml["sign_response"], false);
        assert_eq!(saml["sign_assertion"], true);
        assert!(
            saml["sp_certificate"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(patched.json["session_rules"]["mfa_required"], false);
        let stored = app
            .state
            .store
            .app_by_id(acme.id, found.id)
            .await
            .unwrap()
            .unwrap();
        let s = stored.saml.unwrap();
        assert_eq!(s.name_id_format, NameIdFormat::Persistent);
        assert_eq!(s.slo.as_ref().unwrap().binding, SamlBinding::Soap);
        assert_eq!(s.acs(None).unwrap().url.as_str(), "http://127.0.0.1:9/acs");
        assert!(s.require_signed_requests && s.allow_sha1);

        // An empty SLO URL removes it; an empty certificate with signed requests still required
        // is refused, and nothing changes.
        let cleared = send(
            &app,
            "patch",
            &path,
            &token,
            Some(&json!({ "saml": { "slo_url": "" } })),
        )
        .await;
        assert_eq!(cleared.status, 200, "{cleared:?}");
        assert!(
            cleared.json["saml"]["slo_url"].is_null()
                && cleared.json["saml"]["slo_binding"].is_null()
        );
        let refused = send(
            &app,
            "patch",
            &path,
            &token,
            Some(&json!({ "saml": { "sp_certificate": "" } })),
        )
        .await;
        assert_eq!(refused_field(&refused), "saml.sp_certificate");
        let again = send(&app, "get", &path, &token, None).await;
        assert_eq!(again.json, cleared.json);

        // IdP-initiated SSO posts to the default ACS: refused while that one is a redirect
        // ACS; with a POST default, on with its RelayState; an empty RelayState removes it.
        let patch = |saml: Value| json!({ "saml": saml });
        let idp = patch(json!({ "idp_initiated": true }));
        let refused = send(&app, "patch", &path, &token, Some(&idp)).await;
        assert_eq!(refused_field(&refused), "saml.idp_initiated");
        let idp = patch(json!({
            "idp_initiated": true, "idp_initiated_relay_state": "/start", "default_acs_index": 1,
        }));
        let on = send(&app, "patch", &path, &token, Some(&idp)).await;
        assert_eq!(on.status, 200, "{on:?}");
        assert_eq!(on.json["saml"]["idp_initiated"], true);
        assert_eq!(on.json["saml"]["idp_initiated_relay_state"], "/start");
        let long = patch(json!({ "idp_initiated_relay_state": "r".repeat(81) }));
        let refused = send(&app, "patch", &path, &token, Some(&long)).await;
        assert_eq!(refused_field(&refused), "saml.idp_initiated_relay_state");
        let cleared = patch(json!({ "idp_initiated_relay_state": "" }));
        let cleared = send(&app, "patch", &path, &token, Some(&cleared)).await;
        assert!(cleared.json["saml"]["idp_initiated_relay_state"].is_null());
        assert_eq!(cleared.json["saml"]["idp_initiated"], true);

        // The secret of a SAML app: there is none to rotate.
        let rotate = send(&app, "post", &format!("{path}/secret"), &token, None).await;
        assert_eq!(rotate.status, 409, "{rotate:?}");

        let deleted = send(&app, "delete", &path, &token, None).await;
        assert_eq!(deleted.status, 204, "{deleted:?}");
        assert_eq!(send(&app, "get", &path, &token, None).await.status, 404);
        assert!(
            app.state
                .apps
                .saml_app(acme.id, ENTITY)
                .await
                .unwrap()
                .is_none()
        );
    }
);

both_backends!(
    each_refused_saml_field_is_named_and_nothing_is_written,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let token = user_token(&app, &acme, true).await;
        let apps_before = app.state.store.count_apps(acme.id).await.unwrap();

        let with = |f: &dyn Fn(&mut Value)| {
            let mut b = saml_app("HR", ENTITY);
            f(&mut b);
            b
        };
        let eleven: Vec<Value> = (0..11)
            .map(|i| json!({ "url": format!("https://hr.example.com/acs/{i}") }))
            .collect();
        let cases: Vec<(Value, &str)> = vec![
            (
                with(&|b| {
                    b["saml"].take();
                }),
                "saml",
            ),
            (
                json!({ "name": "Web", "redirect_uris": ["https://w.example.com/cb"],
            "saml": { "sp_entity_id": ENTITY } }),
                "saml",
            ),
            (
                with(&|b| b["saml"]["sp_entity_id"] = "".into()),
                "saml.sp_entity_id",
            ),
            (
                with(&|b| b["saml"]["sp_entity_id"] = "e".repeat(1025).into()),
                "saml.sp_entity_id",
            ),
            (
                with(&|b| b["saml"]["acs_urls"] = json!([{ "url": "http://hr.example.com/acs" }])),
                "saml.acs_urls",
            ),
            (
                with(&|b| b["saml"]["acs_urls"] = json!([])),
                "saml.acs_urls",
            ),
            (
                with(&|b| b["saml"]["acs_urls"] = json!(eleven.clone())),
                "saml.acs_urls",
            ),
            (
                with(&|b| b["saml"]["acs_urls"][0]["binding"] = "soap".into()),
                "saml.acs_urls",
            ),
            (
                with(&|b| b["saml"]["default_acs_index"] = 3.into()),
                "saml.default_acs_index",
            ),
            (
                with(&|b| b["saml"]["slo_url"] = "http://hr.example.com/slo".into()),
                "saml.slo_url",
            ),
            (
                with(&|b| b["saml"]["slo_binding"] = "post".into()),
                "saml.slo_url",
            ),
            (
                with(&|b| {
                    b["saml"]["slo_url"] = "https://hr.example.com/slo".into();
                    b["saml"]["slo_binding"] = "artifact".into();
                }),
                "saml.slo_binding",
            ),
            (
                with(&|b| b["saml"]["name_id_format"] = "unspecified".into()),
                "saml.name_id_format",
            ),
            (
                with(&|b| b["saml"]["attributes"] = json!(["groups"])),
                "saml.attributes",
            ),
            (
                with(&|b| {
                    b["saml"]["sign_response"] = false.into();
                    b["saml"]["sign_assertion"] = false.into();
                }),
                "saml.sign_response",
            ),
            (
                with(&|b| {
                    b["saml"]["sp_certificate"] =
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into()
                }),
                "saml.sp_certificate",
            ),
            (
                with(&|b| b["saml"]["require_signed_requests"] = true.into()),
                "saml.sp_certificate",
            ),
            (
                with(&|b| b["saml"]["encrypt_assertions"] = true.into()),
                "saml.encrypt_assertions",
            ),
            (with(&|b| b["first_party"] = false.into()), "first_party"),
            (
                with(&|b| b["redirect_uris"] = json!(["https://hr.example.com/cb"])),
                "redirect_uris",
            ),
            (
                with(&|b| b["grant_types"] = json!(["authorization_code"])),
                "grant_types",
            ),
            (
                with(&|b| b["client_auth"] = "private_key_jwt".into()),
                "client_auth",
            ),
            (with(&|b| b["dpop_required"] = true.into()), "dpop_required"),
        ];
        for (body, field) in &cases {
            let res = send(&app, "post", "/orgs/acme/apps", &token, Some(body)).await;
            assert_eq!(refused_field(&res), *field, "{body}");
        }
        assert_eq!(
            app.state.store.count_apps(acme.id).await.unwrap(),
            apps_before
        );
        // 1024 bytes is the limit, not past it.
        let long = saml_app("Long", &"e".repeat(1024));
        assert_eq!(
            send(&app, "post", "/orgs/acme/apps", &token, Some(&long))
                .await
                .status,
            201
        );
    }
);

both_backends!(an_sp_entity_id_is_unique_in_its_org_only, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let globex = org_with(&app, "globex", Role::Admin).await;
    let acme_token = user_token(&app, &acme, true).await;
    let globex_token = user_token(&app, &globex, true).await;

    let first = send(
        &app,
        "post",
        "/orgs/acme/apps",
        &acme_token,
        Some(&saml_app("HR", ENTITY)),
    )
    .await;
    assert_eq!(first.status, 201, "{first:?}");
    let twice = send(
        &app,
        "post",
        "/orgs/acme/apps",
        &acme_token,
        Some(&saml_app("HR 2", ENTITY)),
    )
    .await;
    assert_eq!(twice.status, 409, "{twice:?}");
    assert!(
        twice.json["detail"].as_str().unwrap().contains("entity id"),
        "{twice:?}"
    );
    let elsewhere = send(
        &app,
        "post",
        "/orgs/globex/apps",
        &globex_token,
        Some(&saml_app("HR", ENTITY)),
    )
    .await;
    assert_eq!(
        elsewhere.status, 201,
        "another org may register the same SP: {elsewhere:?}"
    );

    // Renaming another app's entity id to a taken one is refused too, and changes nothing.
    let other = send(
        &app,
        "post",
        "/orgs/acme/apps",
        &acme_token,
        Some(&saml_app("Payroll", "https://payroll.example.com")),
    )
    .await;
    let path = format!(
        "/orgs/acme/apps/{}",
        other.json["app"]["id"].as_str().unwrap()
    );
    let taken = send(
        &app,
        "patch",
        &path,
        &acme_token,
        Some(&json!({ "saml": { "sp_entity_id": ENTITY } })),
    )
    .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    let read = send(&app, "get", &path, &acme_token, None).await;
    assert_eq!(
        read.json["saml"]["sp_entity_id"],
        "https://payroll.example.com"
    );
    // Each org's lookup finds its own app.
    let a = app
        .state
        .apps
        .saml_app(acme.id, ENTITY)
        .await
        .unwrap()
        .unwrap();
    let g = app
        .state
        .apps
        .saml_app(globex.id, ENTITY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.id.to_string(), first.json["app"]["id"].as_str().unwrap());
    assert_eq!(
        g.id.to_string(),
        elsewhere.json["app"]["id"].as_str().unwrap()
    );
    assert_eq!((a.org_id, g.org_id), (acme.id, globex.id));
});

both_backends!(another_orgs_saml_app_is_not_found, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let globex = org_with(&app, "globex", Role::Admin).await;
    let acme_token = user_token(&app, &acme, true).await;
    let globex_token = user_token(&app, &globex, true).await;
    let created = send(
        &app,
        "post",
        "/orgs/acme/apps",
        &acme_token,
        Some(&saml_app("HR", ENTITY)),
    )
    .await;
    let id = created.json["app"]["id"].as_str().unwrap().to_owned();

    let theirs = format!("/orgs/globex/apps/{id}");
    assert_eq!(
        send(&app, "get", &theirs, &globex_token, None).await.status,
        404
    );
    let patch = json!({ "saml": { "sp_entity_id": "https://evil.example.com" } });
    assert_eq!(
        send(&app, "patch", &theirs, &globex_token, Some(&patch))
            .await
            .status,
        404
    );
    assert_eq!(
        send(&app, "delete", &theirs, &globex_token, None)
            .await
            .status,
        404
    );
    let ours = format!("/orgs/acme/apps/{id}");
    assert_eq!(
        send(&app, "get", &ours, &globex_token, None).await.status,
        403
    );
    assert!(
        app.state
            .apps
            .saml_app(globex.id, ENTITY)
            .await
            .unwrap()
            .is_none()
    );
    let still = send(&app, "get", &ours, &acme_token, None).await;
    assert_eq!(still.json["saml"]["sp_entity_id"], ENTITY, "{still:?}");
});

both_backends!(
    oauth_endpoints_refuse_a_saml_app_like_an_unknown_client,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let token = user_token(&app, &acme, true).await;
        let created = send(
            &app,
            "post",
            "/orgs/acme/apps",
            &token,
            Some(&saml_app("HR", ENTITY)),
        )
        .await;
        let saml_client = created.json["app"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let token_request = |client_id: String, grant: &'static str| {
            let url = format!("{}/o/acme/token", app.address);
            let client = app.client.clone();
            async move {
                let form = [
                    ("grant_type", grant),
                    ("client_id", client_id.as_str()),
                    ("code", "x"),
                    ("redirect_uri", "https://hr.example.com/saml/acs"),
                    ("code_verifier", "v"),
                ];
                Answer::read(client.post(url).form(&form).send().await.unwrap()).await
            }
        };
        for grant in ["authorization_code", "client_credentials", "refresh_token"] {
            let unknown = token_request("no-such-client".into(), grant).await;
            let saml = token_request(saml_client.clone(), grant).await;
            unknown.assert_error(401, "invalid_client");
            saml.assert_error(401, "invalid_client");
            assert_eq!(saml.json, unknown.json, "{grant}");
        }
        // With HTTP Basic and an empty secret, as a confidential client would.
        let basic = Answer::read(
            app.client
                .post(format!("{}/o/acme/token", app.address))
                .basic_auth(&saml_client, Some(""))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        basic.assert_error(401, "invalid_client");

        // /authorize: the unknown-app page, never a redirect to the ACS URL.
        let authorize = |client_id: &str| {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("response_type", "code"),
                    ("client_id", client_id),
                    ("redirect_uri", "https://hr.example.com/saml/acs"),
                    ("scope", "openid"),
                    ("state", "s"),
                    (
                        "code_challenge",
                        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    ),
                    ("code_challenge_method", "S256"),
                ])
                .finish();
            format!("/o/acme/authorize?{query}")
        };
        let mut b = Browser::new(&app.address, UA);
        let unknown = b.get(&authorize("no-such-client")).await;
        let saml = b.get(&authorize(&saml_client)).await;
        assert_eq!(unknown.status, 400, "{}", unknown.body);
        assert_eq!(saml.status, 400, "{}", saml.body);
        assert!(saml.headers.get("location").is_none());
        assert!(saml.body.contains("Unknown app"), "{}", saml.body);
    }
);

both_backends!(cli_creates_a_saml_app, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cli = app.cli();
    let out = cli.run(&["org", "create", "acme", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("sp.pem");
    std::fs::write(&cert, SP_CERT).unwrap();

    let args = |extra: &[&str]| {
        let mut v = vec![
            "app", "create", "--org", "acme", "--name", "HR", "--type", "saml",
        ];
        v.extend_from_slice(extra);
        v.push("--json");
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let cli = &cli;
        async move {
            cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
                .await
        }
    };
    // No ACS URL: refused, with the reason, and nothing written.
    let out = run(args(&["--sp-entity-id", ENTITY])).await;
    assert!(!out.success);
    assert!(out.stderr.contains("ACS"), "{}", out.stderr);
    let org = app.state.orgs.find("acme").await.unwrap();
    assert_eq!(app.state.store.count_apps(org.id).await.unwrap(), 0);

    let out = run(args(&[
        "--sp-entity-id",
        ENTITY,
        "--acs-url",
        "https://hr.example.com/saml/acs",
        "--acs-url",
        "https://hr.example.com/saml/acs2",
        "--slo-url",
        "https://hr.example.com/saml/slo",
        "--slo-binding",
        "soap",
        "--nameid",
        "transient",
        "--sp-cert",
        cert.to_str().unwrap(),
        "--require-signed-requests",
        "--sign",
        "response",
        "--session-profile",
        "privileged",
        "--idp-initiated",
        "--idp-initiated-relay-state",
        "/welcome",
    ]))
    .await;
    assert!(out.success, "{}", out.stderr);
    let created: portcullis_api_types::AppCreated =
        serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(created.client_secret.is_none());
    let stored = app
        .state
        .apps
        .saml_app(org.id, ENTITY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_id, created.client_id);
    assert!(
        stored.settings.session.mfa_required,
        "the privileged profile"
    );
    let s = stored.saml.unwrap();
    assert_eq!(s.acs_urls.len(), 2);
    assert_eq!(
        (s.acs_urls[1].index, s.acs_urls[1].binding),
        (1, SamlBinding::Post)
    );
    assert_eq!(s.default_acs_index, 0);
    assert_eq!(s.slo.as_ref().unwrap().binding, SamlBinding::Soap);
    assert_eq!(s.name_id_format, NameIdFormat::Transient);
    assert!(s.require_signed_requests && s.sp_certificate.is_some());
    assert!(s.sign_response && !s.sign_assertion);
    assert!(s.idp_initiated);
    assert_eq!(s.idp_initiated_relay_state.as_deref(), Some("/welcome"));

    // The same entity id again: refused.
    let out = run(args(&[
        "--sp-entity-id",
        ENTITY,
        "--acs-url",
        "https://hr.example.com/a",
    ]))
    .await;
    assert!(!out.success);
    assert!(out.stderr.contains("entity id"), "{}", out.stderr);
    // SAML options on an OIDC app: refused.
    let out = cli
        .run(&[
            "app",
            "create",
            "--org",
            "acme",
            "--name",
            "W",
            "--redirect-uri",
            "https://w.example.com/cb",
            "--sp-entity-id",
            "x",
            "--json",
        ])
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("SAML"), "{}", out.stderr);
});

/// An SP's metadata as pysaml2 writes it: signing key without `use`, signed requests, a SOAP
/// and a Redirect Single Logout (the first listed is taken), an Artifact ACS (left out) and a
/// POST one, a persistent NameID.
fn sp_metadata(entity_id: &str, acs: &str) -> String {
    let b64: String = SP_CERT
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"<?xml version='1.0' encoding='UTF-8'?>
<ns0:EntityDescriptor xmlns:ns0="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ns2="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <ns0:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <ns0:KeyDescriptor><ns2:KeyInfo><ns2:X509Data><ns2:X509Certificate>{b64}</ns2:X509Certificate></ns2:X509Data></ns2:KeyInfo></ns0:KeyDescriptor>
    <ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://hr.example.com/saml/slo/soap"/>
    <ns0:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://hr.example.com/saml/slo"/>
    <ns0:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</ns0:NameIDFormat>
    <ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://hr.example.com/saml/artifact" index="2"/>
    <ns0:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="1"/>
  </ns0:SPSSODescriptor>
</ns0:EntityDescriptor>"#
    )
}

both_backends!(
    sp_metadata_is_read_registered_and_overridden_by_explicit_fields,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with(&app, "acme", Role::Admin).await;
        let globex = org_with(&app, "globex", Role::Admin).await;
        let token = user_token(&app, &acme, true).await;
        let globex_token = user_token(&app, &globex, true).await;
        let xml = sp_metadata(ENTITY, "https://hr.example.com/saml/acs");
        let apps_before = app.state.store.count_apps(acme.id).await.unwrap();

        // Read only (the console's import): the fields it declares, notes on what was left out.
        let read = send(
            &app,
            "post",
            "/orgs/acme/saml/sp-metadata",
            &token,
            Some(&json!({ "xml": xml })),
        )
        .await;
        assert_eq!(read.status, 200, "{read:?}");
        let saml = &read.json["saml"];
        assert_eq!(saml["sp_entity_id"], ENTITY);
        assert_eq!(
            saml["acs_urls"],
            json!([{ "url": "https://hr.example.com/saml/acs", "binding": "post", "index": 1 }])
        );
        assert_eq!(saml["slo_binding"], "soap");
        assert_eq!(saml["name_id_format"], "persistent");
        assert_eq!(saml["require_signed_requests"], true);
        let notes = read.json["notes"].to_string();
        assert!(
            notes.contains("HTTP-Artifact") && notes.contains("saml/slo"),
            "{notes}"
        );
        assert_eq!(
            app.state.store.count_apps(acme.id).await.unwrap(),
            apps_before
        );
        // Another org's admin may not use acme's endpoint.
        let other = send(
            &app,
            "post",
            "/orgs/acme/saml/sp-metadata",
            &globex_token,
            Some(&json!({ "xml": xml })),
        )
        .await;
        assert!(matches!(other.status, 401 | 403 | 404), "{other:?}");

        // Registered from the metadata, an explicit NameID format overriding it.
        let body = json!({ "name": "HR", "app_type": "saml",
            "saml": { "sp_metadata": xml, "name_id_format": "transient" } });
        let created = send(&app, "post", "/orgs/acme/apps", &token, Some(&body)).await;
        assert_eq!(created.status, 201, "{created:?}");
        let s = &created.json["app"]["saml"];
        assert_eq!(s["sp_entity_id"], ENTITY);
        assert_eq!(s["default_acs_index"], 1);
        assert_eq!(s["slo_url"], "https://hr.example.com/saml/slo/soap");
        assert_eq!(s["name_id_format"], "transient", "the explicit field wins");
        assert_eq!(s["require_signed_requests"], true);
        assert!(
            s["sp_certificate"]
                .as_str()
                .unwrap()
                .contains("MIIBiDCCAS+gAwIBAgIU")
        );
        let path = format!(
            "/orgs/acme/apps/{}",
            created.json["app"]["id"].as_str().unwrap()
        );

        // PATCH with the SP's new metadata: its new ACS; what it does not declare stays.
        let moved = sp_metadata(ENTITY, "https://hr2.example.com/saml/acs");
        let patched = send(
            &app,
            "patch",
            &path,
            &token,
            Some(&json!({ "saml": { "sp_metadata": moved } })),
        )
        .await;
        assert_eq!(patched.status, 200, "{patched:?}");
        let s = &patched.json["saml"];
        assert_eq!(s["acs_urls"][0]["url"], "https://hr2.example.com/saml/acs");
        assert_eq!(s["attributes"], json!(["email", "name"]));

        // Hostile or wrong documents: a 422 naming saml.sp_metadata, nothing written.
        let entities = format!(
            r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{}</EntitiesDescriptor>"#,
            sp_metadata("https://other.example.com", "https://o.example.com/acs")
                .replace("<?xml version='1.0' encoding='UTF-8'?>", "")
        );
        let cases = [
            format!(
                "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
                sp_metadata("https://other.example.com", "https://o.example.com/acs")
                    .replace("<?xml version='1.0' encoding='UTF-8'?>", "")
            ),
            sp_metadata("", "https://o.example.com/acs"),
            entities,
            "not xml".to_owned(),
        ];
        for bad in &cases {
            for (method, p, body) in [
                (
                    "post",
                    "/orgs/acme/apps".to_owned(),
                    json!({ "name": "X", "app_type": "saml", "saml": { "sp_metadata": bad } }),
                ),
                (
                    "patch",
                    path.clone(),
                    json!({ "saml": { "sp_metadata": bad } }),
                ),
                (
                    "post",
                    "/orgs/acme/saml/sp-metadata".to_owned(),
                    json!({ "xml": bad }),
                ),
            ] {
                let res = send(&app, method, &p, &token, Some(&body)).await;
                assert_eq!(
                    refused_field(&res),
                    "saml.sp_metadata",
                    "{method} {p} {bad}"
                );
            }
        }
        assert_eq!(
            app.state.store.count_apps(acme.id).await.unwrap(),
            apps_before + 1
        );
        let again = send(&app, "get", &path, &token, None).await;
        assert_eq!(again.json, patched.json);
        // Plain http for a non-loopback ACS is refused as when typed, by its field.
        let http = sp_metadata("https://third.example.com", "http://hr.example.com/acs");
        let res = send(
            &app,
            "post",
            "/orgs/acme/apps",
            &token,
            Some(&json!({ "name": "Y", "app_type": "saml", "saml": { "sp_metadata": http } })),
        )
        .await;
        assert_eq!(refused_field(&res), "saml.acs_urls");
    }
);

both_backends!(cli_imports_sp_metadata, |backend| {
    let app = TestApp::spawn(&backend).await;
    let cli = app.cli();
    let out = cli.run(&["org", "create", "acme", "--json"]).await;
    assert!(out.success, "{}", out.stderr);
    let org = app.state.orgs.find("acme").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sp.xml");
    std::fs::write(
        &file,
        sp_metadata(ENTITY, "https://hr.example.com/saml/acs"),
    )
    .unwrap();
    let hostile = dir.path().join("hostile.xml");
    std::fs::write(&hostile, "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").unwrap();
    let create = |file: &std::path::Path, extra: &[&str]| {
        let mut v = vec![
            "app", "create", "--org", "acme", "--name", "HR", "--type", "saml",
        ];
        v.extend_from_slice(&["--sp-metadata", file.to_str().unwrap()]);
        v.extend_from_slice(extra);
        v.push("--json");
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    let a = create(&hostile, &[]);
    let out = cli
        .run(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("DTD"), "{}", out.stderr);
    assert_eq!(app.state.store.count_apps(org.id).await.unwrap(), 0);

    let a = create(&file, &["--slo-binding", "post", "--sign", "assertion"]);
    let out = cli
        .run(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(out.success, "{}", out.stderr);
    let stored = app
        .state
        .apps
        .saml_app(org.id, ENTITY)
        .await
        .unwrap()
        .unwrap();
    let s = stored.saml.unwrap();
    assert_eq!(s.acs_urls.len(), 1);
    assert_eq!((s.acs_urls[0].index, s.default_acs_index), (1, 1));
    let slo = s.slo.unwrap();
    assert_eq!(slo.url.as_str(), "https://hr.example.com/saml/slo/soap");
    assert_eq!(
        slo.binding,
        SamlBinding::Post,
        "the option overrides the metadata"
    );
    assert_eq!(s.name_id_format, NameIdFormat::Persistent);
    assert!(s.require_signed_requests && s.sp_certificate.is_some());
    assert!(!s.sign_response && s.sign_assertion);
});
