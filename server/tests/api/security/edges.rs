//! Issue 13, item 7 (smaller holes): a `return_to` that climbs out of the org with dot-segments
//! (plain or percent-encoded) or encoded separators, driven through the real sign-in page.

use crate::browser::Browser;
use crate::helpers::{TestApp, html_attr_after, org_with_alice, submit_login};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Where the page sends the browser back to when `return_to` is refused.
const FALLBACK: &str = "/o/acme/account";

/// `return_to` values that a browser would resolve outside `/o/acme/` (or that hide separators).
const ESCAPES: [&str; 6] = [
    "/o/acme/../../o/other/account",
    "/o/acme/../other/account",
    "/o/acme/%2e%2e/%2e%2e/o/other/account",
    "/o/acme/.%2E/%2e./o/other/account",
    "/o/acme/..%2F..%2Fo/other/account",
    "/o/acme/..%2f..%2fo%2fother%2faccount",
];

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The path a browser ends up on after following `location` (dot-segments resolved, as the
/// WHATWG URL parser does, including `%2e`).
fn resolved_path(location: &str) -> String {
    url::Url::parse("http://idp.test/")
        .unwrap()
        .join(location)
        .unwrap()
        .path()
        .to_owned()
}

#[track_caller]
fn assert_stays_in_org(location: &str, escape: &str) {
    let path = resolved_path(location);
    assert!(
        path.starts_with("/o/acme/"),
        "return_to {escape:?} sent the browser to {location:?} = {path:?}"
    );
    assert_eq!(location, FALLBACK, "return_to {escape:?} was not refused");
}

both_backends!(security_return_to_cannot_leave_the_org, |backend| {
    let app = TestApp::spawn(&backend).await;
    org_with_alice(&app, "acme").await;
    org_with_alice(&app, "other").await;
    for escape in ESCAPES {
        // The sign-in page keeps only a safe return_to in its form...
        let mut b = Browser::new(&app.address, UA);
        let login = b
            .get(&format!("/o/acme/login?return_to={}", encode(escape)))
            .await;
        let kept = html_attr_after(&login.body, "name=\"return_to\"", "value");
        assert_stays_in_org(&kept, escape);
        // ...signing in with it lands inside the org...
        let done = submit_login(&mut b, "acme", &login).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_stays_in_org(done.location(), escape);
        // ...and so does the sign-in page of a signed-in user.
        let again = b
            .get(&format!("/o/acme/login?return_to={}", encode(escape)))
            .await;
        assert_eq!(again.status, 303, "{}", again.body);
        assert_stays_in_org(again.location(), escape);

        // A forged form (return_to posted directly) is held to the same rule.
        let mut forger = Browser::new(&app.address, UA);
        let page = forger.get("/o/acme/login").await;
        let csrf = page.csrf();
        let done = forger
            .post(
                "/o/acme/login",
                &[
                    ("email", crate::signin::EMAIL),
                    ("password", crate::signin::PASSWORD),
                    ("csrf", &csrf),
                    ("return_to", escape),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_stays_in_org(done.location(), escape);
    }
    // A path inside the org still works.
    let mut b = Browser::new(&app.address, UA);
    let login = b
        .get(&format!(
            "/o/acme/login?return_to={}",
            encode("/o/acme/account?from=edges")
        ))
        .await;
    let done = submit_login(&mut b, "acme", &login).await;
    assert_eq!(done.location(), "/o/acme/account?from=edges");
});
