//! Password reset by email through the outbox, sent with lettre to a real SMTP server on
//! loopback (a sink in this harness that records every message raw).

use crate::browser::Browser;
use crate::helpers::{TestApp, org_with_alice};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::clock::Clock;
use portcullis::sessions::EndReason;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub(crate) const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A message as the sink received it: envelope recipients and the raw DATA.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub rcpt: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server: enough of RFC 5321 for lettre to deliver.
pub(crate) async fn smtp_sink() -> (u16, Arc<Mutex<Vec<Received>>>) {
    smtp_sink_on(0).await
}

/// A node whose mail goes to a fresh sink, and the sink's inbox.
pub(crate) async fn app_with_smtp(
    backend: &crate::helpers::Backend,
) -> (TestApp, Arc<Mutex<Vec<Received>>>) {
    let (smtp, inbox) = smtp_sink().await;
    let app = TestApp::spawn_oidc_with(backend, move |f| {
        f.merge(("email.smtp_url", format!("smtp://127.0.0.1:{smtp}")))
    })
    .await;
    (app, inbox)
}

/// The sink on a given port (0: any free one).
async fn smtp_sink_on(port: u16) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = inbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let inbox = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        rcpt.clear();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        rcpt.push(line.trim().to_owned());
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = write.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            // Undo dot-stuffing (RFC 5321 4.5.2).
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        inbox.lock().unwrap().push(Received {
                            rcpt: rcpt.clone(),
                            data,
                        });
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, inbox)
}

/// The first link starting with `prefix` in a raw message (quoted-printable soft breaks and
/// `=3D` undone).
pub(crate) fn link_in(data: &str, prefix: &str) -> String {
    let text = data.replace("=\r\n", "").replace("=3D", "=");
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("a link {prefix}… in {text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/?=._-".contains(*c))
        .collect()
}

/// The reset link in a raw message.
fn reset_link(data: &str, issuer: &str) -> String {
    link_in(data, &format!("{issuer}/password/reset?token="))
}

/// An access token for the admin API of `org`, from a service app with the admin role.
pub(crate) async fn admin_token(app: &TestApp, org: &portcullis::tenancy::Org) -> String {
    let mut req =
        portcullis::apps::CreateApp::new("Automation", portcullis::apps::AppType::Service);
    req.admin = true;
    let (service, secret) = app.state.apps.create(org, req, "test").await.unwrap();
    let token: serde_json::Value = app
        .client
        .post(format!("{}/o/{}/token", app.address, org.slug))
        .basic_auth(&service.client_id, secret)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

pub(crate) fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap())
}

