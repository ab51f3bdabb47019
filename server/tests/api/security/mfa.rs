//! Items 1 and 2 of the review: the second factor cannot be skipped by enrolling a key from the
//! password step, and a key enrolled during a sign-in does not raise that sign-in's assurance.
//! These are the `attack` journeys: real endpoints, a software authenticator as the attacker's.

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::signin::{EMAIL, PASSWORD, acme, user_id};
use crate::webauthn::{Key, body, enrol, finish, require_mfa, session_of, start};
use serde_json::json;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The attacker knows the password of a user with a key and tries to enrol a key of their own
/// (`kind`) from the second-factor step; `required`: the org requires MFA.
async fn second_factor_skip_is_refused(
    backend: crate::helpers::Backend,
    required: bool,
    kind: &str,
) {
    let app = TestApp::spawn(&backend).await;
    let org = acme(&app).await;
    let mut victim_key = Key::new();
    enrol(&app, &mut victim_key, "security_key").await;
    if required {
        require_mfa(&app, &org).await;
    }
    let user = user_id(&app, &org).await;
    let keys = || async {
        app.state
            .store
            .user_credentials(org.id, user)
            .await
            .unwrap()
            .len()
    };
    let keys_before = keys().await;

    // The password only: the server asks for the second factor.
    let mut attacker = Browser::new(&app.address, UA);
    let step1 = attacker.sign_in("acme", EMAIL, PASSWORD, false).await;
    assert_eq!(step1.status, 303);
    assert!(step1.location().starts_with("/o/acme/login/key"));

    // Enrolling the attacker's own key from that pending step: refused at start…
    let started = attacker
        .post_json("/o/acme/webauthn/enrol/start", &json!({ "kind": kind }))
        .await;
    assert!(
        started.status == 400 || started.status == 403,
        "enrolment from a second-factor step must be refused: {} {}",
        started.status,
        started.body
    );
    // …and at finish, whatever flow id is offered.
    let done = finish(
        &mut attacker,
        "acme",
        "enrol",
        "made-up-flow",
        &json!({ "id": "x" }),
    )
    .await;
    assert!(done.status >= 400, "{}", done.body);
    assert!(attacker.session("acme").is_none(), "no session was started");
    assert_eq!(keys_before, keys().await, "no key was stored");

    // The real second factor still works from the same pending step.
    let (flow, options) = start(&mut attacker, "second-factor", "security_key").await;
    let answer = victim_key.assert(&options);
    let ok = finish(&mut attacker, "acme", "second-factor", &flow, &answer).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

both_backends!(
    attack_second_factor_skip_by_enrolling_a_key_is_refused,
    |backend| second_factor_skip_is_refused(backend, false, "security_key").await
);

both_backends!(
    attack_second_factor_skip_under_required_mfa_is_refused,
    |backend| second_factor_skip_is_refused(backend, true, "passkey").await
);

both_backends!(
    a_pending_enrolment_step_is_not_a_second_factor_step,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        require_mfa(&app, &org).await;
        let mut b = Browser::new(&app.address, UA);
        let step1 = b.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert!(step1.location().starts_with("/o/acme/login/enrol"));
        // A recovery code (or a second-factor ceremony) cannot finish an enrolment step.
        let csrf = b.csrf_cookie("acme");
        let res = b
            .post(
                "/o/acme/login/recovery",
                &[("csrf", &csrf), ("code", "aaaaa-bbbbb")],
            )
            .await;
        assert!(res.status >= 400, "{}", res.status);
        let res = b
            .post_json("/o/acme/webauthn/second-factor/start", &json!({}))
            .await;
        assert!(res.status >= 400, "{}", res.body);
        assert!(b.session("acme").is_none());
    }
);

both_backends!(
    a_key_enrolled_after_the_password_does_not_count_as_mfa,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        require_mfa(&app, &org).await;

        // Required MFA, no key yet: the first key is enrolled right after the password.
        let mut b = Browser::new(&app.address, UA);
        let step1 = b.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert!(step1.location().starts_with("/o/acme/login/enrol"));
        let mut key = Key::new();
        let (flow, options) = start(&mut b, "enrol", "security_key").await;
        let reg = key.register(&options, false);
        let done = finish(&mut b, "acme", "enrol", &flow, &reg).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let s = session_of(&app, &b).await;
        assert_eq!(
            s.amr(),
            vec!["pwd"],
            "the key was enrolled, not used to authenticate"
        );
        assert!(s.webauthn_at.is_none());

        // Nor does stepping this sign-in up with the key it enrolled.
        let res = b
            .post_json("/o/acme/webauthn/step-up/start", &json!({}))
            .await;
        if res.status == 200 {
            let v = body(&res);
            let answer = key.assert(&v["options"]);
            let up = finish(
                &mut b,
                "acme",
                "step-up",
                v["flow_id"].as_str().unwrap(),
                &answer,
            )
            .await;
            assert!(up.status >= 400, "step-up with the new key: {}", up.body);
        }
        assert!(session_of(&app, &b).await.webauthn_at.is_none());

        // The next sign-in uses the key: now it counts.
        let mut next = Browser::new(&app.address, UA);
        let step1 = next.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert!(step1.location().starts_with("/o/acme/login/key"));
        let (flow, options) = start(&mut next, "second-factor", "security_key").await;
        let ok = finish(
            &mut next,
            "acme",
            "second-factor",
            &flow,
            &key.assert(&options),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(session_of(&app, &next).await.amr().contains(&"mfa"));
    }
);

