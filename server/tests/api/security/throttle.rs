//! Item 4 of the review (the sign-in throttle is raced) and the ceremony-start limit of item 7:
//! attempts are reserved before the password (or the emailed link's password) is checked, so
//! parallel guesses get no more checks than sequential ones; sign-ins waiting for argon2 are
//! capped per account, per IP and per node, refused at once beyond the cap; WebAuthn ceremony
//! starts are rate-limited per client IP.

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::signin::{EMAIL, PASSWORD, acme};
use figment::Figment;
use portcullis::authn::throttle::{ACCOUNT_FREE_FAILURES, IP_FREE_FAILURES};
use portcullis::tenancy::Org;
use std::time::Duration;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Waiting caps out of the way, to see the attempt reservation alone.
fn no_waiting_caps(f: Figment) -> Figment {
    f.merge(("passwords.max_waiting", 10_000))
        .merge(("passwords.max_waiting_per_account", 10_000))
        .merge(("passwords.max_waiting_per_ip", 10_000))
}

#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
}

/// Form posts as a script makes them: one CSRF token (cookie and field) for every request and,
/// behind a trusted proxy, the client's address in `X-Forwarded-For`.
#[derive(Clone)]
struct Poster {
    client: reqwest::Client,
    base: String,
    csrf: String,
}

impl Poster {
    async fn new(app: &TestApp) -> Self {
        let mut b = Browser::new(&app.address, UA);
        let csrf = b.get("/o/acme/login").await.csrf();
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: app.address.clone(),
            csrf,
        }
    }

    fn request(&self, path: &str, ip: Option<&str>) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("pc_csrf={}", self.csrf))
            .header("x-csrf-token", &self.csrf)
            .header("user-agent", UA);
        if let Some(ip) = ip {
            req = req.header("x-forwarded-for", ip);
        }
        req
    }

    async fn answer(req: reqwest::RequestBuilder) -> Answer {
        let res = req.send().await.unwrap();
        Answer {
            status: res.status().as_u16(),
            retry_after: res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
        }
    }

    async fn sign_in(&self, email: &str, password: &str, ip: Option<&str>) -> Answer {
        let req = self.request("/o/acme/login", ip).form(&[
            ("email", email),
            ("password", password),
            ("csrf", self.csrf.as_str()),
        ]);
        Self::answer(req).await
    }

    async fn start(&self, mode: &str, ip: &str) -> Answer {
        let req = self
            .request(&format!("/o/acme/webauthn/{mode}/start"), Some(ip))
            .json(&serde_json::json!({}));
        Self::answer(req).await
    }
}

/// Password checks that ran: `signin.failed` and `signin.succeeded` audit events.
async fn checked(app: &TestApp, org: &Org) -> (usize, usize) {
    let events = app.state.store.recent_audit(org.id, 10_000).await.unwrap();
    let count = |action: &str| events.iter().filter(|(a, _)| a == action).count();
    (count("signin.failed"), count("signin.succeeded"))
}

/// Waits for `n` answers from sign-ins while argon2 is held: only refusals can answer then.
async fn refused_at_once(
    n: usize,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(&'static str, Answer)>,
) -> Vec<(&'static str, Answer)> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(a)) => got.push(a),
            _ => panic!("expected {n} sign-ins refused at once while argon2 is held, got {got:?}"),
        }
    }
    got
}

fn assert_refusals_say_when(answers: &[Answer]) {
    for a in answers
        .iter()
        .filter(|a| a.status == 429 || a.status == 503)
    {
        let secs: i64 = a.retry_after.as_deref().unwrap_or("").parse().unwrap_or(0);
        assert!(secs >= 1, "a refusal without Retry-After: {a:?}");
    }
}

