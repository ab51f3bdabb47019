//! The account page's password change is a password guess like a sign-in: a stolen session gets
//! no more tries at the current password than a sign-in form would (review of issue 13).

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::signin::{EMAIL, PASSWORD, acme};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

both_backends!(
    wrong_current_passwords_are_throttled_like_sign_ins,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        acme(&app).await;
        let mut thief = Browser::new(&app.address, UA);
        assert_eq!(
            thief.sign_in("acme", EMAIL, PASSWORD, false).await.status,
            303
        );
        let csrf = thief.get("/o/acme/account").await.csrf();
        let mut statuses = Vec::new();
        for i in 0..12 {
            let guess = format!("wrong guess number {i}");
            let res = thief
                .post(
                    "/o/acme/account/password",
                    &[
                        ("csrf", csrf.as_str()),
                        ("current_password", guess.as_str()),
                        ("new_password", "the thief's new password"),
                    ],
                )
                .await;
            if res.status == 429 {
                assert!(res.headers.contains_key("retry-after"));
            }
            statuses.push(res.status);
        }
        let checked = statuses.iter().filter(|s| **s == 400).count();
        assert!(
            checked <= 6,
            "{checked} current-password guesses were checked: {statuses:?}"
        );
        assert!(statuses.contains(&429), "{statuses:?}");
        // Even the right one waits now: the account is in backoff.
        let res = thief
            .post(
                "/o/acme/account/password",
                &[
                    ("csrf", csrf.as_str()),
                    ("current_password", PASSWORD),
                    ("new_password", "the thief's new password"),
                ],
            )
            .await;
        assert_eq!(res.status, 429);
    }
);
