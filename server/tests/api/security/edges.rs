//! Issue 13, item 7 (two of the smaller holes): a `return_to` that climbs out of the org with
//! dot-segments (plain or percent-encoded) or encoded separators, driven through the real
//! sign-in page; and the request log's client IP, which must follow `http.trusted_proxies` like
//! the sign-in throttle instead of believing any client's `X-Forwarded-For`.

use crate::browser::Browser;
use crate::helpers::{
    TestApp, TestDb, free_port, html_attr_after, org_with_alice, start_node_with, submit_login,
};

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

/// Runs a node (the real binary, JSON logs) with `env`, sends one request with a forged
/// `X-Forwarded-For`, and returns the client IP its request log line recorded.
async fn logged_client_ip(db_url: &str, env: &[(&str, &str)]) -> String {
    let port = free_port();
    let mut node = start_node_with(db_url, port, env);
    assert!(node.ready(port).await);
    let probe = format!("/xff-probe-{}", uuid::Uuid::new_v4().simple());
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{probe}"))
        .header("X-Forwarded-For", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let log = node.stop().await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request finished")
        .filter(|v| v["span"]["http.target"] == probe.as_str())
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    lines[0]["span"]["http.client_ip"]
        .as_str()
        .unwrap_or_else(|| panic!("no client ip: {}", lines[0]))
        .to_owned()
}

both_backends!(
    security_request_log_ignores_forwarded_for_from_untrusted_peers,
    |backend| {
        let db = TestDb::create(&backend).await;
        // No trusted proxy (the default): the header is the client's own claim.
        assert_eq!(logged_client_ip(&db.url, &[]).await, "127.0.0.1");
        // Behind a trusted proxy the log names the client it forwarded for, as the throttle does.
        let trusted = [("PORTCULLIS__HTTP__TRUSTED_PROXIES", "[\"127.0.0.1\"]")];
        assert_eq!(logged_client_ip(&db.url, &trusted).await, "6.6.6.6");
    }
);

/// Sends `POST path` with `body` over a raw connection, the body only after a pause (a slow
/// client), and returns the status line's code.
async fn post_with_late_body(address: &str, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The answer may already have come (and the server closed): the write may then fail.
    let _ = conn.write_all(body.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

// A form that needs the session is checked for its CSRF token before the session is looked up
// (which may touch or end the session, or send the browser to sign in): actix polls a handler's
// extractors together, so a forged form whose body is slow to arrive must still get the 403,
// not the sign-in redirect a session extractor would answer first.
both_backends!(
    security_forms_are_checked_before_the_session_is_looked_up,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        org_with_alice(&app, "acme").await;
        for (path, body) in [
            ("/o/acme/account/sessions/end-all", "csrf=forged"),
            (
                "/o/acme/account/password",
                "csrf=forged&current_password=a&new_password=b",
            ),
            ("/o/acme/logout", "csrf=forged"),
            ("/o/acme/email/confirm", "csrf=forged&token=t"),
        ] {
            let status = post_with_late_body(&app.address, path, body).await;
            assert_eq!(status, 403, "{path}: a forged form is refused first");
        }
    }
);