both_backends!(
    security_parallel_guesses_at_one_account_are_reserved_before_argon2,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, no_waiting_caps).await;
        let org = acme(&app).await;
        let poster = Poster::new(&app).await;
        // 60 wrong guesses at once, with the right password sent among them.
        let right_at = 45;
        let tries: Vec<_> = (0..61)
            .map(|i| {
                let p = poster.clone();
                tokio::spawn(async move {
                    let password = if i == right_at {
                        PASSWORD.to_owned()
                    } else {
                        format!("wrong guess {i}")
                    };
                    p.sign_in(EMAIL, &password, None).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tries {
            answers.push(t.await.unwrap());
        }
        assert!(
            answers.iter().all(|a| [401, 429, 303].contains(&a.status)),
            "{answers:?}"
        );
        assert_refusals_say_when(&answers);
        let (failed, succeeded) = checked(&app, &org).await;
        let not_refused = answers.iter().filter(|a| a.status != 429).count();
        assert_eq!(failed + succeeded, not_refused, "{answers:?}");
        // At once, the free allowance and the gate of "no lock yet": never more.
        assert!(
            failed as i64 <= ACCOUNT_FREE_FAILURES + 1,
            "{failed} wrong passwords were checked in parallel (allowed: {})",
            ACCOUNT_FREE_FAILURES + 1
        );
        // The right password signed in only if it got one of those slots; it was never
        // checked beyond them.
        let right = &answers[right_at];
        assert!(
            right.status == 303 || right.status == 429,
            "right password: {right:?}"
        );
        assert!(succeeded <= 1);
        let late = poster.sign_in(EMAIL, PASSWORD, None).await;
        if right.status == 429 {
            // Sent after the burst, the right password waits for the backoff too…
            assert_eq!(late.status, 429, "{late:?}");
        } else {
            // (The right password got a slot and signed in, which ends the account's backoff
            // if it finished after the lock was set: which one finished last is up to the
            // scheduler.)
            assert!([303, 429].contains(&late.status), "{late:?}");
        }
        // …and works once the window has passed.
        app.clock.advance(chrono::Duration::minutes(16));
        assert_eq!(poster.sign_in(EMAIL, PASSWORD, None).await.status, 303);
    }
);

both_backends!(
    security_parallel_guesses_from_one_ip_across_accounts_are_reserved,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, no_waiting_caps).await;
        let org = acme(&app).await;
        let poster = Poster::new(&app).await;
        // One address, one guess at each of 80 accounts (unknown ones count the same), and
        // the right password of a real account among them.
        let total = 80;
        let right_at = 70;
        let tries: Vec<_> = (0..total)
            .map(|i| {
                let p = poster.clone();
                tokio::spawn(async move {
                    if i == right_at {
                        p.sign_in(EMAIL, PASSWORD, None).await
                    } else {
                        p.sign_in(&format!("user{i}@acme.test"), "a wrong guess", None)
                            .await
                    }
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tries {
            answers.push(t.await.unwrap());
        }
        assert!(
            answers.iter().all(|a| [401, 429, 303].contains(&a.status)),
            "{answers:?}"
        );
        assert_refusals_say_when(&answers);
        let (failed, succeeded) = checked(&app, &org).await;
        assert!(
            failed as i64 <= IP_FREE_FAILURES + 1,
            "{failed} guesses from one address were checked in parallel (allowed: {})",
            IP_FREE_FAILURES + 1
        );
        assert!(succeeded <= 1);
        // The address is in backoff: even the right password of another account waits.
        let late = poster.sign_in(EMAIL, PASSWORD, None).await;
        assert_eq!(late.status, 429, "{late:?}");
    }
);

both_backends!(
    security_sign_ins_beyond_the_waiting_caps_are_refused_at_once,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, |f| {
            f.merge(("http.trusted_proxies", vec!["127.0.0.1"]))
                .merge(("passwords.max_waiting_per_account", 2))
                .merge(("passwords.max_waiting_per_ip", 4))
                .merge(("passwords.max_waiting", 6))
        })
        .await;
        acme(&app).await;
        let poster = Poster::new(&app).await;
        // argon2 is held: admitted sign-ins wait in its queue, so what is refused must be
        // refused at once (a queued one would never answer while the hold lasts).
        let hold = app.state.accounts.hasher().hold_all().await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let send = |email: String, ip: &'static str| {
            let p = poster.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let a = p.sign_in(&email, "a wrong guess", Some(ip)).await;
                let _ = tx.send((ip, a));
            })
        };
        let mut waiting = Vec::new();
        // One account: 2 wait, 3 more are refused (429).
        for _ in 0..5 {
            waiting.push(send(EMAIL.to_owned(), "203.0.113.1"));
        }
        let got = refused_at_once(3, &mut rx).await;
        assert!(
            got.iter()
                .all(|(ip, a)| *ip == "203.0.113.1" && a.status == 429),
            "{got:?}"
        );
        assert_refusals_say_when(&got.into_iter().map(|(_, a)| a).collect::<Vec<_>>());
        // One address, many accounts: 4 wait, the 5th is refused (429).
        for i in 0..5 {
            waiting.push(send(format!("user{i}@acme.test"), "203.0.113.2"));
        }
        let got = refused_at_once(1, &mut rx).await;
        assert!(
            got.iter()
                .all(|(ip, a)| *ip == "203.0.113.2" && a.status == 429),
            "{got:?}"
        );
        assert_refusals_say_when(&got.into_iter().map(|(_, a)| a).collect::<Vec<_>>());
        // The node: 6 wait; anyone else is refused (503), whatever the account or address.
        for i in 0..3 {
            waiting.push(send(format!("other{i}@acme.test"), "198.51.100.3"));
        }
        let got = refused_at_once(3, &mut rx).await;
        assert!(got.iter().all(|(_, a)| a.status == 503), "{got:?}");
        assert_refusals_say_when(&got.into_iter().map(|(_, a)| a).collect::<Vec<_>>());
        // Released, the waiting ones are checked (and fail: wrong passwords).
        drop(hold);
        for w in waiting {
            w.await.unwrap();
        }
        let mut rest = Vec::new();
        while let Ok(a) = rx.try_recv() {
            rest.push(a);
        }
        assert_eq!(rest.len(), 6, "{rest:?}");
        assert!(rest.iter().all(|(_, a)| a.status == 401), "{rest:?}");
        // And a sign-in now goes through.
        assert_eq!(
            poster
                .sign_in(EMAIL, PASSWORD, Some("192.0.2.9"))
                .await
                .status,
            303
        );
    }
);

