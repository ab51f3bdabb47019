//! Sign-up with email verification, the rules for unverified users, email change and per-org
//! templates, with every message sent over SMTP to the loopback sink and read raw.

use crate::browser::Browser;
use crate::email::{UA, admin_token, app_with_smtp, link_in, path_of};
use crate::helpers::{TestApp, org_with_alice};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::tenancy::{SignupMode, SignupPolicy};

const NEWCOMER: &str = "newcomer@acme.test";
const NEW_PASSWORD: &str = "newcomer password";

async fn set_signup(app: &TestApp, slug: &str, mode: SignupMode, require: bool) {
    let org = app.state.orgs.find(slug).await.unwrap();
    app.state
        .orgs
        .set_signup(
            &org,
            SignupPolicy {
                mode,
                require_verified_email: require,
            },
            "test",
        )
        .await
        .unwrap();
}

async fn sign_up(b: &mut Browser, slug: &str, email: &str, password: &str) -> crate::browser::Page {
    let form = b.get(&format!("/o/{slug}/signup")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    b.post(
        &format!("/o/{slug}/signup"),
        &[
            ("email", email),
            ("password", password),
            ("name", "Newcomer"),
            ("csrf", &form.csrf()),
        ],
    )
    .await
}

fn token_of(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

/// Opens a link's page and presses its button (with `extra` fields); returns the answer.
async fn confirm(
    b: &mut Browser,
    link: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> crate::browser::Page {
    let page = b.get(&path_of(link)).await;
    if page.status != 200 {
        return page;
    }
    let token = token_of(link);
    let csrf = page.csrf();
    let mut fields = vec![("token", token.as_str()), ("csrf", csrf.as_str())];
    fields.extend_from_slice(extra);
    b.post(action, &fields).await
}

both_backends!(
    sign_up_verifies_the_address_and_unverified_users_cannot_sign_in_or_reset,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        org_with_alice(&app, "globex").await;
        let issuer = app.issuer("acme");
        let mut b = Browser::new(&app.address, UA);

        // Sign-up is off by default: the page says so and the form does nothing.
        let closed = b.get("/o/acme/signup").await;
        assert_eq!(closed.status, 403);
        assert!(closed.body.contains("data-testid=\"signup-closed\""));
        assert!(!b.get("/o/acme/login").await.body.contains("/o/acme/signup"));
        set_signup(&app, "acme", SignupMode::InviteOnly, true).await;
        assert!(
            b.get("/o/acme/signup")
                .await
                .body
                .contains("by invitation only")
        );
        set_signup(&app, "acme", SignupMode::Open, true).await;
        assert!(b.get("/o/acme/login").await.body.contains("/o/acme/signup"));

        // Bad input is refused on the form, and nothing is created.
        let users_before = app.state.store.count_users(org.id).await.unwrap();
        let short = sign_up(&mut b, "acme", NEWCOMER, "short").await;
        assert_eq!(short.status, 422);
        assert!(short.body.contains("role=\"alert\""));
        let no_csrf = b
            .post(
                "/o/acme/signup",
                &[
                    ("email", NEWCOMER),
                    ("password", NEW_PASSWORD),
                    ("csrf", "x"),
                ],
            )
            .await;
        assert_eq!(no_csrf.status, 403);
        assert_eq!(
            app.state.store.count_users(org.id).await.unwrap(),
            users_before
        );

        // A new address and a taken one get the same answer (the address echoed aside).
        let new = sign_up(&mut b, "acme", NEWCOMER, NEW_PASSWORD).await;
        let taken = sign_up(&mut b, "acme", EMAIL, "someone else's password").await;
        assert_eq!(new.status, 200);
        assert_eq!(taken.status, 200);
        assert!(new.body.contains("data-testid=\"signup-sent\""));
        assert_eq!(
            new.body.replace(NEWCOMER, "X"),
            taken.body.replace(EMAIL, "X")
        );
        assert_eq!(app.state.email.run_once().await.unwrap(), 2);
        let received = inbox.lock().unwrap().clone();
        let to_newcomer = received
            .iter()
            .find(|m| m.rcpt == vec![format!("RCPT TO:<{NEWCOMER}>")])
            .expect("a verification message");
        assert!(
            to_newcomer
                .data
                .contains("Subject: Confirm your email address for Test Org")
        );
        let verify = link_in(&to_newcomer.data, &format!("{issuer}/verify-email?token="));
        // Alice is told someone tried; her password did not change.
        let to_alice = received
            .iter()
            .find(|m| m.rcpt == vec![format!("RCPT TO:<{EMAIL}>")])
            .expect("a note to the owner");
        assert!(
            to_alice
                .data
                .contains("Subject: Sign-up attempt at Test Org")
        );
        assert!(!to_alice.data.contains("verify-email"));
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", EMAIL, PASSWORD, false)
                .await
                .status,
            303
        );

        // Nothing exists before the link is used: signing in with the new password is refused
        // exactly like a wrong one, so sign-up + sign-in does not tell new addresses from taken.
        assert_eq!(
            app.state.store.count_users(org.id).await.unwrap(),
            users_before
        );
        let mut newcomer = Browser::new(&app.address, UA);
        let early = newcomer
            .sign_in("acme", NEWCOMER, NEW_PASSWORD, false)
            .await;
        assert_eq!(early.status, 401);
        assert!(newcomer.session("acme").is_none());

        // Forgot-password answers the same and sends nothing.
        let queued = app.state.store.emails(org.id).await.unwrap().len();
        let form = b.get("/o/acme/password/forgot").await;
        let forgot = b
            .post(
                "/o/acme/password/forgot",
                &[("email", NEWCOMER), ("csrf", &form.csrf())],
            )
            .await;
        assert_eq!(forgot.status, 200);
        assert!(forgot.body.contains("data-testid=\"reset-sent\""));
        assert_eq!(app.state.store.emails(org.id).await.unwrap().len(), queued);

        // Signing up again (another password) makes a second pending sign-up: each link needs
        // its own password, and the first one used wins.
        assert_eq!(
            sign_up(&mut newcomer, "acme", NEWCOMER, "second password")
                .await
                .status,
            200
        );
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let newer = link_in(
            &inbox.lock().unwrap().last().unwrap().data,
            &format!("{issuer}/verify-email?token="),
        );
        assert_ne!(newer, verify);

        // Org B does not know org A's link.
        let foreign = newer.replace("/o/acme/", "/o/globex/");
        let elsewhere = confirm(
            &mut newcomer,
            &foreign,
            "/o/globex/verify-email",
            &[("password", "second password")],
        )
        .await;
        assert_eq!(elsewhere.status, 400);

        // The link needs the password chosen with it (whoever opens the mail without it, such
        // as the owner of an address someone else signed up with, cannot finish that sign-up).
        let wrong = confirm(
            &mut newcomer,
            &newer,
            "/o/acme/verify-email",
            &[("password", NEW_PASSWORD)],
        )
        .await;
        assert_eq!(wrong.status, 422);
        assert_eq!(
            app.state.store.count_users(org.id).await.unwrap(),
            users_before
        );
        // With it, the link works once, and the account exists, verified.
        let done = confirm(
            &mut newcomer,
            &newer,
            "/o/acme/verify-email",
            &[("password", "second password")],
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Address confirmed"));
        let again = confirm(
            &mut newcomer,
            &newer,
            "/o/acme/verify-email",
            &[("password", "second password")],
        )
        .await;
        assert_eq!(again.status, 400);
        // The other pending sign-up for the address is void now.
        let old = confirm(
            &mut newcomer,
            &verify,
            "/o/acme/verify-email",
            &[("password", NEW_PASSWORD)],
        )
        .await;
        assert_eq!(old.status, 400);
        assert_eq!(
            newcomer
                .sign_in("acme", NEWCOMER, "second password", false)
                .await
                .status,
            303
        );
        let user = app
            .state
            .store
            .user_by_email(
                org.id,
                &portcullis::accounts::EmailAddress::parse(NEWCOMER).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(user.email_verified_at.is_some());
        assert_eq!(user.name.as_deref(), Some("Newcomer"));
        assert_eq!(user.role, portcullis::accounts::Role::Member);

        // Guessing the sign-up password with a link is bounded: after the allowed attempts it
        // answers 429, even with the right password.
        assert_eq!(
            sign_up(&mut b, "acme", "guess@acme.test", "guess password")
                .await
                .status,
            200
        );
        app.state.email.run_once().await.unwrap();
        let guessed = link_in(
            &inbox.lock().unwrap().last().unwrap().data,
            &format!("{issuer}/verify-email?token="),
        );
        for _ in 0..portcullis::accounts::VERIFY_ATTEMPTS_PER_LINK {
            let wrong = confirm(
                &mut b,
                &guessed,
                "/o/acme/verify-email",
                &[("password", "a wrong guess")],
            )
            .await;
            assert_eq!(wrong.status, 422);
        }
        let blocked = confirm(
            &mut b,
            &guessed,
            "/o/acme/verify-email",
            &[("password", "guess password")],
        )
        .await;
        assert_eq!(blocked.status, 429);
    }
);

both_backends!(
    verification_links_expire_and_orgs_may_let_unverified_users_in,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org_id = org_with_alice(&app, "acme").await.id;
        set_signup(&app, "acme", SignupMode::Open, false).await;
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(
            sign_up(&mut b, "acme", NEWCOMER, NEW_PASSWORD).await.status,
            200
        );
        // This org does not require a verified address: the newcomer signs in at once, but
        // cannot add a key before the address is confirmed.
        let mut early = Browser::new(&app.address, UA);
        assert_eq!(
            early
                .sign_in("acme", NEWCOMER, NEW_PASSWORD, false)
                .await
                .status,
            303
        );
        let key = early
            .post_json(
                "/o/acme/webauthn/register/start",
                &serde_json::json!({ "kind": "passkey" }),
            )
            .await;
        assert_eq!(key.status, 403, "{}", key.body);
        assert!(key.body.contains("email_not_verified"));
        app.state.email.run_once().await.unwrap();
        let link = link_in(
            &inbox.lock().unwrap()[0].data,
            &format!("{}/verify-email?token=", app.issuer("acme")),
        );
        // 24 hours later the link is dead.
        app.clock
            .advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
        let late = confirm(
            &mut b,
            &link,
            "/o/acme/verify-email",
            &[("password", NEW_PASSWORD)],
        )
        .await;
        assert_eq!(late.status, 400);

        // Whoever signs up first with an address does not own it. Signing up again changes
        // nothing, but sends the address a link to set the account up; using it drops what the
        // first one set (password, sessions).
        let mut squatter = Browser::new(&app.address, UA);
        let victim = "victim@acme.test";
        assert_eq!(
            sign_up(&mut squatter, "acme", victim, "squatter password")
                .await
                .status,
            200
        );
        assert_eq!(
            squatter
                .sign_in("acme", victim, "squatter password", false)
                .await
                .status,
            303
        );
        assert_eq!(squatter.get("/o/acme/account").await.status, 200);
        let mut owner = Browser::new(&app.address, UA);
        assert_eq!(
            sign_up(&mut owner, "acme", victim, "owner password")
                .await
                .status,
            200
        );
        // Nothing changed yet.
        assert_eq!(squatter.get("/o/acme/account").await.status, 200);
        inbox.lock().unwrap().clear();
        app.state.email.run_once().await.unwrap();
        let received = inbox.lock().unwrap().clone();
        let setup = received
            .iter()
            .find(|m| m.data.contains("/invitation?token="))
            .expect("a set-up link");
        assert_eq!(setup.rcpt, vec![format!("RCPT TO:<{victim}>")]);
        let setup = link_in(
            &setup.data,
            &format!("{}/invitation?token=", app.issuer("acme")),
        );
        let used = confirm(
            &mut owner,
            &setup,
            "/o/acme/invitation",
            &[("new_password", "owner password")],
        )
        .await;
        assert_eq!(used.status, 200, "{}", used.body);
        assert_ne!(squatter.get("/o/acme/account").await.status, 200);
        // The squatter's display name went with the rest.
        let taken_back = app
            .state
            .store
            .user_by_email(
                org_id,
                &portcullis::accounts::EmailAddress::parse(victim).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken_back.name, None);
        assert!(taken_back.email_verified_at.is_some());
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", victim, "squatter password", false)
                .await
                .status,
            401
        );
        assert_eq!(
            owner
                .sign_in("acme", victim, "owner password", false)
                .await
                .status,
            303
        );

        // An unverified account in an org that starts requiring verification: the right
        // password is told to confirm first; a new link, used with that password, lets it in.
        let mut late = Browser::new(&app.address, UA);
        assert_eq!(
            sign_up(&mut late, "acme", "late@acme.test", "late password")
                .await
                .status,
            200
        );
        set_signup(&app, "acme", SignupMode::Open, true).await;
        let refused = late
            .sign_in("acme", "late@acme.test", "late password", false)
            .await;
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("data-testid=\"email-not-verified\""));
        assert!(late.session("acme").is_none());
        let wrong = late
            .sign_in("acme", "late@acme.test", "not the password", false)
            .await;
        assert_eq!(wrong.status, 401);
        let resend = late
            .post(
                "/o/acme/verify-email/resend",
                &[("email", "late@acme.test"), ("csrf", &refused.csrf())],
            )
            .await;
        assert_eq!(resend.status, 200);
        inbox.lock().unwrap().clear();
        app.state.email.run_once().await.unwrap();
        let fresh = inbox
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.rcpt == vec!["RCPT TO:<late@acme.test>".to_owned()])
            .map(|m| {
                link_in(
                    &m.data,
                    &format!("{}/verify-email?token=", app.issuer("acme")),
                )
            })
            .expect("a new verification link");
        let done = confirm(
            &mut late,
            &fresh,
            "/o/acme/verify-email",
            &[("password", "late password")],
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(
            late.sign_in("acme", "late@acme.test", "late password", false)
                .await
                .status,
            303
        );
    }
);