both_backends!(
    password_reset_by_email_works_once_and_signs_out_everywhere,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        org_with_alice(&app, "globex").await;
        let issuer = app.issuer("acme");

        // A signed-in device, to see it signed out by the reset.
        let mut laptop = Browser::new(&app.address, UA);
        assert_eq!(
            laptop.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        // ...signed in to an app with a back-channel logout URI, to see the app told.
        let mut shop = portcullis::apps::CreateApp::new("Shop", portcullis::apps::AppType::Web);
        shop.redirect_uris = vec!["http://127.0.0.1:9/shop/callback".into()];
        shop.backchannel_logout_uri = Some("http://127.0.0.1:9/shop/backchannel".into());
        let shop = crate::helpers::Rp::register(&app, &org, shop).await;
        shop.sign_in(&mut laptop, &[]).await;

        // Forgot password: the same answer for a known and an unknown email.
        let mut b = Browser::new(&app.address, UA);
        let form = b.get("/o/acme/password/forgot").await;
        assert_eq!(form.status, 200);
        let known = b
            .post(
                "/o/acme/password/forgot",
                &[("email", EMAIL), ("csrf", &form.csrf())],
            )
            .await;
        let unknown = b
            .post(
                "/o/acme/password/forgot",
                &[("email", "nobody@acme.test"), ("csrf", &form.csrf())],
            )
            .await;
        assert_eq!(known.status, 200);
        assert_eq!(known.body, unknown.body);
        assert!(known.body.contains("data-testid=\"reset-sent\""));

        // Through the outbox: nothing sent until the worker runs; one message, to alice only.
        assert!(inbox.lock().unwrap().is_empty());
        let queued = app.state.store.emails(org.id).await.unwrap();
        assert_eq!(queued.len(), 1, "only the known email gets a message");
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let first = inbox.lock().unwrap()[0].clone();
        assert_eq!(first.rcpt, vec![format!("RCPT TO:<{EMAIL}>")]);
        assert!(
            first.data.contains("Subject: Reset your Test Org password"),
            "{}",
            first.data
        );
        let first_link = reset_link(&first.data, &issuer);
        assert_eq!(
            app.state.store.emails(org.id).await.unwrap()[0].status,
            "sent"
        );

        // A newer link voids the older one.
        let form = b.get("/o/acme/password/forgot").await;
        b.post(
            "/o/acme/password/forgot",
            &[("email", EMAIL), ("csrf", &form.csrf())],
        )
        .await;
        app.state.email.run_once().await.unwrap();
        let second_link = reset_link(&inbox.lock().unwrap()[1].data, &issuer);
        assert_ne!(first_link, second_link);
        assert_eq!(b.get(&path_of(&first_link)).await.status, 400, "voided");
        // Org A's link means nothing at org B.
        let at_globex = path_of(&second_link).replace("/o/acme/", "/o/globex/");
        assert_eq!(b.get(&at_globex).await.status, 400);

        // The link works once.
        let page = b.get(&path_of(&second_link)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = url::Url::parse(&second_link)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let short = b
            .post(
                "/o/acme/password/reset",
                &[
                    ("token", &token),
                    ("new_password", "short"),
                    ("csrf", &page.csrf()),
                ],
            )
            .await;
        assert_eq!(
            short.status, 422,
            "a too-short password is refused, the link still works"
        );
        let done = b
            .post(
                "/o/acme/password/reset",
                &[
                    ("token", &token),
                    ("new_password", "a brand new password"),
                    ("csrf", &page.csrf()),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Password changed"));
        let again = b
            .post(
                "/o/acme/password/reset",
                &[
                    ("token", &token),
                    ("new_password", "yet another password"),
                    ("csrf", &page.csrf()),
                ],
            )
            .await;
        assert_eq!(again.status, 400, "single use");

        // Signed out everywhere, with the reason; the new password works, the old one does not.
        assert_eq!(laptop.get("/o/acme/account").await.status, 303);
        // The app was told: a back-channel logout for the laptop's session, reason
        // `password_changed`, waits in the delivery outbox.
        let told = app.state.store.logout_deliveries(org.id).await.unwrap();
        assert_eq!(told.len(), 1, "{told:#?}");
        assert_eq!(told[0].reason, "password_changed");
        let user = app
            .state
            .store
            .user_by_email(
                org.id,
                &portcullis::accounts::EmailAddress::parse(EMAIL).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        let sessions = app
            .state
            .store
            .user_sessions(org.id, user.id, true)
            .await
            .unwrap();
        assert!(
            sessions
                .iter()
                .all(|s| s.end_reason == Some(EndReason::PasswordChanged))
        );
        let mut fresh = Browser::new(&app.address, UA);
        assert_eq!(
            fresh.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            401
        );
        assert_eq!(
            fresh
                .sign_in("acme", EMAIL, "a brand new password", false)
                .await
                .status,
            303
        );

        // Links expire after 30 minutes.
        let form = b.get("/o/acme/password/forgot").await;
        b.post(
            "/o/acme/password/forgot",
            &[("email", EMAIL), ("csrf", &form.csrf())],
        )
        .await;
        app.state.email.run_once().await.unwrap();
        // The reset also sent a security notice to the user.
        let received = inbox.lock().unwrap().clone();
        let notice = received
            .iter()
            .find(|m| m.data.contains("your password was changed"))
            .expect("a password-changed notice");
        assert_eq!(notice.rcpt, vec![format!("RCPT TO:<{EMAIL}>")]);
        let third = reset_link(
            &received
                .iter()
                .rev()
                .find(|m| m.data.contains("/password/reset?token="))
                .unwrap()
                .data,
            &issuer,
        );
        app.clock.advance(chrono::Duration::minutes(31));
        assert_eq!(b.get(&path_of(&third)).await.status, 400, "expired");
    }
);

both_backends!(mail_waits_in_the_outbox_while_smtp_is_down, |backend| {
    // A port nothing listens on: the send fails and the message stays queued.
    let closed = crate::helpers::free_port();
    let app = TestApp::spawn_oidc_with(&backend, move |f| {
        f.merge(("email.smtp_url", format!("smtp://127.0.0.1:{closed}")))
    })
    .await;
    let org = org_with_alice(&app, "acme").await;
    // The user sees the same answer as for an unknown address: nothing about SMTP.
    let mut b = Browser::new(&app.address, UA);
    let form = b.get("/o/acme/password/forgot").await;
    let known = b
        .post(
            "/o/acme/password/forgot",
            &[("email", EMAIL), ("csrf", &form.csrf())],
        )
        .await;
    let unknown = b
        .post(
            "/o/acme/password/forgot",
            &[("email", "nobody@acme.test"), ("csrf", &form.csrf())],
        )
        .await;
    assert_eq!(known.status, 200);
    assert_eq!(known.body, unknown.body);
    assert_eq!(app.state.email.run_once().await.unwrap(), 1);
    let row = app.state.store.emails(org.id).await.unwrap()[0].clone();
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.last_error.is_some());
    // Not due again before its backoff.
    assert_eq!(app.state.email.run_once().await.unwrap(), 0);
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(app.state.email.run_once().await.unwrap(), 1);
    assert_eq!(app.state.store.emails(org.id).await.unwrap()[0].attempts, 2);
    // SMTP comes back on its port: the next attempt delivers the link.
    let (_, inbox) = smtp_sink_on(closed).await;
    app.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(app.state.email.run_once().await.unwrap(), 1);
    let row = app.state.store.emails(org.id).await.unwrap()[0].clone();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 3));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt, vec![format!("RCPT TO:<{EMAIL}>")]);
    reset_link(&received[0].data, &app.issuer("acme"));
});

