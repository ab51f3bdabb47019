//! Issue 16: what the hot paths serve from memory keeps the promises of the database. Signing
//! keys are decrypted once per org and node; a rotation on one node applies on every node at
//! once (the cache's invalidation channel), and a token signed with a key a node has not read
//! yet still verifies there. Verified tokens are remembered but still expire and still end with
//! their app session; apps by client id are copies dropped on every change; app-session
//! activity is written at most once per interval and never extends an idle deadline.

use crate::browser::Browser;
use crate::helpers::{Rp, TestApp, Tokens, jwt_claims, jwt_header, org_with_alice};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::apps::{AppType, CreateApp, SessionProfile};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The app session an access token names.
fn app_session_of(access: &str) -> portcullis::oidc::AppSessionId {
    portcullis::oidc::AppSessionId(
        jwt_claims(access)["app_session"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

fn kid(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_owned()
}

/// Node `a` with alice in org acme and a web app, a second node `b` of the same deployment when
/// the cache is shared (an in-process cache is one node's), and alice signed in at `a`.
struct Deployment {
    a: TestApp,
    b: Option<TestApp>,
    org: portcullis::tenancy::Org,
    web: Rp,
    browser: Browser,
}

impl Deployment {
    async fn start(backend: &crate::helpers::Backend, app: Option<CreateApp>) -> Self {
        let a = TestApp::spawn_oidc(backend).await;
        let org = org_with_alice(&a, "acme").await;
        let web = match app {
            Some(req) => Rp::register(&a, &org, req).await,
            None => Rp::web(&a, &org, "web").await,
        };
        let b = match &a.redis {
            Some(redis) => Some(
                TestApp::spawn_on(&a.db_url, Some(redis.clone()), |f| {
                    f.merge(("http.public_url", a.public_url()))
                })
                .await,
            ),
            None => None,
        };
        let mut browser = Browser::new(&a.address, UA);
        assert_eq!(
            browser.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        Self {
            a,
            b,
            org,
            web,
            browser,
        }
    }

    fn nodes(&self) -> Vec<&TestApp> {
        std::iter::once(&self.a).chain(self.b.as_ref()).collect()
    }

    async fn tokens(&mut self) -> Tokens {
        self.web
            .sign_in(&mut self.browser, &[("scope", "openid")])
            .await
    }
}

both_backends!(
    a_rotated_key_signs_and_verifies_on_every_node_at_once,
    |backend| {
        let mut d = Deployment::start(&backend, None).await;
        let mut tokens = d.tokens().await;
        let old_kid = kid(&tokens.access);
        // Every node reads (and from now on holds) the org's keys.
        for node in d.nodes() {
            let answer = d.web.at_node(node).userinfo(&tokens.access).await;
            assert_eq!(answer.status, 200, "{answer:?}");
        }

        // The successor is newer than the first key (the clocks are fixed).
        for node in d.nodes() {
            node.clock.advance(chrono::Duration::seconds(1));
        }
        let rotated =
            d.a.state
                .keys
                .rotate(&d.org, None, chrono::Duration::zero())
                .await
                .unwrap();
        assert_ne!(rotated.kid, old_kid);

        for node in d.nodes() {
            let rp = d.web.at_node(node);
            // The next token any node signs carries the new key…
            let answer = rp.refresh(&tokens.refresh).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            tokens = Tokens::of(&answer);
            assert_eq!(
                kid(&tokens.access),
                rotated.kid,
                "signed at {}",
                node.address
            );
            // …its JWKS publishes it beside the old one…
            let jwks: serde_json::Value = node.get("/o/acme/jwks").await.json().await.unwrap();
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap())
                .collect();
            assert!(kids.contains(&rotated.kid.as_str()), "{kids:?}");
            assert!(kids.contains(&old_kid.as_str()), "{kids:?}");
            // …and every node accepts what any node signed with it.
            for other in d.nodes() {
                let answer = d.web.at_node(other).userinfo(&tokens.access).await;
                assert_eq!(answer.status, 200, "{answer:?}");
            }
        }
    }
);

both_backends!(
    a_token_of_a_key_this_node_has_not_read_yet_verifies,
    |backend| {
        let mut d = Deployment::start(&backend, None).await;
        let tokens = d.tokens().await;
        assert_eq!(d.web.userinfo(&tokens.access).await.status, 200);

        // Another process (a node that could not reach the cache, or the CLI without Redis)
        // rotates: this node hears nothing. Its held keys go on serving, and the new key's
        // tokens still verify here: an unknown kid makes the node read the keys again.
        let other = TestApp::spawn_on(&d.a.db_url, None, |f| {
            f.merge(("http.public_url", d.a.public_url()))
        })
        .await;
        d.a.clock.advance(chrono::Duration::seconds(1));
        other.clock.advance(chrono::Duration::seconds(1));
        let rotated = other
            .state
            .keys
            .rotate(&d.org, None, chrono::Duration::zero())
            .await
            .unwrap();
        let signed_elsewhere = d.web.at_node(&other).refresh(&tokens.refresh).await;
        assert_eq!(signed_elsewhere.status, 200, "{signed_elsewhere:?}");
        let fresh = Tokens::of(&signed_elsewhere);
        assert_eq!(kid(&fresh.access), rotated.kid);
        let answer = d.web.userinfo(&fresh.access).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
);

both_backends!(
    a_token_remembered_as_verified_still_expires_and_still_ends,
    |backend| {
        let mut d = Deployment::start(&backend, None).await;
        let first = d.tokens().await;
        let second = d.tokens().await;
        let web = &d.web;
        // Checked once, remembered: the same answers again.
        for _ in 0..2 {
            assert_eq!(web.userinfo(&first.access).await.status, 200);
            assert!(web.active(&second.access).await);
        }
        // Ending its app session ends the remembered token at once (liveness is never cached
        // with the signature).
        let answer = web.revoke(&first.refresh, Some("refresh_token")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(web.userinfo(&first.access).await.status, 401);
        // And a remembered token still expires on the clock.
        let exp = jwt_claims(&second.access)["exp"].as_i64().unwrap();
        let now = portcullis::clock::Clock::now(d.a.clock.as_ref()).timestamp();
        d.a.clock.advance(chrono::Duration::seconds(exp - now));
        assert_eq!(web.userinfo(&second.access).await.status, 401);
        assert!(!web.active(&second.access).await);
    }
);

both_backends!(
    an_edited_app_and_a_rotated_secret_apply_on_every_node_at_once,
    |backend| {
        let d = Deployment::start(&backend, None).await;
        let web = &d.web;
        let mut moved = web.clone();
        moved.redirect_uri = "http://127.0.0.1:9/moved/callback".into();
        let authorize = |node: &TestApp, rp: &Rp| {
            let path = rp.authorize_path(&[]);
            let mut browser = Browser::new(&node.address, UA);
            async move { browser.get(&path).await.status }
        };
        // Every node reads (and holds) the app: its secret works, its URI is the old one.
        for node in d.nodes() {
            assert_eq!(web.at_node(node).introspect("x").await.status, 200);
            assert_eq!(authorize(node, web).await, 303);
            assert_eq!(authorize(node, &moved).await, 400);
        }

        let app =
            d.a.state
                .store
                .app_by_client_id(d.org.id, &web.client_id)
                .await
                .unwrap()
                .unwrap();
        let secret =
            d.a.state
                .apps
                .rotate_secret(&d.org, &app, "test")
                .await
                .unwrap();
        let mut edit = CreateApp::new("web", AppType::Web);
        edit.redirect_uris = vec![moved.redirect_uri.clone()];
        d.a.state
            .apps
            .update(&d.org, &app, edit, "test")
            .await
            .unwrap();

        let rotated = web.with_credentials(&web.client_id, Some(&secret));
        for node in d.nodes() {
            let old = web.at_node(node).introspect("x").await;
            assert_eq!(
                old.status, 401,
                "the old secret at {}: {old:?}",
                node.address
            );
            assert_eq!(rotated.at_node(node).introspect("x").await.status, 200);
            assert_eq!(
                authorize(node, &moved).await,
                303,
                "the new URI at {}",
                node.address
            );
            assert_eq!(
                authorize(node, web).await,
                400,
                "the old URI at {}",
                node.address
            );
        }
    }
);

both_backends!(
    an_edited_app_is_held_again_by_the_next_request_not_after_a_fence,
    |backend| {
        // After a change, the next request that reads the app from the database stores its copy
        // at once: no window in which every token check of the app reads the database (30 s
        // after each change before, on every node).
        let d = Deployment::start(&backend, None).await;
        let web = &d.web;
        let key = portcullis::store::cache::CacheKey::org_copy(
            d.org.id,
            "app",
            &portcullis::secrets::sha256_hex(&web.client_id),
        );
        let held = || async {
            d.a.state
                .cache
                .get_copy::<serde_json::Value>(&key)
                .await
                .0
                .is_some()
        };
        assert_eq!(web.introspect("x").await.status, 200);
        assert!(held().await, "the app is held after a request");

        let app =
            d.a.state
                .store
                .app_by_client_id(d.org.id, &web.client_id)
                .await
                .unwrap()
                .unwrap();
        let mut edit = CreateApp::new("web renamed", AppType::Web);
        edit.redirect_uris = vec![web.redirect_uri.clone()];
        d.a.state
            .apps
            .update(&d.org, &app, edit, "test")
            .await
            .unwrap();
        assert!(!held().await, "a change drops the copy");
        for node in d.nodes() {
            assert_eq!(web.at_node(node).introspect("x").await.status, 200);
        }
        assert!(held().await, "the next request holds the changed app again");
        let copy =
            d.a.state
                .cache
                .get_copy::<serde_json::Value>(&key)
                .await
                .0
                .unwrap();
        assert_eq!(copy["app"]["name"], "web renamed");
    }
);

both_backends!(
    activity_coalescing_never_extends_an_idle_deadline,
    |backend| {
        let mut req = CreateApp::new("web", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/web/callback".into()];
        let mut rules = SessionProfile::Standard.preset();
        rules.idle_timeout_secs = Some(300);
        req.rules = Some(rules);
        req.access_token_ttl_secs = Some(3600);
        let mut d = Deployment::start(&backend, Some(req)).await;
        let tokens = d.tokens().await;
        let (app, org, web) = (&d.a, &d.org, &d.web);
        let id = app_session_of(&tokens.access);
        let stored = || async {
            app.state
                .store
                .app_session(org.id, id)
                .await
                .unwrap()
                .unwrap()
                .idle_deadline
                .unwrap()
        };
        let start = portcullis::clock::Clock::now(app.clock.as_ref());
        let at = |secs: i64| start + chrono::Duration::seconds(secs);
        assert_eq!(stored().await, at(300));

        // A use within a tenth of the idle timeout writes nothing: the stored deadline stays
        // where the last write put it, earlier than the exact one, never later.
        app.clock.advance(chrono::Duration::seconds(20));
        assert!(web.active(&tokens.access).await);
        assert_eq!(stored().await, at(300));
        // A use past it moves the deadline to exactly that use + the idle timeout.
        app.clock.advance(chrono::Duration::seconds(20));
        assert!(web.active(&tokens.access).await);
        assert_eq!(stored().await, at(340));
        // Many uses in a row: one write per interval, each deadline at most use + idle.
        for step in 1..=10 {
            app.clock.advance(chrono::Duration::seconds(7));
            assert!(web.active(&tokens.access).await);
            let now = 40 + 7 * step;
            let deadline = stored().await;
            assert!(deadline <= at(now + 300), "step {step}: {deadline}");
            assert!(deadline >= at(now + 300 - 30), "step {step}: {deadline}");
        }
        // Idle past the stored deadline: inactive, and ended for good.
        let deadline = stored().await;
        let now = portcullis::clock::Clock::now(app.clock.as_ref());
        app.clock.advance(deadline - now);
        assert!(!web.active(&tokens.access).await);
        app.clock.advance(chrono::Duration::seconds(-60));
        assert!(!web.active(&tokens.access).await);
    }
);

both_backends!(
    an_ended_app_session_is_inactive_at_every_node_on_the_next_request,
    |backend| {
        // `web` may not outlive the IdP session; `offline` may (the standard preset).
        let mut req = CreateApp::new("web", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/web/callback".into()];
        let mut rules = SessionProfile::Standard.preset();
        rules.outlives_idp_session = false;
        req.rules = Some(rules);
        let mut d = Deployment::start(&backend, Some(req)).await;
        let mut req = CreateApp::new("offline", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/offline/callback".into()];
        let rules = SessionProfile::Standard.preset();
        assert!(rules.outlives_idp_session);
        req.rules = Some(rules);
        let offline = Rp::register(&d.a, &d.org, req).await;
        let standard = d.tokens().await;
        let revoked = d.tokens().await;
        let outliving = offline
            .sign_in(&mut d.browser, &[("scope", "openid offline_access")])
            .await;
        let web = &d.web;
        let nodes: Vec<&TestApp> = std::iter::once(&d.a).chain(d.b.as_ref()).collect();
        // Asked twice at every node: the second answer comes from what the first one kept.
        let check = |rp: &Rp, tokens: &Tokens, live: bool, when: &'static str| {
            let (rp, access) = (rp.clone(), tokens.access.clone());
            let nodes = nodes.clone();
            async move {
                for node in nodes {
                    let at = rp.at_node(node);
                    for _ in 0..2 {
                        let status = at.userinfo(&access).await.status;
                        assert_eq!(status == 200, live, "{when}: userinfo at {}", node.address);
                        assert_eq!(
                            at.active(&access).await,
                            live,
                            "{when}: introspection at {}",
                            node.address
                        );
                    }
                }
            }
        };
        check(web, &standard, true, "signed in").await;
        check(web, &revoked, true, "signed in").await;
        check(&offline, &outliving, true, "signed in").await;

        // Ended by name (revocation at node a).
        let answer = web.revoke(&revoked.refresh, Some("refresh_token")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        check(web, &revoked, false, "revoked").await;
        check(web, &standard, true, "another app session revoked").await;

        // Ended with its IdP session (sign-out at node a): the app session is ended in the
        // same transaction without being named; the outliving one lives on.
        let form = d.browser.get("/o/acme/logout").await;
        assert_eq!(form.status, 200);
        let csrf = form.csrf();
        let out = d.browser.post("/o/acme/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 200, "{}", out.body);
        check(web, &standard, false, "IdP session signed out").await;
        check(&offline, &outliving, true, "IdP session signed out").await;

        // "Sign out everywhere" at node a also ends app sessions that outlived their IdP
        // session, again without naming them.
        let user = jwt_claims(&outliving.access)["sub"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        d.a.state
            .sessions
            .end_user_sessions(
                d.org.id,
                portcullis::accounts::UserId(user),
                None,
                portcullis::sessions::EndReason::UserSignedOutEverywhere,
                "test",
            )
            .await
            .unwrap();
        check(&offline, &outliving, false, "signed out everywhere").await;
    }
);

both_backends!(
    a_changed_name_shows_in_userinfo_at_every_node_on_the_next_request,
    |backend| {
        let mut d = Deployment::start(&backend, None).await;
        let tokens = d
            .web
            .sign_in(&mut d.browser, &[("scope", "openid profile email")])
            .await;
        let mut req = CreateApp::new("Automation", AppType::Service);
        req.admin = true;
        let automation = Rp::register(&d.a, &d.org, req).await;
        let admin = automation
            .token(&[("grant_type", "client_credentials")])
            .await
            .str("access_token");
        let sub = jwt_claims(&tokens.access)["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let names = || async {
            let mut seen = Vec::new();
            for node in d.nodes() {
                for _ in 0..2 {
                    let answer = d.web.at_node(node).userinfo(&tokens.access).await;
                    assert_eq!(answer.status, 200, "{answer:?}");
                    seen.push(answer.json["name"].clone());
                }
            }
            seen
        };
        for name in names().await {
            assert_eq!(name, "Alice");
        }
        // Renamed through the admin API of node a.
        let renamed =
            d.a.client
                .patch(format!("{}/api/v1/orgs/acme/users/{sub}", d.a.address))
                .bearer_auth(&admin)
                .json(&serde_json::json!({ "name": "Alice Liddell" }))
                .send()
                .await
                .unwrap();
        assert_eq!(renamed.status(), 200);
        for name in names().await {
            assert_eq!(name, "Alice Liddell");
        }
    }
);

both_backends!(
    an_app_session_ended_without_its_tombstone_is_found_out_at_the_next_write,
    |backend| {
        let mut d = Deployment::start(&backend, None).await;
        let tokens = d.tokens().await;
        let web = &d.web;
        assert!(web.active(&tokens.access).await);
        assert_eq!(web.userinfo(&tokens.access).await.status, 200);
        // Ended in the database only, as by a node that could not write the tombstone.
        let id = app_session_of(&tokens.access);
        let now = portcullis::clock::Clock::now(d.a.clock.as_ref());
        assert!(
            d.a.state
                .store
                .end_app_session(d.org.id, id, "test", "test", now)
                .await
                .unwrap()
        );
        // The refresh grant reads the row itself: refused at once.
        web.refresh(&tokens.refresh)
            .await
            .assert_error(400, "invalid_grant");
        // The next activity write finds the row ended: inactive from then on, everywhere.
        d.a.clock.advance(chrono::Duration::seconds(61));
        assert!(!web.active(&tokens.access).await);
        for node in d.nodes() {
            assert_eq!(web.at_node(node).userinfo(&tokens.access).await.status, 401);
            assert!(!web.at_node(node).active(&tokens.access).await);
        }
    }
);