both_backends!(
    an_email_change_is_confirmed_at_the_new_address_and_the_old_one_is_told,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.sign_in("acme", EMAIL, PASSWORD, false).await.status, 303);
        let account = b.get("/o/acme/account").await;
        let same = b
            .post(
                "/o/acme/account/email",
                &[("new_email", EMAIL), ("csrf", &account.csrf())],
            )
            .await;
        assert_eq!(same.status, 400);
        let asked = b
            .post(
                "/o/acme/account/email",
                &[
                    ("new_email", "alice.new@acme.test"),
                    ("csrf", &account.csrf()),
                ],
            )
            .await;
        assert_eq!(asked.status, 200, "{}", asked.body);
        assert!(asked.body.contains("We sent a link to alice.new@acme.test"));
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let msg = inbox.lock().unwrap()[0].clone();
        assert_eq!(msg.rcpt, vec!["RCPT TO:<alice.new@acme.test>".to_owned()]);
        let link = link_in(
            &msg.data,
            &format!("{}/email/confirm?token=", app.issuer("acme")),
        );

        // Nothing changed yet: the old address still signs in.
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", EMAIL, PASSWORD, false)
                .await
                .status,
            303
        );
        // Only its account, signed in, can use the link: anyone else is sent to sign in.
        let stranger = Browser::new(&app.address, UA).get(&path_of(&link)).await;
        assert_eq!(stranger.status, 303);
        assert!(
            stranger
                .location()
                .contains("/o/acme/login?reauth=1&return_to="),
            "{}",
            stranger.location()
        );
        let done = confirm(&mut b, &link, "/o/acme/email/confirm", &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(
            confirm(&mut b, &link, "/o/acme/email/confirm", &[])
                .await
                .status,
            400
        );
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", "alice.new@acme.test", PASSWORD, false)
                .await
                .status,
            303
        );
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", EMAIL, PASSWORD, false)
                .await
                .status,
            401
        );
        // The old address is told.
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let notice = inbox.lock().unwrap()[1].clone();
        assert_eq!(notice.rcpt, vec![format!("RCPT TO:<{EMAIL}>")]);
        assert!(
            notice
                .data
                .contains("Subject: Test Org: your email address was changed")
        );
        let events = app
            .state
            .store
            .audit_events(org.id, Some("user.email_changed"), None, None, None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect::<Vec<_>>();
        assert!(
            events.iter().any(|a| a == "user.email_changed"),
            "{events:?}"
        );

        // A link for an address someone else took meanwhile changes nothing.
        let account = b.get("/o/acme/account").await;
        b.post(
            "/o/acme/account/email",
            &[("new_email", "bob@acme.test"), ("csrf", &account.csrf())],
        )
        .await;
        app.state.email.run_once().await.unwrap();
        let link = link_in(
            &inbox.lock().unwrap()[2].data,
            &format!("{}/email/confirm?token=", app.issuer("acme")),
        );
        let bob = portcullis::accounts::CreateUser {
            email: "bob@acme.test",
            password: Some("bob's password"),
            name: None,
            role: portcullis::accounts::Role::Member,
        };
        app.state
            .accounts
            .create_user(&org, bob, "test")
            .await
            .unwrap();
        assert_eq!(
            confirm(&mut b, &link, "/o/acme/email/confirm", &[])
                .await
                .status,
            409
        );
        assert_eq!(
            Browser::new(&app.address, UA)
                .sign_in("acme", "alice.new@acme.test", PASSWORD, false)
                .await
                .status,
            303
        );
    }
);