/// The CSRF cookie and token of a form page fetched with a raw client.
async fn raw_form(app: &TestApp, path: &str) -> (String, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("pc_csrf="))
        .expect("a CSRF cookie");
    let body = res.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap() + marker.len();
    let token = body[start..].split('"').next().unwrap().to_owned();
    (cookie, token)
}

both_backends!(
    links_use_the_public_url_and_names_cannot_add_headers,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        // An org (its name goes into the subject) and a user (display name) crafted to inject.
        let org = app
            .state
            .orgs
            .create("acme", Some("Acme\r\nBcc: x@example.com"), "test")
            .await
            .unwrap();
        let req = portcullis::accounts::CreateUser {
            email: EMAIL,
            password: Some(PASSWORD),
            name: Some("Alice\r\nBcc: x@example.com"),
            role: portcullis::accounts::Role::Member,
        };
        // A name with line breaks is either refused or harmless; create without it if refused.
        if app
            .state
            .accounts
            .create_user(&org, req, "test")
            .await
            .is_err()
        {
            let req = portcullis::accounts::CreateUser {
                email: EMAIL,
                password: Some(PASSWORD),
                name: None,
                role: portcullis::accounts::Role::Member,
            };
            app.state
                .accounts
                .create_user(&org, req, "test")
                .await
                .unwrap();
        }

        // A forged Host header: the link still names the configured public URL.
        let (cookie, csrf) = raw_form(&app, "/o/acme/password/forgot").await;
        let res = app
            .client
            .post(format!("{}/o/acme/password/forgot", app.address))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("cookie", cookie)
            .form(&[("email", EMAIL), ("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let msg = inbox.lock().unwrap()[0].clone();
        assert_eq!(msg.rcpt.len(), 1, "one recipient: {:?}", msg.rcpt);
        let headers = msg.data.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "no injected header: {headers}"
        );
        assert!(!msg.data.contains("evil.example"), "{}", msg.data);
        let link = reset_link(&msg.data, &app.issuer("acme"));
        assert!(link.starts_with(&app.public_url()), "{link}");
    }
);

both_backends!(
    after_a_reset_the_second_factor_is_still_required,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let user = app
            .state
            .store
            .user_by_email(
                org.id,
                &portcullis::accounts::EmailAddress::parse(EMAIL).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        // The user has a security key (its contents do not matter to the password step).
        app.state
            .store
            .insert_credential(
                org.id,
                user.id,
                "key-1",
                "security_key",
                "Key",
                "{}",
                None,
                None,
                app.clock.now(),
            )
            .await
            .unwrap();
        app.state
            .accounts
            .request_password_reset(&org, EMAIL, "203.0.113.1")
            .await
            .unwrap();
        app.state.email.run_once().await.unwrap();
        let link = reset_link(&inbox.lock().unwrap()[0].data, &app.issuer("acme"));
        let mut b = Browser::new(&app.address, UA);
        let page = b.get(&path_of(&link)).await;
        let token = url::Url::parse(&link)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let done = b
            .post(
                "/o/acme/password/reset",
                &[
                    ("token", &token),
                    ("new_password", "a brand new password"),
                    ("csrf", &page.csrf()),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        // The new password is only the first step: the key is still asked for.
        let signed = b
            .sign_in("acme", EMAIL, "a brand new password", false)
            .await;
        assert_eq!(signed.status, 303);
        assert!(
            signed.location().starts_with("/o/acme/login/key"),
            "{}",
            signed.location()
        );
        assert!(b.session("acme").is_none(), "no session before the key");
    }
);

both_backends!(
    an_invitation_from_the_admin_api_leads_to_the_first_sign_in,
    |backend| {
        let (app, inbox) = app_with_smtp(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let bearer = admin_token(&app, &org).await;
        let token = bearer.as_str();
        let created: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/orgs/acme/users", app.address))
        .bearer_auth(token)
        .json(&serde_json::json!({ "email": "newcomer@acme.test", "name": "Newcomer", "invite": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        // Unverified until the link is used; the admin sees the pending invitation.
        assert_eq!(created["email_verified"], false, "{created}");
        assert_eq!(
            created["pending_links"][0]["purpose"], "invitation",
            "{created}"
        );
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let first = link_in(
            &inbox.lock().unwrap()[0].data,
            &format!("{}/invitation?token=", app.issuer("acme")),
        );
        assert!(
            inbox.lock().unwrap()[0]
                .data
                .contains("Subject: You are invited to Test Org")
        );

        // Resending voids the first link.
        let resent = app
            .client
            .post(format!(
                "{}/api/v1/orgs/acme/users/{id}/invite",
                app.address
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resent.status(), 200);
        app.state.email.run_once().await.unwrap();
        let second = link_in(
            &inbox.lock().unwrap()[1].data,
            &format!("{}/invitation?token=", app.issuer("acme")),
        );
        let mut b = Browser::new(&app.address, UA);
        assert_eq!(b.get(&path_of(&first)).await.status, 400);

        // The newcomer cannot sign in before choosing a password, then can.
        assert_eq!(
            b.sign_in("acme", "newcomer@acme.test", "anything at all", false)
                .await
                .status,
            401
        );
        let page = b.get(&path_of(&second)).await;
        assert_eq!(page.status, 200);
        let token = url::Url::parse(&second)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let done = b
            .post(
                "/o/acme/invitation",
                &[
                    ("token", &token),
                    ("new_password", "newcomer password"),
                    ("csrf", &page.csrf()),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        // The link reached the invitee: the address counts as verified, no link is pending.
        let user: serde_json::Value = app
            .client
            .get(format!("{}/api/v1/orgs/acme/users/{id}", app.address))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["email_verified"], true, "{user}");
        assert_eq!(user["pending_links"], serde_json::json!([]), "{user}");
        let signed = b
            .sign_in("acme", "newcomer@acme.test", "newcomer password", false)
            .await;
        assert_eq!(signed.status, 303);
        assert_eq!(b.get("/o/acme/account").await.status, 200);

        // The CLI invites too (its message waits in the shared outbox for a node's worker).
        let out = app
            .cli()
            .run(&[
                "user",
                "invite",
                "--org",
                "acme",
                "--email",
                "cli@acme.test",
                "--json",
            ])
            .await;
        assert!(out.success, "{}", out.stderr);
        // The CLI queued it on the wall clock; this node runs on a fixed clock in the past.
        app.clock.advance(chrono::Duration::days(800));
        // (With the newcomer's password-changed notice, queued when they chose it.)
        assert!(app.state.email.run_once().await.unwrap() >= 1);
        let received = inbox.lock().unwrap().clone();
        assert!(
            received
                .iter()
                .any(|m| m.rcpt == vec!["RCPT TO:<cli@acme.test>".to_owned()]
                    && m.data.contains("You are invited")),
            "{received:?}"
        );
    }
);

both_backends!(a_sign_in_from_a_new_device_sends_a_notice, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let notices = |app: &TestApp| {
        let (store, org) = (app.state.store.clone(), org.id);
        async move {
            store
                .emails(org)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.email.subject == "Test Org: new sign-in")
                .count()
        }
    };
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
    // The first sign-in ever is no news; the same device again neither.
    let mut firefox = Browser::new(&app.address, UA);
    assert_eq!(
        firefox.sign_in("acme", EMAIL, PASSWORD, false).await.status,
        303
    );
    let mut again = Browser::new(&app.address, UA);
    assert_eq!(
        again.sign_in("acme", EMAIL, PASSWORD, false).await.status,
        303
    );
    assert_eq!(notices(&app).await, 0);
    // Another browser is.
    let mut chrome = Browser::new(&app.address, CHROME);
    assert_eq!(
        chrome.sign_in("acme", EMAIL, PASSWORD, false).await.status,
        303
    );
    assert_eq!(notices(&app).await, 1);
    let mail = app.state.store.emails(org.id).await.unwrap()[0]
        .email
        .clone();
    assert_eq!(mail.to, EMAIL);
    assert!(mail.text.contains("Chrome on Linux"), "{}", mail.text);
    let mut chrome_again = Browser::new(&app.address, CHROME);
    assert_eq!(
        chrome_again
            .sign_in("acme", EMAIL, PASSWORD, false)
            .await
            .status,
        303
    );
    assert_eq!(notices(&app).await, 1);
});

both_backends!(
    the_dev_mailbox_writes_a_readable_copy_whose_link_works,
    |backend| {
        // No SMTP URL: mail goes to the dev mailbox directory.
        let mailbox = tempfile::tempdir().unwrap();
        let dir = mailbox.path().to_owned();
        let app = TestApp::spawn_oidc_with(&backend, move |f| {
            f.merge(("email.dev_mailbox_dir", dir.display().to_string()))
        })
        .await;
        let org = org_with_alice(&app, "acme").await;
        let issuer = app.issuer("acme");
        assert!(app.state.email.mailbox_dir().is_some());

        let mut b = Browser::new(&app.address, UA);
        let form = b.get("/o/acme/password/forgot").await;
        b.post(
            "/o/acme/password/forgot",
            &[("email", EMAIL), ("csrf", &form.csrf())],
        )
        .await;
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let id = app.state.store.emails(org.id).await.unwrap()[0].id;

        let mut files: Vec<String> = std::fs::read_dir(mailbox.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, vec![format!("{id}.eml"), format!("{id}.txt")]);
        let eml = std::fs::read_to_string(mailbox.path().join(format!("{id}.eml"))).unwrap();
        let txt = std::fs::read_to_string(mailbox.path().join(format!("{id}.txt"))).unwrap();

        // The readable copy: recipient, subject, and the link whole on one line, as sent.
        assert!(txt.starts_with(&format!("To: {EMAIL}\n")), "{txt}");
        assert!(
            txt.contains("Subject: Reset your Test Org password"),
            "{txt}"
        );
        let prefix = format!("{issuer}/password/reset?token=");
        let line = txt
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("a reset link in {txt}"));
        let link = &line[line.find(&prefix).unwrap()..];
        let link: String = link
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '<' && *c != '"')
            .collect();
        assert!(
            !txt.contains("=3D") && !txt.contains("=\n"),
            "not quoted-printable: {txt}"
        );
        // The .eml is quoted-printable: the link cannot be copied from it as is...
        assert!(!eml.contains(&link), "{eml}");
        // ...but it is the same link.
        assert_eq!(link_in(&eml, &prefix), link);
        // And it works.
        let page = b.get(&path_of(&link)).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
);