both_backends!(
    a_key_added_on_the_account_page_does_not_step_up_the_same_sign_in,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        acme(&app).await;
        // MFA optional (the default), no key: the password alone signs in.
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        assert!(b.session("acme").is_some());
        let mut key = Key::new();
        let (flow, options) = start(&mut b, "register", "security_key").await;
        let reg = key.register(&options, false);
        let done = finish(&mut b, "acme", "register", &flow, &reg).await;
        assert_eq!(done.status, 200, "{}", done.body);

        // An app asks for MFA: the key added a moment ago does not step this sign-in up.
        let (flow, options) = start(&mut b, "step-up", "security_key").await;
        let up = finish(&mut b, "acme", "step-up", &flow, &key.assert(&options)).await;
        assert!(up.status >= 400, "step-up with the new key: {}", up.body);
        let s = session_of(&app, &b).await;
        assert!(s.webauthn_at.is_none(), "{:?}", s.amr());
        assert_eq!(s.acr(), portcullis::sessions::ACR_ONE_FACTOR);
    }
);

both_backends!(
    parallel_recovery_codes_get_one_guess_per_password_step,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut key = Key::new();
        enrol(&app, &mut key, "security_key").await;
        // Signed in with password and key, the user saves ten recovery codes.
        let mut b = Browser::new(&app.address, UA);
        b.sign_in("acme", EMAIL, PASSWORD, false).await;
        let (flow, options) = start(&mut b, "second-factor", "security_key").await;
        let ok = finish(
            &mut b,
            "acme",
            "second-factor",
            &flow,
            &key.assert(&options),
        )
        .await;
        assert_eq!(ok.status, 200);
        let csrf = b.get("/o/acme/account").await.csrf();
        let page = b
            .post("/o/acme/account/recovery-codes", &[("csrf", &csrf)])
            .await;
        let codes: Vec<String> = page
            .body
            .split("<code>")
            .skip(1)
            .map(|c| c.split('<').next().unwrap().to_owned())
            .collect();
        assert_eq!(codes.len(), 10);

        // One password step, ten recovery codes sent at once on it.
        let mut attacker = Browser::new(&app.address, UA);
        let step1 = attacker.sign_in("acme", EMAIL, PASSWORD, false).await;
        assert!(step1.location().starts_with("/o/acme/login/key"));
        let csrf = attacker.csrf_cookie("acme");
        let tries = codes.iter().map(|code| {
            let mut b = attacker.clone();
            let csrf = csrf.clone();
            let code = code.clone();
            async move {
                b.post(
                    "/o/acme/login/recovery",
                    &[("csrf", csrf.as_str()), ("code", code.as_str())],
                )
                .await
                .status
            }
        });
        let statuses = futures_util::future::join_all(tries).await;
        let signed_in = statuses.iter().filter(|s| **s == 303).count();
        assert_eq!(
            signed_in, 1,
            "one password step finished more than once: {statuses:?}"
        );
        let audit = app.state.store.recent_audit(org.id, 200).await.unwrap();
        let used = audit
            .iter()
            .filter(|(a, _)| a == "recovery_code.used")
            .count();
        assert_eq!(used, 1, "more than one code was checked and used");
    }
);

both_backends!(
    attack_an_invitation_link_is_no_way_around_the_keys_of_a_set_up_account,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut key = Key::new();
        enrol(&app, &mut key, "security_key").await;
        let user = app
            .state
            .store
            .user_by_id(org.id, user_id(&app, &org).await)
            .await
            .unwrap()
            .unwrap();
        // An admin sends alice (verified, with a key) an invitation; whoever reads her mailbox
        // tries to set up a passkey of their own with it.
        app.state
            .accounts
            .invite(&org, &user, "test")
            .await
            .unwrap();
        let token = crate::webauthn::invitation_token(&app, &org).await;
        let mut attacker = Browser::new(&app.address, UA);
        attacker
            .get(&format!("/o/acme/invitation?token={token}"))
            .await;
        let started = attacker
            .post_json(
                "/o/acme/webauthn/invite/start",
                &json!({ "kind": "passkey", "token": token }),
            )
            .await;
        assert!(
            started.status == 400 || started.status == 403,
            "{} {}",
            started.status,
            started.body
        );
        assert!(attacker.session("acme").is_none());
        assert_eq!(
            app.state
                .store
                .user_credentials(org.id, user.id)
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

both_backends!(
    a_passkey_sign_in_of_the_signed_in_user_keeps_the_session_and_its_apps,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let org = acme(&app).await;
        let mut key = Key::new();
        enrol(&app, &mut key, "passkey").await;
        // Signed in with the passkey: session S1.
        let mut b = Browser::new(&app.address, UA);
        b.get("/o/acme/login").await;
        let (flow, options) = start(&mut b, "passkey-login", "passkey").await;
        let ok = finish(
            &mut b,
            "acme",
            "passkey-login",
            &flow,
            &key.assert(&options),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        let first = session_of(&app, &b).await;
        // An app asks for a fresh sign-in; the user picks the passkey.
        let (flow, options) = start(&mut b, "passkey-login", "passkey").await;
        let again = finish(
            &mut b,
            "acme",
            "passkey-login",
            &flow,
            &key.assert(&options),
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.body);
        let now = session_of(&app, &b).await;
        assert_eq!(now.id, first.id, "re-authentication replaced the session");
        assert!(now.ended_at.is_none());
        assert_eq!(now.amr(), vec!["hwk", "user"], "the passkey alone");
        let ended = app
            .state
            .store
            .session_by_id(org.id, first.id)
            .await
            .unwrap()
            .unwrap();
        assert!(ended.ended_at.is_none(), "{:?}", ended.end_reason);
    }
);