both_backends!(
    security_parallel_guesses_at_an_emailed_link_get_no_extra_tries,
    |backend| {
        use portcullis::tenancy::{SignupMode, SignupPolicy};
        let (app, inbox) = crate::email::app_with_smtp(&backend).await;
        let org = acme(&app).await;
        app.state
            .orgs
            .set_signup(
                &org,
                SignupPolicy {
                    mode: SignupMode::Open,
                    require_verified_email: true,
                },
                "test",
            )
            .await
            .unwrap();
        let org = app.state.orgs.find("acme").await.unwrap();
        let mut b = Browser::new(&app.address, UA);
        let form = b.get("/o/acme/signup").await;
        let page = b
            .post(
                "/o/acme/signup",
                &[
                    ("email", "newcomer@acme.test"),
                    ("password", "newcomer password"),
                    ("name", "Newcomer"),
                    ("csrf", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(app.state.email.run_once().await.unwrap(), 1);
        let link = crate::email::link_in(
            &inbox.lock().unwrap()[0].data,
            &format!("{}/verify-email?token=", app.issuer("acme")),
        );
        let token = url::Url::parse(&link)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let poster = Poster::new(&app).await;
        let guess = |password: String| {
            let p = poster.clone();
            let token = token.clone();
            async move {
                let req = p.request("/o/acme/verify-email", None).form(&[
                    ("token", token.as_str()),
                    ("password", password.as_str()),
                    ("csrf", p.csrf.as_str()),
                ]);
                Poster::answer(req).await
            }
        };
        let limit = portcullis::accounts::VERIFY_ATTEMPTS_PER_LINK;
        let tries: Vec<_> = (0..40)
            .map(|i| tokio::spawn(guess(format!("wrong guess {i}"))))
            .collect();
        let mut answers = Vec::new();
        for t in tries {
            answers.push(t.await.unwrap());
        }
        let wrong = answers.iter().filter(|a| a.status == 422).count();
        let refused = answers.iter().filter(|a| a.status == 429).count();
        assert_eq!(wrong + refused, 40, "{answers:?}");
        assert_eq!(wrong as i64, limit, "{answers:?}");
        // The link's tries are used up for good: not per hour, and not forgotten with the
        // cache (here its entry for the link is dropped, as a flush or restart would).
        let hash = portcullis::secrets::sha256_hex(&token);
        app.state
            .cache
            .delete(&portcullis::store::cache::CacheKey::org(
                org.id,
                "verify-attempts",
                &hash,
            ))
            .await;
        app.clock.advance(chrono::Duration::hours(2));
        assert_eq!(guess("a later guess".into()).await.status, 429);
        assert_eq!(guess("newcomer password".into()).await.status, 429);
        let _ = org;
    }
);

both_backends!(
    security_ceremony_starts_are_rate_limited_per_ip,
    |backend| {
        let app = TestApp::spawn_oidc_with(&backend, |f| {
            f.merge(("http.trusted_proxies", vec!["127.0.0.1"]))
        })
        .await;
        acme(&app).await;
        let poster = Poster::new(&app).await;
        let limit = app.state.config.security.ceremony_starts_per_ip_per_minute;
        // An anonymous flood of passkey sign-in starts from one address.
        let flood: Vec<_> = (0..limit + 20)
            .map(|_| {
                let p = poster.clone();
                tokio::spawn(async move { p.start("passkey-login", "203.0.113.5").await })
            })
            .collect();
        let mut answers = Vec::new();
        for f in flood {
            answers.push(f.await.unwrap());
        }
        let started = answers.iter().filter(|a| a.status == 200).count();
        let refused = answers.iter().filter(|a| a.status == 429).count();
        assert_eq!(started as i64, limit, "{answers:?}");
        assert_eq!(refused, 20, "{answers:?}");
        assert_refusals_say_when(&answers);
        // Every ceremony's start counts (refused before it looks for a pending step or session).
        for mode in ["second-factor", "enrol", "step-up"] {
            assert_eq!(
                poster.start(mode, "203.0.113.5").await.status,
                429,
                "{mode}"
            );
        }
        // Another address is unaffected.
        assert_eq!(
            poster.start("passkey-login", "198.51.100.7").await.status,
            200
        );
        // The next minute (of the injected clock) the address may start again.
        app.clock.advance(chrono::Duration::minutes(1));
        assert_eq!(
            poster.start("passkey-login", "203.0.113.5").await.status,
            200
        );
    }
);