both_backends!(
    org_templates_and_branding_shape_the_messages_and_the_api_manages_them,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        org_with_alice(&app, "acme").await;
        let globex = org_with_alice(&app, "globex").await;
        app.state
            .orgs
            .update(
                "acme",
                None,
                Some("https://cdn.acme.test/logo.png"),
                Some("#aa3300"),
                "test",
            )
            .await
            .unwrap();
        let org = app.state.orgs.find("acme").await.unwrap();
        let token = admin_token(&app, &org).await;
        let api = |method: reqwest::Method, path: &str| {
            app.client
                .request(method, format!("{}/api/v1/orgs/acme{path}", app.address))
                .bearer_auth(&token)
        };

        // Every kind is listed with the built-in text and its placeholders.
        let list: serde_json::Value = api(reqwest::Method::GET, "/email-templates")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kinds = list.as_array().unwrap();
        assert_eq!(kinds.len(), 6);
        assert!(kinds.iter().all(|k| k["custom"] == false));
        assert!(kinds.iter().any(|k| {
            k["kind"] == "password_reset"
                && k["placeholders"]
                    .as_array()
                    .unwrap()
                    .contains(&"{{link}}".into())
        }));

        // Refusals name the field; unknown kinds are 404.
        let bad = api(reqwest::Method::PUT, "/email-templates/password_reset")
            .json(&serde_json::json!({ "subject": "Reset", "text": "no link", "html": "<p>{{link}}</p>" }))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let problem: serde_json::Value = bad.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "text", "{problem}");
        let injected = api(reqwest::Method::PUT, "/email-templates/password_reset")
            .json(&serde_json::json!({ "subject": "Reset\r\nBcc: x@example.com", "text": "{{link}}", "html": "{{link}}" }))
            .send()
            .await
            .unwrap();
        assert_eq!(injected.status(), 422);
        let unknown = api(reqwest::Method::PUT, "/email-templates/nope")
            .json(&serde_json::json!({ "subject": "a", "text": "{{link}}", "html": "{{link}}" }))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);

        let set = api(reqwest::Method::PUT, "/email-templates/password_reset")
            .json(&serde_json::json!({
                "subject": "Acme account: new password for {{email}}",
                "text": "Hello from {{org_name}}! Choose a new password here ({{valid_for}}): {{link}}",
                "html": "<p class=\"acme\">Hello from {{org_name}}</p><a href=\"{{link}}\">Go</a>",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
        let view: serde_json::Value = set.json().await.unwrap();
        assert_eq!(view["custom"], true);

        // Org A's reset mail follows its template and branding; org B's stays built-in.
        app.state
            .accounts
            .request_password_reset(&org, EMAIL, "203.0.113.1")
            .await
            .unwrap();
        app.state
            .accounts
            .request_password_reset(&globex, EMAIL, "203.0.113.1")
            .await
            .unwrap();
        assert_eq!(app.state.email.run_once().await.unwrap(), 2);
        let received = inbox.lock().unwrap().clone();
        let unfold = |d: &str| d.replace("=\r\n", "").replace("=3D", "=");
        let a = received
            .iter()
            .map(|m| unfold(&m.data))
            .find(|d| d.contains("/o/acme/password/reset"))
            .unwrap();
        let b = received
            .iter()
            .map(|m| unfold(&m.data))
            .find(|d| d.contains("/o/globex/password/reset"))
            .unwrap();
        assert!(
            a.contains(&format!("Subject: Acme account: new password for {EMAIL}")),
            "{a}"
        );
        assert!(a.contains("Hello from Test Org! Choose a new password here (30 minutes): http"));
        assert!(
            a.contains("<p class=\"acme\">Hello from Test Org</p>"),
            "{a}"
        );
        assert!(a.contains("src=\"https://cdn.acme.test/logo.png\""), "{a}");
        assert!(a.contains("border-top:4px solid #aa3300"), "{a}");
        assert!(b.contains("Subject: Reset your Test Org password"), "{b}");
        assert!(!b.contains("Hello from"));

        // Back to the built-in template.
        let reset = api(reqwest::Method::DELETE, "/email-templates/password_reset")
            .send()
            .await
            .unwrap();
        assert_eq!(reset.status(), 200);
        let view: serde_json::Value = reset.json().await.unwrap();
        assert_eq!(view["custom"], false);
        assert_eq!(view["subject"], "Reset your {{org_name}} password");

        // The sign-up policy through the API (and the hosted page follows it).
        let policy = api(reqwest::Method::PUT, "/signup-policy")
            .json(&serde_json::json!({ "mode": "sometimes", "require_verified_email": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(policy.status(), 422);
        let policy: serde_json::Value = api(reqwest::Method::PUT, "/signup-policy")
            .json(&serde_json::json!({ "mode": "open", "require_verified_email": false }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(policy["mode"], "open");
        let read: serde_json::Value = api(reqwest::Method::GET, "/signup-policy")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read, policy);
        assert_eq!(
            Browser::new(&app.address, UA)
                .get("/o/acme/signup")
                .await
                .status,
            200
        );
        assert_eq!(
            Browser::new(&app.address, UA)
                .get("/o/globex/signup")
                .await
                .status,
            403
        );
    }
);

both_backends!(the_forms_cannot_flood_a_mailbox, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    set_signup(&app, "acme", SignupMode::Open, true).await;
    let mut b = Browser::new(&app.address, UA);
    let form = b.get("/o/acme/password/forgot").await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        let page = b
            .post(
                "/o/acme/password/forgot",
                &[("email", EMAIL), ("csrf", &form.csrf())],
            )
            .await;
        answers.push((page.status, page.body));
    }
    // Sign-up attempts with the address count against the same quota.
    for _ in 0..3 {
        assert_eq!(
            sign_up(&mut b, "acme", EMAIL, "some other password")
                .await
                .status,
            200
        );
    }
    let sent = app.state.store.emails(org.id).await.unwrap();
    assert_eq!(
        sent.len() as i64,
        portcullis::email::UNPROMPTED_PER_ADDRESS_PER_HOUR,
        "{:?}",
        sent.iter().map(|m| &m.email.subject).collect::<Vec<_>>()
    );
    // Every answer was the same, dropped or not.
    assert!(answers.iter().all(|a| a == &answers[0]));
    // Another address has its own quota.
    assert_eq!(
        sign_up(&mut b, "acme", NEWCOMER, NEW_PASSWORD).await.status,
        200
    );
    assert_eq!(
        app.state.store.emails(org.id).await.unwrap().len() as i64,
        portcullis::email::UNPROMPTED_PER_ADDRESS_PER_HOUR + 1
    );
    // One network cannot request accounts without end: each costs a password hash.
    // (4 sign-ups above; the rest up to the limit pass, the next is refused.)
    let limit = portcullis::accounts::SIGNUPS_PER_IP_PER_HOUR;
    for i in 4..limit {
        let page = sign_up(&mut b, "acme", &format!("n{i}@acme.test"), NEW_PASSWORD).await;
        assert_eq!(page.status, 200, "sign-up {i}");
    }
    let refused = sign_up(&mut b, "acme", "one.more@acme.test", NEW_PASSWORD).await;
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("Too many sign-ups"));
});
