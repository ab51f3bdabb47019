//! Logout (DESIGN §1, issue 6) from the outside: back-channel logout tokens checked rule by rule
//! against OIDC Back-Channel Logout 1.0, the outbox and its delivery worker (parallel fan-out,
//! timeouts, retries with backoff and fresh tokens, restarts, several workers on one database),
//! Single Logout next to "sign out everywhere" for a standard and a privileged app, expiry found
//! by the sweeper, RP-initiated logout (RP-Initiated Logout 1.0) and its refusals, local logout,
//! front-channel logout (Front-Channel Logout 1.0) and the discovery document.
//!
//! Apps' logout endpoints are real HTTP servers on loopback ports (`Receiver`). The worker does
//! not run in the background on test nodes: tests call `slo.run_once()` and move the fixed clock
//! to make retries due.

use crate::browser::{Browser, Page};
use crate::helpers::{
    Backend, Rp, TestApp, Tokens, eventually, free_port, html_unescape, jwt_claims, jwt_header,
    org_with_alice, query_params,
};
use portcullis::apps::{AppId, AppType, CreateApp, SessionProfile, SessionRules};
use portcullis::clock::Clock;
use portcullis::sessions::{EndReason, SessionId, SessionPolicy};
use portcullis::slo::{DELIVERY_LEASE_SECS, LOGOUT_EVENT, LogoutDelivery, PER_APP_IN_FLIGHT};
use portcullis::tenancy::Org;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A privileged app that may not outlive the IdP session; MFA is beside the point here.
const PRIVILEGED: SessionRules = SessionRules {
    reauth_max_age_secs: Some(900),
    mfa_required: false,
    idle_timeout_secs: Some(600),
    lifetime_secs: 8 * 3600,
    outlives_idp_session: false,
};

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

// ---------------------------------------------------------------------------------------------
// An app's back-channel logout endpoint.

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    content_type: String,
    /// The W3C trace context the sender passed on, if any.
    traceparent: Option<String>,
    body: String,
}

impl Request {
    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    /// The `logout_token` of a Back-Channel Logout request (§2.5: a form POST with exactly that
    /// parameter).
    #[track_caller]
    fn logout_token(&self) -> String {
        assert_eq!(self.method, "POST", "{self:?}");
        assert!(
            self.content_type
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded"),
            "{self:?}"
        );
        let form = self.form();
        assert_eq!(form.len(), 1, "one parameter: {self:?}");
        assert_eq!(form[0].0, "logout_token", "{self:?}");
        form[0].1.clone()
    }
}

/// Makes the answer to a request's body: its status and its body (`text/xml`: a SAML SOAP
/// endpoint).
pub(crate) type Responder = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// A loopback HTTP server that records every request and answers with a settable status after
/// a fixed delay (and a `Location` when it redirects), or what its responder makes.
pub(crate) struct Receiver {
    /// The URI to register: `http://127.0.0.1:{port}/backchannel`.
    pub(crate) uri: String,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub(crate) async fn start(status: u16, delay: Duration) -> Self {
        Self::start_with(status, delay, None).await
    }

    async fn redirecting_to(location: &str) -> Self {
        Self::start_with(302, Duration::ZERO, Some(location.to_owned())).await
    }

    async fn start_with(status: u16, delay: Duration, location: Option<String>) -> Self {
        Self::start_full(status, delay, location, None).await
    }

    /// A receiver that records each request at once but answers only once `gate` holds `true`
    /// (the test opens it): a slow app whose slowness does not depend on timing.
    async fn gated(status: u16) -> (Self, tokio::sync::watch::Sender<bool>) {
        let (open, gate) = tokio::sync::watch::channel(false);
        let rx = Self::start_full(status, Duration::ZERO, None, Some(gate)).await;
        (rx, open)
    }

    async fn start_full(
        status: u16,
        delay: Duration,
        location: Option<String>,
        gate: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Self {
        Self::serve(status, delay, location, gate, None).await
    }

    /// A receiver whose answers `respond` makes from each request's body.
    pub(crate) async fn responding(respond: Responder) -> Self {
        Self::serve(200, Duration::ZERO, None, None, Some(respond)).await
    }

    async fn serve(
        status: u16,
        delay: Duration,
        location: Option<String>,
        gate: Option<tokio::sync::watch::Receiver<bool>>,
        respond: Option<Responder>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(status));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (status, seen) = (status.clone(), seen.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let how = Answer {
                        status: status.clone(),
                        delay,
                        location: location.clone(),
                        seen: seen.clone(),
                        gate: gate.clone(),
                        respond: respond.clone(),
                    };
                    tokio::spawn(answer(sock, how));
                }
            })
        };
        Self {
            uri: format!("http://127.0.0.1:{port}/backchannel"),
            status,
            seen,
            task,
        }
    }

    pub(crate) fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The body of every request received so far, in order.
    pub(crate) fn bodies(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.body).collect()
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// The `traceparent` header of every request received so far, in order.
    pub(crate) fn traceparents(&self) -> Vec<Option<String>> {
        self.requests().into_iter().map(|r| r.traceparent).collect()
    }

    pub(crate) fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Every logout token received so far, in order.
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.requests().iter().map(Request::logout_token).collect()
    }

    /// The `jti` of every token received so far.
    fn jtis(&self) -> Vec<String> {
        self.tokens()
            .iter()
            .map(|t| jwt_claims(t)["jti"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How a receiver answers.
struct Answer {
    status: Arc<AtomicU16>,
    delay: Duration,
    location: Option<String>,
    seen: Arc<Mutex<Vec<Request>>>,
    gate: Option<tokio::sync::watch::Receiver<bool>>,
    respond: Option<Responder>,
}

async fn answer(mut sock: tokio::net::TcpStream, how: Answer) {
    let Answer {
        status,
        delay,
        location,
        seen,
        gate,
        respond,
    } = how;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let mut content_type = String::new();
    let mut traceparent = None;
    let mut length = 0usize;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => value.trim().clone_into(&mut content_type),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "traceparent" => traceparent = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    let made = respond.map(|r| r(&body));
    seen.lock().unwrap().push(Request {
        method,
        path,
        content_type,
        traceparent,
        body,
    });
    if let Some((code, text)) = made {
        let res = format!(
            "HTTP/1.1 {code} Test\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let _ = sock.write_all(res.as_bytes()).await;
        let _ = sock.shutdown().await;
        return;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(mut gate) = gate {
        // A closed sender opens the gate too.
        let _ = gate.wait_for(|open| *open).await;
    }
    let code = status.load(Ordering::SeqCst);
    let mut res =
        format!("HTTP/1.1 {code} Test\r\nConnection: close\r\nCache-Control: no-store\r\n");
    if let Some(l) = &location {
        res.push_str(&format!("Location: {l}\r\n"));
    }
    if code != 204 {
        res.push_str("Content-Length: 0\r\n");
    }
    res.push_str("\r\n");
    let _ = sock.write_all(res.as_bytes()).await;
    let _ = sock.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Apps, rows and pages.

/// A confidential web app `name` with its redirect URI on `http://127.0.0.1:9`, changed by `f`.
pub(crate) async fn register(
    app: &TestApp,
    org: &Org,
    name: &str,
    f: impl FnOnce(&mut CreateApp),
) -> Rp {
    let mut req = CreateApp::new(name, AppType::Web);
    req.redirect_uris = vec![format!("http://127.0.0.1:9/{name}/callback")];
    f(&mut req);
    Rp::register(app, org, req).await
}

/// The post-logout redirect URI the tests register for app `name`.
fn signed_out_uri(name: &str) -> String {
    format!("http://127.0.0.1:9/{name}/signed-out")
}

async fn app_id(app: &TestApp, org: &Org, rp: &Rp) -> AppId {
    app.state
        .store
        .app_by_client_id(org.id, &rp.client_id)
        .await
        .unwrap()
        .unwrap()
        .id
}

pub(crate) async fn deliveries(app: &TestApp, org: &Org) -> Vec<LogoutDelivery> {
    app.state.store.logout_deliveries(org.id).await.unwrap()
}

/// The one delivery row of an app.
#[track_caller]
fn row_of(rows: &[LogoutDelivery], app: AppId) -> LogoutDelivery {
    let mine: Vec<_> = rows.iter().filter(|d| d.app_id == app).collect();
    assert_eq!(mine.len(), 1, "one row for {app:?}: {rows:#?}");
    mine[0].clone()
}

/// The IdP session id (`sid`) of an ID token.
pub(crate) fn sid_of(tokens: &Tokens) -> String {
    tokens.id_claims()["sid"]
        .as_str()
        .expect("a sid in the ID token")
        .to_owned()
}

fn session_id(sid: &str) -> SessionId {
    SessionId(uuid::Uuid::parse_str(sid).unwrap())
}

pub(crate) async fn session_ended(app: &TestApp, org: &Org, sid: &str) -> Option<EndReason> {
    let s = app
        .state
        .store
        .session_by_id(org.id, session_id(sid))
        .await
        .unwrap()
        .expect("the session exists");
    match s.ended_at {
        Some(_) => Some(s.end_reason.expect("an end reason")),
        None => None,
    }
}

/// How many audit events of the org have this action.
async fn audit_count(app: &TestApp, org: &Org, action: &str) -> usize {
    app.state
        .store
        .recent_audit(org.id, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|(a, _)| a == action)
        .count()
}

/// One pass of the delivery worker; returns how many rows it attempted.
pub(crate) async fn run_once(app: &TestApp) -> usize {
    app.state.slo.run_once().await.unwrap()
}

/// `prompt=none` for `rp` in this browser: the error it gets back, or None for a code.
async fn silent_sign_in_error(rp: &Rp, b: &mut Browser) -> Option<String> {
    let page = b.get(&rp.authorize_path(&[("prompt", "none")])).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location().starts_with(&rp.redirect_uri),
        "{}",
        page.location()
    );
    let q = query_params(page.location());
    match q.get("error") {
        Some(e) => Some(e.clone()),
        None => {
            assert!(q.contains_key("code"), "{}", page.location());
            None
        }
    }
}

/// The opening tags of the page that contain `marker`, in order.
fn tags(body: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = body[from..].find(marker) {
        let at = from + i;
        let start = body[..at].rfind('<').unwrap();
        let end = at + body[at..].find('>').unwrap();
        out.push(body[start..=end].to_owned());
        from = end;
    }
    out
}

/// The unescaped value of attribute `name` in an opening tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(html_unescape(tag[at..].split('"').next()?))
}

/// Where a signed-out page sends the browser on: (meta refresh delay, meta refresh URL,
/// continue link), or None when it stays.
#[track_caller]
fn onward(page: &Page) -> Option<(u32, String, String)> {
    let metas = tags(&page.body, "http-equiv=\"refresh\"");
    let links = tags(&page.body, "data-testid=\"continue\"");
    if metas.is_empty() && links.is_empty() {
        return None;
    }
    assert_eq!((metas.len(), links.len()), (1, 1), "{}", page.body);
    let content = attr(&metas[0], "content").unwrap();
    let (delay, url) = content
        .split_once(";url=")
        .unwrap_or_else(|| panic!("{content}"));
    Some((
        delay.trim().parse().unwrap(),
        url.to_owned(),
        attr(&links[0], "href").unwrap(),
    ))
}

/// The `src` of each front-channel logout iframe of a page.
pub(crate) fn frontchannel_frames(page: &Page) -> Vec<String> {
    tags(&page.body, "data-testid=\"frontchannel\"")
        .iter()
        .map(|t| {
            assert!(t.starts_with("<iframe"), "{t}");
            assert!(t.contains(" hidden"), "hidden: {t}");
            attr(t, "src").unwrap()
        })
        .collect()
}

/// The signed-out page: 200 and its marker, no HTTP redirect.
#[track_caller]
fn assert_signed_out_page(page: &Page) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.location().is_empty(), "{}", page.location());
    assert!(
        page.body.contains("data-testid=\"signed-out\""),
        "{}",
        page.body
    );
}

/// RP-initiated logout with nothing to load on the way: a 303 straight to the app's
/// post-logout URI (no signed-out page); returns the location.
#[track_caller]
fn assert_redirected_out(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        !page.body.contains("data-testid=\"signed-out\""),
        "{}",
        page.body
    );
    let to = page.location().to_owned();
    assert!(to.starts_with("http://127.0.0.1:"), "{to}");
    to
}

/// The origins in the `frame-src` directive of the page's (single) CSP header.
#[track_caller]
fn csp_frame_src(page: &Page) -> Option<Vec<String>> {
    let csps: Vec<_> = page
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(csps.len(), 1, "one CSP header: {csps:?}");
    let directives: Vec<&str> = csps[0]
        .split(';')
        .map(str::trim)
        .filter(|d| d.starts_with("frame-src"))
        .collect();
    assert!(directives.len() <= 1, "{csps:?}");
    directives.first().map(|d| {
        d.split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    })
}

async fn end_session_get(b: &mut Browser, org: &str, params: &[(&str, &str)]) -> Page {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    b.get(&format!("/o/{org}/end-session?{query}")).await
}

/// Signs out with the IdP's own sign-out form.
pub(crate) async fn sign_out_form(b: &mut Browser, org: &str) -> Page {
    let form = b.get(&format!("/o/{org}/logout")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    b.post(&format!("/o/{org}/logout"), &[("csrf", &csrf)])
        .await
}

async fn jwks(app: &TestApp, org: &str) -> Value {
    let res = app.get(&format!("/o/{org}/jwks")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// What a logout token must say.
struct Expected<'a> {
    issuer: &'a str,
    client_id: &'a str,
    sub: &'a str,
    sid: &'a str,
    /// The node's clock when the token was made.
    now: i64,
}

/// Validates a logout token as an RP must (Back-Channel Logout 1.0 §2.6, with §2.4's rules on
/// its contents) and returns its claims.
#[track_caller]
fn validate_logout_token(token: &str, jwks: &Value, e: &Expected) -> Value {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use std::str::FromStr;

    // §2.6 step 1: a signed JWT (a JWS, three parts; not a JWE).
    assert_eq!(token.split('.').count(), 3, "{token}");
    // §2.4: explicitly typed (RFC 8725 §3.11) so it cannot be confused with an ID token.
    let header = jwt_header(token);
    assert_eq!(header["typ"], "logout+jwt", "{header}");
    assert!(header.get("crit").is_none(), "{header}");
    let alg = header["alg"].as_str().expect("alg");
    assert!(!alg.eq_ignore_ascii_case("none"), "{header}");
    let kid = header["kid"].as_str().expect("kid");

    // §2.6 step 2: signature with a key of the issuer's JWKS, the key's own algorithm, and iss
    // and aud as for an ID token (Core §3.1.3.7).
    let published = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} in the JWKS {jwks}"));
    assert_eq!(published["alg"], alg, "{published}");
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let key = DecodingKey::from_jwk(set.find(kid).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::from_str(alg).unwrap());
    // Time is the node's fixed clock, not the wall clock: checked below.
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
    v.set_issuer(&[e.issuer]);
    v.set_audience(&[e.client_id]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v)
        .unwrap_or_else(|err| panic!("signature, iss or aud: {err}"))
        .claims;

    // Claim by claim (§2.4).
    assert_eq!(claims["iss"], e.issuer, "{claims}");
    match &claims["aud"] {
        Value::String(a) => assert_eq!(a, e.client_id, "{claims}"),
        Value::Array(list) => assert!(list.iter().any(|a| a == e.client_id), "{claims}"),
        other => panic!("aud {other}"),
    }
    let iat = claims["iat"].as_i64().expect("iat, a number");
    let exp = claims["exp"].as_i64().expect("exp, a number");
    assert_eq!(iat, e.now, "issued now: {claims}");
    assert!(exp > e.now, "not expired: {claims}");
    assert!(exp - iat <= 120, "valid for at most two minutes: {claims}");
    let jti = claims["jti"].as_str().expect("jti");
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "{claims}");
    // §2.6 step 3: sub and/or sid; here both, the same as in the ID token.
    assert_eq!(claims["sub"], e.sub, "{claims}");
    assert_eq!(claims["sid"], e.sid, "{claims}");
    // §2.6 step 4: events with the back-channel logout member, a JSON object ({}).
    assert_eq!(claims["events"], json!({ LOGOUT_EVENT: {} }), "{claims}");
    // §2.6 step 5: never a nonce.
    assert!(claims.get("nonce").is_none(), "{claims}");
    claims
}

// ---------------------------------------------------------------------------------------------
// 1. The logout token.

both_backends!(
    a_logout_token_passes_every_back_channel_logout_rule,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let acme = org_with_alice(&app, "acme").await;
        let globex = org_with_alice(&app, "globex").await;
        app.state
            .keys
            .rotate(
                &globex,
                Some(portcullis::keys::SigningAlg::Rs256),
                chrono::Duration::zero(),
            )
            .await
            .unwrap();

        // An ES256 org (the default) and an RS256 org, each with an app that listens.
        for (org, alg) in [(&acme, "ES256"), (&globex, "RS256")] {
            let slug = org.slug.as_str();
            let rx = Receiver::start(200, Duration::ZERO).await;
            let other = Receiver::start(200, Duration::ZERO).await;
            let shop = register(&app, org, "shop", |r| {
                r.backchannel_logout_uri = Some(rx.uri.clone());
            })
            .await;
            let blog = register(&app, org, "blog", |r| {
                r.backchannel_logout_uri = Some(other.uri.clone());
            })
            .await;
            let mut b = Browser::new(&app.address, UA);
            let t = shop.sign_in(&mut b, &[]).await;
            let tb = blog.sign_in(&mut b, &[]).await;
            let id = t.id_claims();
            assert_eq!(jwt_header(t.id.as_deref().unwrap())["alg"], alg);
            app.clock.advance(secs(30));

            let out = sign_out_form(&mut b, slug).await;
            assert_signed_out_page(&out);
            app.clock.advance(secs(5));
            assert_eq!(run_once(&app).await, 2);
            let delivered_at = app.clock.now().timestamp();

            let requests = rx.requests();
            assert_eq!(requests.len(), 1, "{requests:?}");
            assert_eq!(requests[0].path, "/backchannel", "the registered URI");
            let token = requests[0].logout_token();
            assert_eq!(jwt_header(&token)["alg"], alg);
            let set = jwks(&app, slug).await;
            let claims = validate_logout_token(
                &token,
                &set,
                &Expected {
                    issuer: &shop.issuer,
                    client_id: &shop.client_id,
                    sub: id["sub"].as_str().unwrap(),
                    sid: id["sid"].as_str().unwrap(),
                    now: delivered_at,
                },
            );
            // The other app of the session gets its own token: its audience, the same session,
            // another jti.
            let theirs = other.tokens();
            assert_eq!(theirs.len(), 1);
            let other_claims = validate_logout_token(
                &theirs[0],
                &set,
                &Expected {
                    issuer: &blog.issuer,
                    client_id: &blog.client_id,
                    sub: id["sub"].as_str().unwrap(),
                    sid: &sid_of(&tb),
                    now: delivered_at,
                },
            );
            assert_eq!(other_claims["sid"], claims["sid"]);
            assert_ne!(other_claims["jti"], claims["jti"]);
            // A token for one app is not valid for another: its audience is exactly the app.
            assert_ne!(claims["aud"], other_claims["aud"]);

            let rows = deliveries(&app, org).await;
            assert_eq!(rows.len(), 2, "{rows:#?}");
            for d in &rows {
                assert_eq!(d.status, "delivered", "{d:?}");
                assert_eq!(d.attempts, 1, "{d:?}");
                assert_eq!(d.reason, "logout", "{d:?}");
                assert_eq!(d.session_id.to_string(), id["sid"].as_str().unwrap());
                assert_eq!(d.user_id.to_string(), id["sub"].as_str().unwrap());
                assert!(d.delivered_at.is_some() && d.last_error.is_none(), "{d:?}");
            }
            assert_eq!(audit_count(&app, org, "logout_delivery.delivered").await, 2);
            // Nothing is sent twice.
            assert_eq!(run_once(&app).await, 0);
            assert_eq!((rx.count(), other.count()), (1, 1));
        }
    }
);

// ---------------------------------------------------------------------------------------------
// 2. Delivery outcomes, retries and restarts.

both_backends!(
    deliveries_fan_out_time_out_retry_with_fresh_tokens_and_survive_restarts,
    |backend| {
        // Short, but long enough for a loaded CI machine to get a loopback answer in time.
        let tweak = |f: figment::Figment| f.merge(("logout.delivery_timeout_ms", 1000));
        let app = TestApp::spawn_oidc_with(&backend, tweak).await;
        let org = org_with_alice(&app, "acme").await;
        let ok = Receiver::start(204, Duration::ZERO).await;
        let slow = Receiver::start(200, Duration::from_secs(30)).await;
        let broken = Receiver::start(500, Duration::ZERO).await;
        let closed_port = format!("http://127.0.0.1:{}/backchannel", free_port());
        let rejecting = Receiver::start(400, Duration::ZERO).await;
        let mut rps = Vec::new();
        for (name, uri) in [
            ("ok", ok.uri.clone()),
            ("slow", slow.uri.clone()),
            ("broken", broken.uri.clone()),
            ("closed", closed_port.clone()),
            ("rejecting", rejecting.uri.clone()),
        ] {
            rps.push(register(&app, &org, name, |r| r.backchannel_logout_uri = Some(uri)).await);
        }
        let mut ids = Vec::new();
        for rp in &rps {
            ids.push(app_id(&app, &org, rp).await);
        }
        let [id_ok, id_slow, id_broken, id_closed, id_rejecting] = ids[..] else {
            unreachable!()
        };
        let mut b = Browser::new(&app.address, UA);
        let mut sid = String::new();
        for rp in &rps {
            sid = sid_of(&rp.sign_in(&mut b, &[]).await);
        }

        // The user's sign-out completes at once: the rows are written, nothing is sent yet.
        let started = std::time::Instant::now();
        let out = sign_out_form(&mut b, "acme").await;
        assert_signed_out_page(&out);
        assert!(started.elapsed() < Duration::from_secs(10));
        let rows = deliveries(&app, &org).await;
        assert_eq!(rows.len(), 5, "{rows:#?}");
        for d in &rows {
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 0), "{d:?}");
            assert_eq!(d.session_id.to_string(), sid);
            assert!(d.next_attempt_at <= app.clock.now());
        }
        let total = || ok.count() + slow.count() + broken.count() + rejecting.count();
        assert_eq!(total(), 0, "delivery is the worker's job");

        // First pass, in parallel: the slow app does not hold the others up.
        let t1 = app.clock.now();
        let started = std::time::Instant::now();
        assert_eq!(run_once(&app).await, 5);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bounded by the per-request timeout: {:?}",
            started.elapsed()
        );
        let rows = deliveries(&app, &org).await;
        let d = row_of(&rows, id_ok);
        assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1), "{d:?}");
        assert!(
            d.last_error.is_none() && d.delivered_at == Some(t1),
            "{d:?}"
        );
        let d = row_of(&rows, id_rejecting);
        assert_eq!((d.status.as_str(), d.attempts), ("failed", 1), "{d:?}");
        assert!(d.last_error.as_deref().unwrap().contains("400"), "{d:?}");
        assert!(d.delivered_at.is_none());
        for (app_id, error) in [(id_slow, "time"), (id_broken, "500"), (id_closed, "")] {
            let d = row_of(&rows, app_id);
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 1), "{d:?}");
            let last = d.last_error.clone().expect("a last error");
            assert!(last.to_lowercase().contains(error), "{d:?}");
            // First retry after 2 s plus up to 25 % jitter.
            let wait = d.next_attempt_at - t1;
            assert!(
                wait >= secs(2) && wait <= chrono::Duration::milliseconds(2500),
                "{d:?}"
            );
        }
        assert_eq!(
            (ok.count(), slow.count(), broken.count(), rejecting.count()),
            (1, 1, 1, 1)
        );
        assert_eq!(
            audit_count(&app, &org, "logout_delivery.delivered").await,
            1
        );
        assert_eq!(audit_count(&app, &org, "logout_delivery.failed").await, 1);
        assert_eq!(audit_count(&app, &org, "logout_delivery.retrying").await, 3);

        // Nothing is due before the backoff has passed.
        assert_eq!(run_once(&app).await, 0);

        // Second pass: only the retryable rows, each with a new token.
        app.clock.advance(secs(3));
        let t2 = app.clock.now();
        assert_eq!(run_once(&app).await, 3);
        assert_eq!((ok.count(), rejecting.count()), (1, 1), "never again");
        let jtis = broken.jtis();
        assert_eq!(jtis.len(), 2);
        assert_ne!(jtis[0], jtis[1], "a fresh jti on every try");
        let iats: Vec<i64> = broken
            .tokens()
            .iter()
            .map(|t| jwt_claims(t)["iat"].as_i64().unwrap())
            .collect();
        assert_eq!(iats, vec![t1.timestamp(), t2.timestamp()], "fresh iat too");
        let slow_jtis = slow.jtis();
        assert_eq!(slow_jtis.len(), 2);
        assert_ne!(slow_jtis[0], slow_jtis[1]);
        let rows = deliveries(&app, &org).await;
        for app_id in [id_slow, id_broken, id_closed] {
            let d = row_of(&rows, app_id);
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 2), "{d:?}");
            // Then 4 s plus up to 25 %.
            let wait = d.next_attempt_at - t2;
            assert!(wait >= secs(4) && wait <= secs(5), "{d:?}");
        }
        let timed_out = row_of(&rows, id_slow).last_error.unwrap_or_default();
        assert!(timed_out.to_lowercase().contains("time"), "{timed_out}");

        // A restart: the new node knows only the database. The broken app is fixed meanwhile.
        let at_restart = app.clock.now();
        let app = app.restart(tweak).await;
        app.clock.advance(at_restart - app.clock.now() + secs(6));
        broken.set_status(204);
        let t3 = app.clock.now();
        assert_eq!(run_once(&app).await, 3, "retries go on from the rows");
        let rows = deliveries(&app, &org).await;
        let d = row_of(&rows, id_broken);
        assert_eq!((d.status.as_str(), d.attempts), ("delivered", 3), "{d:?}");
        assert_eq!(d.delivered_at, Some(t3));
        assert_eq!(broken.jtis().iter().collect::<BTreeSet<_>>().len(), 3);
        for app_id in [id_slow, id_closed] {
            let d = row_of(&rows, app_id);
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 3), "{d:?}");
            let wait = d.next_attempt_at - t3;
            assert!(wait >= secs(8) && wait <= secs(10), "{d:?}");
        }

        // A node that dies holding rows (claimed, never finished) does not strand them.
        app.clock.advance(secs(11));
        let now = app.clock.now();
        let due: Vec<uuid::Uuid> = app
            .state
            .store
            .due_logout_deliveries(now, 100, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let claimed = app
            .state
            .store
            .claim_logout_deliveries(&due, now, now + minutes(5), uuid::Uuid::new_v4())
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2, "{claimed:#?}");
        let at_crash = app.clock.now();
        let app = app.restart(tweak).await;
        app.clock.advance(at_crash - app.clock.now() + minutes(15));
        assert_eq!(
            run_once(&app).await,
            2,
            "claimed rows come back after a crash"
        );
        let rows = deliveries(&app, &org).await;
        for app_id in [id_slow, id_closed] {
            // The crashed node's claim counts as an attempt: it may have sent the notice.
            let d = row_of(&rows, app_id);
            assert_eq!((d.status.as_str(), d.attempts), ("pending", 5), "{d:?}");
        }
        assert_eq!(slow.jtis().iter().collect::<BTreeSet<_>>().len(), 4);
        assert_eq!((ok.count(), rejecting.count()), (1, 1));
    }
);

both_backends!(
    too_many_requests_is_retried_redirects_are_not_followed_and_attempts_are_capped,
    |backend| {
        let tweak = |f: figment::Figment| {
            f.merge(("logout.delivery_timeout_ms", 2000))
                .merge(("logout.max_attempts", 3))
        };
        let app = TestApp::spawn_oidc_with(&backend, tweak).await;
        let org = org_with_alice(&app, "acme").await;
        let busy = Receiver::start(429, Duration::ZERO).await;
        let target = Receiver::start(204, Duration::ZERO).await;
        let moved = Receiver::redirecting_to(&target.uri).await;
        let broken = Receiver::start(503, Duration::ZERO).await;
        let a = register(&app, &org, "busy", |r| {
            r.backchannel_logout_uri = Some(busy.uri.clone());
        })
        .await;
        let m = register(&app, &org, "moved", |r| {
            r.backchannel_logout_uri = Some(moved.uri.clone());
        })
        .await;
        let x = register(&app, &org, "broken", |r| {
            r.backchannel_logout_uri = Some(broken.uri.clone());
        })
        .await;
        let (id_busy, id_moved, id_broken) = (
            app_id(&app, &org, &a).await,
            app_id(&app, &org, &m).await,
            app_id(&app, &org, &x).await,
        );
        let mut b = Browser::new(&app.address, UA);
        for rp in [&a, &m, &x] {
            rp.sign_in(&mut b, &[]).await;
        }
        assert_signed_out_page(&sign_out_form(&mut b, "acme").await);

        assert_eq!(run_once(&app).await, 3);
        let rows = deliveries(&app, &org).await;
        let d = row_of(&rows, id_busy);
        assert_eq!(
            (d.status.as_str(), d.attempts),
            ("pending", 1),
            "429: {d:?}"
        );
        assert!(d.last_error.as_deref().unwrap().contains("429"), "{d:?}");
        // A redirect is neither followed nor counted as delivered.
        assert_eq!(moved.count(), 1);
        assert_eq!(target.count(), 0, "the redirect was followed");
        assert_ne!(row_of(&rows, id_moved).status, "delivered");

        // 503 three times with max_attempts = 3: failed, and never tried again.
        for attempt in 2..=3 {
            app.clock.advance(minutes(1));
            run_once(&app).await;
            let d = row_of(&deliveries(&app, &org).await, id_broken);
            assert_eq!(d.attempts, attempt, "{d:?}");
        }
        let d = row_of(&deliveries(&app, &org).await, id_broken);
        assert_eq!(d.status, "failed", "{d:?}");
        assert!(d.last_error.as_deref().unwrap().contains("503"), "{d:?}");
        app.clock.advance(chrono::Duration::hours(2));
        run_once(&app).await;
        assert_eq!(broken.count(), 3);
        assert_eq!(busy.count(), 3);
        assert_eq!(target.count(), 0);
        let d = row_of(&deliveries(&app, &org).await, id_busy);
        assert_eq!((d.status.as_str(), d.attempts), ("failed", 3), "{d:?}");
        assert_eq!(audit_count(&app, &org, "logout_delivery.failed").await, 3);
    }
);

// ---------------------------------------------------------------------------------------------
// 3. Single Logout and "sign out everywhere" for a standard and a privileged app.

both_backends!(
    single_logout_from_either_app_then_sign_out_everywhere,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let catalog_rx = Receiver::start(200, Duration::ZERO).await;
        let payments_rx = Receiver::start(200, Duration::ZERO).await;
        let catalog = register(&app, &org, "catalog", |r| {
            r.backchannel_logout_uri = Some(catalog_rx.uri.clone());
            r.post_logout_redirect_uris = vec![signed_out_uri("catalog")];
        })
        .await;
        let payments = register(&app, &org, "payments", |r| {
            r.session_profile = SessionProfile::Privileged;
            r.rules = Some(PRIVILEGED);
            r.backchannel_logout_uri = Some(payments_rx.uri.clone());
            r.post_logout_redirect_uris = vec![signed_out_uri("payments")];
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        let mut sids = Vec::new();
        let mut outlived = Vec::new();

        // Single Logout started by the privileged app, then (signed in again) by the standard one.
        for (from, name) in [(&payments, "payments"), (&catalog, "catalog")] {
            let c = catalog.sign_in(&mut b, &[]).await;
            let p = payments.sign_in(&mut b, &[]).await;
            let sid = sid_of(&c);
            assert_eq!(sid_of(&p), sid, "one IdP session for both apps");
            let hint = if name == "payments" { &p } else { &c };
            let before = deliveries(&app, &org).await.len();
            let (seen_c, seen_p) = (catalog_rx.count(), payments_rx.count());

            let page = end_session_get(
                &mut b,
                "acme",
                &[
                    ("id_token_hint", hint.id.as_deref().unwrap()),
                    ("client_id", &from.client_id),
                    ("post_logout_redirect_uri", &signed_out_uri(name)),
                    ("state", "bye"),
                ],
            )
            .await;
            // No app of the session has a front-channel URI: straight on to the app.
            let to = assert_redirected_out(&page);
            assert_eq!(to, format!("{}?state=bye", signed_out_uri(name)));
            assert_eq!(
                session_ended(&app, &org, &sid).await,
                Some(EndReason::Logout)
            );
            assert_eq!(
                silent_sign_in_error(&catalog, &mut b).await.as_deref(),
                Some("login_required")
            );

            // Both apps took part: one row each for this session.
            let rows = deliveries(&app, &org).await;
            let new = &rows[..rows.len() - before];
            assert_eq!(new.len(), 2, "{new:#?}");
            assert!(
                new.iter()
                    .all(|d| d.session_id.to_string() == sid && d.reason == "logout"),
                "{new:#?}"
            );
            assert_eq!(run_once(&app).await, 2);
            for (rx, rp, seen) in [
                (&catalog_rx, &catalog, seen_c),
                (&payments_rx, &payments, seen_p),
            ] {
                let tokens = rx.tokens();
                assert_eq!(tokens.len(), seen + 1);
                let claims = jwt_claims(&tokens[seen]);
                assert_eq!(claims["sid"], sid.as_str());
                assert_eq!(claims["aud"], rp.client_id.as_str());
            }

            // The privileged app session ended with the IdP session; the standard one goes on.
            payments
                .refresh(&p.refresh)
                .await
                .assert_error(400, "invalid_grant");
            assert!(!payments.active(&p.access).await);
            let c2 = Tokens::of(&catalog.refresh(&c.refresh).await);
            assert!(catalog.active(&c2.access).await);
            let c3 = Tokens::of(&catalog.refresh(&c2.refresh).await);
            outlived.push(c3.refresh);
            sids.push(sid);
        }
        assert_ne!(sids[0], sids[1]);

        // Signed in again; then "sign out everywhere" from the account page.
        let c = catalog.sign_in(&mut b, &[]).await;
        let p = payments.sign_in(&mut b, &[]).await;
        sids.push(sid_of(&c));
        let before = deliveries(&app, &org).await.len();
        let (seen_c, seen_p) = (catalog_rx.count(), payments_rx.count());
        let account = b.get("/o/acme/account").await;
        assert_eq!(account.status, 200, "{}", account.body);
        let done = b
            .post(
                "/o/acme/account/sessions/end-all",
                &[("csrf", &account.csrf())],
            )
            .await;
        assert_signed_out_page(&done);
        assert_eq!(
            session_ended(&app, &org, &sids[2]).await,
            Some(EndReason::UserSignedOutEverywhere)
        );

        // Every app session ends, the outliving ones of earlier IdP sessions included.
        for refresh in [&c.refresh, &outlived[0], &outlived[1]] {
            catalog
                .refresh(refresh)
                .await
                .assert_error(400, "invalid_grant");
        }
        payments
            .refresh(&p.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!catalog.active(&c.access).await);

        // Both apps are told again: the catalog for each session it was still in.
        let rows = deliveries(&app, &org).await;
        let new = &rows[..rows.len() - before];
        assert!(
            new.iter().all(|d| d.reason == "user_signed_out_everywhere"),
            "{new:#?}"
        );
        let catalog_id = app_id(&app, &org, &catalog).await;
        let told: BTreeSet<(bool, String)> = new
            .iter()
            .map(|d| (d.app_id == catalog_id, d.session_id.to_string()))
            .collect();
        let expected: BTreeSet<(bool, String)> = [
            (true, sids[0].clone()),
            (true, sids[1].clone()),
            (true, sids[2].clone()),
            (false, sids[2].clone()),
        ]
        .into_iter()
        .collect();
        assert_eq!(told, expected, "{new:#?}");
        assert_eq!(new.len(), 4, "{new:#?}");
        assert_eq!(run_once(&app).await, 4);
        let catalog_sids: BTreeSet<String> = catalog_rx.tokens()[seen_c..]
            .iter()
            .map(|t| jwt_claims(t)["sid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(catalog_sids, sids.iter().cloned().collect());
        let payments_new = payments_rx.tokens()[seen_p..].to_vec();
        assert_eq!(payments_new.len(), 1);
        assert_eq!(jwt_claims(&payments_new[0])["sid"], sids[2].as_str());
    }
);

// ---------------------------------------------------------------------------------------------
// 4. Expiry found by the sweeper.

both_backends!(
    idle_and_absolute_expiry_found_by_the_sweeper_notify_the_apps,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let policy = SessionPolicy::default();
        let payments_rx = Receiver::start(204, Duration::ZERO).await;
        let catalog_rx = Receiver::start(204, Duration::ZERO).await;
        let payments = register(&app, &org, "payments", |r| {
            r.session_profile = SessionProfile::Privileged;
            // Its own limits are not what ends it here: only the IdP session's expiry.
            r.rules = Some(SessionRules {
                reauth_max_age_secs: None,
                idle_timeout_secs: None,
                lifetime_secs: 24 * 3600,
                ..PRIVILEGED
            });
            r.backchannel_logout_uri = Some(payments_rx.uri.clone());
        })
        .await;
        let catalog = register(&app, &org, "catalog", |r| {
            r.backchannel_logout_uri = Some(catalog_rx.uri.clone());
        })
        .await;
        let payments_id = app_id(&app, &org, &payments).await;

        // Idle: nothing happens for longer than the org's idle timeout.
        let mut b = Browser::new(&app.address, UA);
        let p = payments.sign_in(&mut b, &[]).await;
        let c = catalog.sign_in(&mut b, &[]).await;
        let sid = sid_of(&p);
        app.clock.advance(secs(policy.idle_timeout_secs - 60));
        assert_eq!(app.state.sessions.sweep().await.unwrap(), 0, "not yet");
        assert!(deliveries(&app, &org).await.is_empty());
        app.clock.advance(minutes(2));
        assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::IdleExpired)
        );
        let rows = deliveries(&app, &org).await;
        let d = row_of(&rows, payments_id);
        assert_eq!(
            (d.status.as_str(), d.reason.as_str()),
            ("pending", "idle_expired")
        );
        assert_eq!(d.session_id.to_string(), sid);
        assert_eq!(rows.len(), 2, "the standard app took part too: {rows:#?}");
        assert_eq!(run_once(&app).await, 2);
        let tokens = payments_rx.tokens();
        assert_eq!(tokens.len(), 1);
        assert_eq!(jwt_claims(&tokens[0])["sid"], sid.as_str());
        assert_eq!(catalog_rx.count(), 1);
        let d = row_of(&deliveries(&app, &org).await, payments_id);
        assert_eq!(d.status, "delivered");
        payments
            .refresh(&p.refresh)
            .await
            .assert_error(400, "invalid_grant");
        Tokens::of(&catalog.refresh(&c.refresh).await);
        assert_eq!(app.state.sessions.sweep().await.unwrap(), 0, "once");

        // Absolute: a session kept busy still ends at its lifetime.
        let p = payments.sign_in(&mut b, &[]).await;
        let sid = sid_of(&p);
        let lifetime = policy.absolute_lifetime_secs;
        let mut waited = 0;
        while waited + 3600 < lifetime {
            app.clock.advance(secs(3600));
            waited += 3600;
            assert_eq!(b.get("/o/acme/account").await.status, 200, "still in");
        }
        assert_eq!(app.state.sessions.sweep().await.unwrap(), 0);
        app.clock.advance(secs(lifetime - waited + 60));
        assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::AbsoluteExpired)
        );
        let rows: Vec<_> = deliveries(&app, &org)
            .await
            .into_iter()
            .filter(|d| d.session_id.to_string() == sid)
            .collect();
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].app_id, payments_id);
        assert_eq!(rows[0].reason, "absolute_expired");
        assert_eq!(run_once(&app).await, 1);
        let tokens = payments_rx.tokens();
        assert_eq!(tokens.len(), 2);
        assert_eq!(jwt_claims(&tokens[1])["sid"], sid.as_str());
        payments
            .refresh(&p.refresh)
            .await
            .assert_error(400, "invalid_grant");
    }
);

// ---------------------------------------------------------------------------------------------
// 4b. A killed worker, a fast receiver and a slow one (issue 15, item 3).

/// How many POSTs a receiver got per IdP session (`sid` of the logout token).
fn posts_per_sid(rx: &Receiver) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in rx.tokens() {
        let sid = jwt_claims(&t)["sid"].as_str().unwrap().to_owned();
        *out.entry(sid).or_insert(0) += 1;
    }
    out
}

/// The rows of one app, by IdP session.
fn rows_by_sid(rows: &[LogoutDelivery], app: AppId) -> BTreeMap<String, LogoutDelivery> {
    rows.iter()
        .filter(|d| d.app_id == app)
        .map(|d| (d.session_id.to_string(), d.clone()))
        .collect()
}

both_backends!(
    deliveries_are_recorded_as_they_finish_and_a_killed_worker_resends_only_unanswered_ones,
    |backend| {
        const SESSIONS: usize = 6;
        // Nothing here times out: the slow receiver answers when the test opens its gate.
        let tweak = |f: figment::Figment| {
            f.merge(("logout.delivery_timeout_ms", 120_000))
                .merge(("logout.worker_interval_ms", 50))
        };
        let app = TestApp::spawn_oidc_with(&backend, tweak).await;
        let org = org_with_alice(&app, "acme").await;
        let fast_rx = Receiver::start(204, Duration::ZERO).await;
        let (slow_rx, open_slow) = Receiver::gated(200).await;
        let fast = register(&app, &org, "fast", |r| {
            r.backchannel_logout_uri = Some(fast_rx.uri.clone());
        })
        .await;
        let slow = register(&app, &org, "slow", |r| {
            r.backchannel_logout_uri = Some(slow_rx.uri.clone());
        })
        .await;
        let (fast_id, slow_id) = (
            app_id(&app, &org, &fast).await,
            app_id(&app, &org, &slow).await,
        );
        let mut sids = BTreeSet::new();
        for _ in 0..SESSIONS {
            let mut b = Browser::new(&app.address, UA);
            sids.insert(sid_of(&fast.sign_in(&mut b, &[]).await));
            slow.sign_in(&mut b, &[]).await;
            assert_signed_out_page(&sign_out_form(&mut b, "acme").await);
        }
        assert_eq!(sids.len(), SESSIONS);
        assert_eq!(deliveries(&app, &org).await.len(), 2 * SESSIONS);

        // The worker runs in the background, as on a serving node.
        let worker = tokio::spawn(app.state.slo.clone().run_worker());
        let fast_done = eventually(Duration::from_secs(60), || async {
            let rows = deliveries(&app, &org).await;
            rows_by_sid(&rows, fast_id)
                .values()
                .all(|d| d.status == "delivered")
        })
        .await;
        assert!(
            fast_done,
            "the fast app's deliveries are recorded while the slow receiver holds its requests: \
             fast got {}, slow holds {}: {:#?}",
            fast_rx.count(),
            slow_rx.count(),
            deliveries(&app, &org).await
        );
        assert!(!*open_slow.borrow(), "the slow receiver never answered");
        let rows = deliveries(&app, &org).await;
        for d in rows_by_sid(&rows, fast_id).values() {
            assert_eq!((d.attempts, d.delivered_at.is_some()), (1, true), "{d:?}");
        }
        assert_eq!(
            posts_per_sid(&fast_rx),
            sids.iter().map(|s| (s.clone(), 1)).collect(),
            "one POST per fast delivery"
        );
        // One slow app holds at most PER_APP_IN_FLIGHT of the worker's slots; its other rows
        // wait unclaimed (and uncounted) for a free slot.
        assert!(
            eventually(Duration::from_secs(60), || async {
                slow_rx.count() == PER_APP_IN_FLIGHT
            })
            .await,
            "the slow receiver holds {} requests",
            slow_rx.count()
        );
        let rows = deliveries(&app, &org).await;
        let slow_rows = rows_by_sid(&rows, slow_id);
        let held: BTreeSet<String> = posts_per_sid(&slow_rx).into_keys().collect();
        assert_eq!(held.len(), PER_APP_IN_FLIGHT, "one request per row");
        for (sid, d) in &slow_rows {
            assert_eq!(d.status, "pending", "{d:?}");
            if held.contains(sid) {
                assert_eq!(d.attempts, 1, "counted when it started: {d:?}");
                assert!(d.claimed_until.is_some(), "{d:?}");
            } else {
                assert_eq!((d.attempts, d.claimed_until), (0, None), "{d:?}");
            }
        }

        // The lease is short and renewed while the attempts run: past the first lease the rows
        // are still the worker's.
        const { assert!(DELIVERY_LEASE_SECS <= 30) };
        app.clock.advance(secs(DELIVERY_LEASE_SECS - 5));
        let renewed_until = app.clock.now() + secs(DELIVERY_LEASE_SECS);
        assert!(
            eventually(Duration::from_secs(60), || async {
                let rows = deliveries(&app, &org).await;
                rows_by_sid(&rows, slow_id)
                    .iter()
                    .filter(|(sid, _)| held.contains(*sid))
                    .all(|(_, d)| d.claimed_until == Some(renewed_until))
            })
            .await,
            "leases renewed: {:#?}",
            deliveries(&app, &org).await
        );
        app.clock.advance(secs(10));
        let due: BTreeSet<uuid::Uuid> = app
            .state
            .store
            .due_logout_deliveries(app.clock.now(), 100, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let unheld: BTreeSet<uuid::Uuid> = slow_rows
            .iter()
            .filter(|(sid, _)| !held.contains(*sid))
            .map(|(_, d)| d.id)
            .collect();
        assert_eq!(due, unheld, "rows in flight are not due for another worker");

        // The node dies mid-batch: the slow receiver still holds every request it got, none
        // answered.
        worker.abort();
        assert!(worker.await.unwrap_err().is_cancelled());
        assert_eq!(slow_rx.count(), PER_APP_IN_FLIGHT);
        // The slow app answers from now on. Another worker takes the rows nobody held at once;
        // the crashed claims block a retry until their lease ends, and no longer.
        open_slow.send_replace(true);
        assert_eq!(run_once(&app).await, SESSIONS - PER_APP_IN_FLIGHT);
        assert_eq!(run_once(&app).await, 0, "the crashed claims are leased");
        app.clock.advance(secs(DELIVERY_LEASE_SECS + 1));
        assert_eq!(run_once(&app).await, PER_APP_IN_FLIGHT);
        assert_eq!(run_once(&app).await, 0);

        let rows = deliveries(&app, &org).await;
        for (sid, d) in rows_by_sid(&rows, slow_id) {
            let attempts = if held.contains(&sid) { 2 } else { 1 };
            assert_eq!(
                (d.status.as_str(), d.attempts),
                ("delivered", attempts),
                "{d:?}"
            );
        }
        for d in rows_by_sid(&rows, fast_id).values() {
            assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1), "{d:?}");
        }
        assert_eq!(
            posts_per_sid(&fast_rx),
            sids.iter().map(|s| (s.clone(), 1)).collect(),
            "no second POST for a delivery the fast app answered before the crash"
        );
        // The slow app got a second POST only for the requests it never answered.
        assert_eq!(
            posts_per_sid(&slow_rx),
            sids.iter()
                .map(|s| (s.clone(), if held.contains(s) { 2 } else { 1 }))
                .collect()
        );
        assert_eq!(
            audit_count(&app, &org, "logout_delivery.delivered").await,
            2 * SESSIONS,
            "each 2xx recorded once"
        );
        assert_eq!(app.state.slo.unrecorded_deliveries(), 0);
    }
);

/// What a worker with claim `token` takes now (the store calls a pass makes).
async fn claim_due(app: &TestApp, token: uuid::Uuid) -> Vec<LogoutDelivery> {
    let now = app.clock.now();
    let store = &app.state.store;
    let due: Vec<uuid::Uuid> = store
        .due_logout_deliveries(now, 10, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    store
        .claim_logout_deliveries(&due, now, now + secs(DELIVERY_LEASE_SECS), token)
        .await
        .unwrap()
}

both_backends!(
    a_worker_whose_lease_ran_out_neither_renews_nor_overwrites_the_next_claim,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(204, Duration::ZERO).await;
        let rp = register(&app, &org, "rp", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        rp.sign_in(&mut b, &[]).await;
        assert_signed_out_page(&sign_out_form(&mut b, "acme").await);
        let store = &app.state.store;
        let lease = secs(DELIVERY_LEASE_SECS);
        let claim = |token| claim_due(&app, token);
        // Worker A claims the row, stalls past its lease; worker B claims it.
        let (token_a, token_b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let a = claim(token_a).await;
        assert_eq!((a.len(), a[0].attempts), (1, 1));
        assert!(claim(token_b).await.is_empty(), "held by A");
        app.clock.advance(lease + secs(1));
        let b_rows = claim(token_b).await;
        assert_eq!(
            (b_rows.len(), b_rows[0].attempts),
            (1, 2),
            "each claim counts"
        );
        let b_until = b_rows[0].claimed_until;
        // A's renewal and A's retry outcome leave B's claim alone.
        let now = app.clock.now();
        assert_eq!(
            store
                .renew_logout_claims(&[a[0].id], token_a, now + minutes(10))
                .await
                .unwrap(),
            0
        );
        let retry_at = now + secs(60);
        assert!(
            !store
                .finish_logout_delivery(&a[0], token_a, Some("HTTP 503"), Some(retry_at), now)
                .await
                .unwrap()
        );
        let d = deliveries(&app, &org).await.remove(0);
        assert_eq!(
            (d.status.as_str(), d.claimed_until, d.last_error.as_deref()),
            ("pending", b_until, None),
            "{d:?}"
        );
        // A 2xx that A got is true whoever holds the row: recorded, once.
        assert!(
            store
                .finish_logout_delivery(&a[0], token_a, None, None, now)
                .await
                .unwrap()
        );
        // B's outcome then changes nothing.
        assert!(
            !store
                .finish_logout_delivery(&b_rows[0], token_b, Some("HTTP 503"), Some(retry_at), now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .finish_logout_delivery(&b_rows[0], token_b, None, None, now)
                .await
                .unwrap()
        );
        let d = deliveries(&app, &org).await.remove(0);
        assert_eq!(
            (
                d.status.as_str(),
                d.attempts,
                d.claimed_until,
                d.delivered_at
            ),
            ("delivered", 2, None, Some(now)),
            "{d:?}"
        );
        assert_eq!(
            audit_count(&app, &org, "logout_delivery.delivered").await,
            1
        );
        assert_eq!(audit_count(&app, &org, "logout_delivery.retrying").await, 0);
        assert_eq!(run_once(&app).await, 0);
    }
);

// ---------------------------------------------------------------------------------------------
// 5. Several nodes.

both_backends!(three_workers_deliver_each_row_exactly_once, |backend| {
    const APPS: usize = 20;
    const ROUNDS: usize = 5;
    let tweak = |f: figment::Figment| f.merge(("logout.delivery_timeout_ms", 2000));
    let node_a = TestApp::spawn_oidc_with(&backend, tweak).await;
    let org = org_with_alice(&node_a, "acme").await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let public_url = node_a.public_url();
        others.push(
            TestApp::spawn_on(&node_a.db_url, node_a.redis.clone(), |f| {
                tweak(f).merge(("http.public_url", public_url))
            })
            .await,
        );
    }
    let (node_b, node_c) = (&others[0], &others[1]);
    // Slow enough that the passes are in flight at once.
    let rx = Receiver::start(200, Duration::from_millis(200)).await;
    let mut rps = Vec::new();
    for i in 0..APPS {
        rps.push(
            register(&node_a, &org, &format!("app{i}"), |r| {
                r.backchannel_logout_uri = Some(rx.uri.clone());
            })
            .await,
        );
    }
    let clients: BTreeSet<String> = rps.iter().map(|rp| rp.client_id.clone()).collect();
    let mut b = Browser::new(&node_a.address, UA);
    // The race is won or lost in microseconds: run it several times.
    for round in 0..ROUNDS {
        for rp in &rps {
            rp.sign_in(&mut b, &[]).await;
        }
        assert_signed_out_page(&sign_out_form(&mut b, "acme").await);
        assert_eq!(deliveries(&node_a, &org).await.len(), APPS * (round + 1));

        let (a, bn, c) = tokio::join!(
            node_a.state.slo.run_once(),
            node_b.state.slo.run_once(),
            node_c.state.slo.run_once()
        );
        let (a, bn, c) = (a.unwrap(), bn.unwrap(), c.unwrap());
        assert_eq!(
            a + bn + c,
            APPS,
            "round {round}: each row claimed once: {a} + {bn} + {c}"
        );
        let (a, bn, c) = tokio::join!(
            node_a.state.slo.run_once(),
            node_b.state.slo.run_once(),
            node_c.state.slo.run_once()
        );
        assert_eq!((a.unwrap(), bn.unwrap(), c.unwrap()), (0, 0, 0));
        let audiences: Vec<String> = rx.tokens()[APPS * round..]
            .iter()
            .map(|t| jwt_claims(t)["aud"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(audiences.len(), APPS, "round {round}: {audiences:?}");
        assert_eq!(
            audiences.iter().cloned().collect::<BTreeSet<_>>(),
            clients,
            "round {round}: each app told exactly once"
        );
    }
    let rows = deliveries(&node_a, &org).await;
    assert_eq!(rows.len(), APPS * ROUNDS);
    assert!(
        rows.iter()
            .all(|d| d.status == "delivered" && d.attempts == 1),
        "{rows:#?}"
    );
    assert_eq!(
        audit_count(&node_a, &org, "logout_delivery.delivered").await,
        APPS * ROUNDS
    );
});

mod two_nodes_logout_on_one_is_seen_by_the_other {
    use super::*;

    /// Logout on node B; node A refuses silent sign-in at once; both workers race over the rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(backend) = Backend::external() else {
            return;
        };
        let node_a = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&node_a, "acme").await;
        let public_url = node_a.public_url();
        let node_b = TestApp::spawn_on(&node_a.db_url, node_a.redis.clone(), |f| {
            f.merge(("http.public_url", public_url))
        })
        .await;
        let rx = Receiver::start(200, Duration::from_millis(100)).await;
        let mut rps = Vec::new();
        for i in 0..6 {
            rps.push(
                register(&node_a, &org, &format!("app{i}"), |r| {
                    r.backchannel_logout_uri = Some(rx.uri.clone());
                })
                .await,
            );
        }
        let mut b = Browser::new(&node_a.address, UA);
        for rp in &rps {
            rp.sign_in(&mut b, &[]).await;
        }
        assert_eq!(
            silent_sign_in_error(&rps[0], &mut b).await,
            None,
            "warm on A"
        );

        let cookie = b.session("acme").unwrap();
        b.base = node_b.address.clone();
        assert_signed_out_page(&sign_out_form(&mut b, "acme").await);
        b.base = node_a.address.clone();
        // The browser still holds the old cookie, as a browser racing the logout would.
        b.set_session("acme", &cookie);
        assert_eq!(
            silent_sign_in_error(&rps[0], &mut b).await.as_deref(),
            Some("login_required")
        );

        let rows = deliveries(&node_a, &org).await;
        assert_eq!(rows.len(), 6);
        let (a, bn) = tokio::join!(node_a.state.slo.run_once(), node_b.state.slo.run_once());
        assert_eq!(a.unwrap() + bn.unwrap(), 6);
        let (a, bn) = tokio::join!(node_a.state.slo.run_once(), node_b.state.slo.run_once());
        assert_eq!((a.unwrap(), bn.unwrap()), (0, 0));
        assert_eq!(rx.count(), rows.len(), "each delivery made exactly once");
        let audiences: BTreeSet<String> = rx
            .tokens()
            .iter()
            .map(|t| jwt_claims(t)["aud"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(audiences.len(), 6);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. RP-initiated logout.

/// A refused RP-initiated logout: the confirmation page, and no way on to `uri`.
#[track_caller]
fn assert_refused(page: &Page, uri: Option<&str>, case: &str) {
    assert_eq!(page.status, 200, "{case}: {}", page.body);
    assert!(page.location().is_empty(), "{case}: {}", page.location());
    assert!(onward(page).is_none(), "{case}: {}", page.body);
    assert!(
        !page.body.contains("data-testid=\"signed-out\""),
        "{case}: {}",
        page.body
    );
    assert!(
        page.body.contains("Sign out of") && page.body.contains("action=\"/o/acme/logout\""),
        "{case}: the confirmation form: {}",
        page.body
    );
    assert!(page.body.contains("name=\"csrf\""), "{case}");
    if let Some(uri) = uri {
        assert!(
            !html_unescape(&page.body).contains(uri),
            "{case}: the page names {uri}: {}",
            page.body
        );
    }
}

/// A refused RP-initiated logout request: what is wrong, its parameters, and the post-logout
/// URI it must not lead to.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

both_backends!(
    rp_initiated_logout_redirects_only_with_a_valid_hint_and_a_registered_uri,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let shop = register(&app, &org, "shop", |r| {
            r.post_logout_redirect_uris = vec![signed_out_uri("shop")];
            r.id_token_ttl_secs = Some(300);
        })
        .await;
        let blog = register(&app, &org, "blog", |r| {
            r.post_logout_redirect_uris = vec![signed_out_uri("blog")];
        })
        .await;
        // Another org with an app of the same client id and the same post-logout URI.
        let globex = org_with_alice(&app, "globex").await;
        let mut req = CreateApp::new("shop", AppType::Web);
        req.redirect_uris = vec!["http://127.0.0.1:9/shop/callback".into()];
        req.post_logout_redirect_uris = vec![signed_out_uri("shop")];
        app.state
            .apps
            .create_with_credentials(
                &globex,
                req,
                &shop.client_id,
                "globex-shop-secret-0123456789",
                "test",
            )
            .await
            .unwrap();
        let globex_shop = shop
            .at_org(&app, "globex")
            .with_credentials(&shop.client_id, Some("globex-shop-secret-0123456789"));

        let mut b = Browser::new(&app.address, UA);
        let t = shop.sign_in(&mut b, &[]).await;
        let hint = t.id.clone().unwrap();
        let sid = sid_of(&t);
        let other_org_hint = globex_shop.sign_in(&mut b, &[]).await.id.unwrap();
        assert_eq!(jwt_claims(&other_org_hint)["aud"], shop.client_id.as_str());

        // Forgeries of the real hint.
        let parts: Vec<&str> = hint.split('.').collect();
        let mut none_header = jwt_header(&hint);
        none_header["alg"] = json!("none");
        let alg_none = format!("{}.{}.", b64(none_header.to_string().as_bytes()), parts[1]);
        let alg_none_plain = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        let mut sig: Vec<char> = parts[2].chars().collect();
        let i = sig.len() / 2;
        sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
        let bad_signature = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            sig.into_iter().collect::<String>()
        );
        let mut claims = jwt_claims(&hint);
        claims["aud"] = json!(blog.client_id);
        let other_payload = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );

        let shop_out = signed_out_uri("shop");
        let blog_out = signed_out_uri("blog");
        let extra_query = format!("{shop_out}?x=1");
        let evil = "https://evil.example/collect".to_owned();
        let cid = shop.client_id.as_str();
        let cases: Vec<Case> = vec![
            (
                "unregistered URI",
                vec![
                    ("id_token_hint", hint.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", evil.as_str()),
                    ("state", "s"),
                ],
                evil.as_str(),
            ),
            (
                "registered URI with an extra query",
                vec![
                    ("id_token_hint", hint.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", extra_query.as_str()),
                    ("state", "s"),
                ],
                extra_query.as_str(),
            ),
            (
                "URI registered for another app than the hint's",
                vec![
                    ("id_token_hint", hint.as_str()),
                    ("post_logout_redirect_uri", blog_out.as_str()),
                    ("state", "s"),
                ],
                blog_out.as_str(),
            ),
            (
                "client_id not in the hint's audience",
                vec![
                    ("id_token_hint", hint.as_str()),
                    ("client_id", blog.client_id.as_str()),
                    ("post_logout_redirect_uri", blog_out.as_str()),
                    ("state", "s"),
                ],
                blog_out.as_str(),
            ),
            (
                "no hint",
                vec![
                    ("client_id", cid),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                    ("state", "s"),
                ],
                shop_out.as_str(),
            ),
            (
                "alg none (the real header's kid)",
                vec![
                    ("id_token_hint", alg_none.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                    ("state", "s"),
                ],
                shop_out.as_str(),
            ),
            (
                "alg none",
                vec![
                    ("id_token_hint", alg_none_plain.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                    ("state", "s"),
                ],
                shop_out.as_str(),
            ),
            (
                "tampered signature",
                vec![
                    ("id_token_hint", bad_signature.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                    ("state", "s"),
                ],
                shop_out.as_str(),
            ),
            (
                "tampered payload",
                vec![
                    ("id_token_hint", other_payload.as_str()),
                    ("client_id", blog.client_id.as_str()),
                    ("post_logout_redirect_uri", blog_out.as_str()),
                    ("state", "s"),
                ],
                blog_out.as_str(),
            ),
            (
                "another org's hint",
                vec![
                    ("id_token_hint", other_org_hint.as_str()),
                    ("client_id", cid),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                    ("state", "s"),
                ],
                shop_out.as_str(),
            ),
            (
                "not a JWT",
                vec![
                    ("id_token_hint", "garbage"),
                    ("post_logout_redirect_uri", shop_out.as_str()),
                ],
                shop_out.as_str(),
            ),
        ];
        for (case, params, uri) in &cases {
            let page = end_session_get(&mut b, "acme", params).await;
            assert_refused(&page, Some(uri), &format!("GET, {case}"));
            let page = b.post("/o/acme/end-session", params).await;
            assert_refused(&page, Some(uri), &format!("POST, {case}"));
            assert_eq!(session_ended(&app, &org, &sid).await, None, "{case}");
        }
        assert_eq!(
            silent_sign_in_error(&shop, &mut b).await,
            None,
            "still signed in"
        );

        // A valid hint, a registered URI and a state that needs encoding: signed out, and on to
        // exactly that URI with exactly that state.
        let cookie = b.session("acme").unwrap();
        let state = "af0ifjsldkj/ü &x=1#frag";
        let page = end_session_get(
            &mut b,
            "acme",
            &[
                ("id_token_hint", &hint),
                ("client_id", cid),
                ("post_logout_redirect_uri", &shop_out),
                ("state", state),
            ],
        )
        .await;
        // No front-channel app, nothing to wait for: a 303 to the app, no page in between.
        let to = assert_redirected_out(&page);
        assert!(to.starts_with(&format!("{shop_out}?state=")), "{to}");
        let url = url::Url::parse(&to).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(q, vec![("state".to_owned(), state.to_owned())], "{to}");
        assert!(url.fragment().is_none(), "{to}");
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::Logout)
        );
        assert!(b.session("acme").is_none(), "the session cookie is cleared");
        // Kept by a browser anyway, the old cookie is worthless.
        b.set_session("acme", &cookie);
        assert_eq!(
            silent_sign_in_error(&shop, &mut b).await.as_deref(),
            Some("login_required")
        );
        // The other org's session is untouched.
        assert_eq!(silent_sign_in_error(&globex_shop, &mut b).await, None);

        // A POST with an expired hint, signed with a key that has since been replaced (still
        // published), and no URI: signed out, and the page stays.
        let t = shop.sign_in(&mut b, &[]).await;
        let sid = sid_of(&t);
        app.clock.advance(minutes(10));
        let old_kid = jwt_header(t.id.as_deref().unwrap())["kid"].clone();
        app.state
            .keys
            .rotate(&org, None, chrono::Duration::zero())
            .await
            .unwrap();
        let published = jwks(&app, "acme").await;
        assert_eq!(published["keys"].as_array().unwrap().len(), 2);
        assert!(
            published["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == old_kid)
        );
        let hint = t.id.unwrap();
        assert!(jwt_claims(&hint)["exp"].as_i64().unwrap() < app.clock.now().timestamp());
        let page = b
            .post("/o/acme/end-session", &[("id_token_hint", hint.as_str())])
            .await;
        assert_signed_out_page(&page);
        assert!(onward(&page).is_none(), "{}", page.body);
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::Logout)
        );

        // Without a session, the confirmation page has nothing to confirm.
        let page = end_session_get(
            &mut b,
            "acme",
            &[("client_id", cid), ("post_logout_redirect_uri", &shop_out)],
        )
        .await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("You are not signed in."),
            "{}",
            page.body
        );
        assert!(onward(&page).is_none());
        assert!(!page.body.contains(&shop_out));
    }
);

// ---------------------------------------------------------------------------------------------
// 7. Local logout.

both_backends!(
    local_logout_ends_one_app_session_and_notifies_nobody,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let catalog_rx = Receiver::start(204, Duration::ZERO).await;
        let loyalty_rx = Receiver::start(204, Duration::ZERO).await;
        let catalog = register(&app, &org, "catalog", |r| {
            r.backchannel_logout_uri = Some(catalog_rx.uri.clone());
        })
        .await;
        let loyalty = register(&app, &org, "loyalty", |r| {
            r.backchannel_logout_uri = Some(loyalty_rx.uri.clone());
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        let c = catalog.sign_in(&mut b, &[]).await;
        let l = loyalty.sign_in(&mut b, &[]).await;
        let sid = sid_of(&c);

        let r = catalog.revoke(&c.refresh, Some("refresh_token")).await;
        assert_eq!(r.status, 200, "{r:?}");
        catalog
            .refresh(&c.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert!(!catalog.active(&c.access).await);

        // No outbox row, nothing sent.
        assert!(deliveries(&app, &org).await.is_empty());
        assert_eq!(run_once(&app).await, 0);
        assert_eq!((catalog_rx.count(), loyalty_rx.count()), (0, 0));

        // The IdP session and the other app's session go on; SSO signs the catalog straight back in.
        assert_eq!(session_ended(&app, &org, &sid).await, None);
        assert!(loyalty.active(&l.access).await);
        let l2 = Tokens::of(&loyalty.refresh(&l.refresh).await);
        assert!(loyalty.active(&l2.access).await);
        assert_eq!(silent_sign_in_error(&catalog, &mut b).await, None);
        let again = catalog.sign_in(&mut b, &[]).await;
        assert_eq!(sid_of(&again), sid);
        assert!(catalog.active(&again.access).await);
        assert!(deliveries(&app, &org).await.is_empty());
    }
);

both_backends!(
    revocations_end_outliving_app_sessions_too_and_notify,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let catalog_rx = Receiver::start(204, Duration::ZERO).await;
        let payments_rx = Receiver::start(204, Duration::ZERO).await;
        let catalog = register(&app, &org, "catalog", |r| {
            r.backchannel_logout_uri = Some(catalog_rx.uri.clone());
        })
        .await;
        let payments = register(&app, &org, "payments", |r| {
            r.session_profile = SessionProfile::Privileged;
            r.rules = Some(PRIVILEGED);
            r.backchannel_logout_uri = Some(payments_rx.uri.clone());
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        for (round, reason) in [
            EndReason::AdminRevoked,
            EndReason::SignedOutElsewhere,
            EndReason::PasswordChanged,
            EndReason::MfaReset,
        ]
        .into_iter()
        .enumerate()
        {
            let c = catalog.sign_in(&mut b, &[]).await;
            let p = payments.sign_in(&mut b, &[]).await;
            let sid = sid_of(&c);
            app.state
                .sessions
                .end(org.id, session_id(&sid), reason, "test")
                .await
                .unwrap();
            // Unlike a sign-out, a revocation ends the standard app's session too.
            catalog
                .refresh(&c.refresh)
                .await
                .assert_error(400, "invalid_grant");
            payments
                .refresh(&p.refresh)
                .await
                .assert_error(400, "invalid_grant");
            let rows: Vec<_> = deliveries(&app, &org)
                .await
                .into_iter()
                .filter(|d| d.session_id.to_string() == sid)
                .collect();
            assert_eq!(rows.len(), 2, "{reason:?}: {rows:#?}");
            assert!(
                rows.iter().all(|d| d.reason == reason.as_str()),
                "{rows:#?}"
            );
            assert_eq!(run_once(&app).await, 2, "{reason:?}");
            assert_eq!(
                (catalog_rx.count(), payments_rx.count()),
                (round + 1, round + 1)
            );
            assert_eq!(jwt_claims(&catalog_rx.tokens()[round])["sid"], sid.as_str());
        }
    }
);

// ---------------------------------------------------------------------------------------------
// 8. Discovery.

both_backends!(discovery_advertises_logout, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    org_with_alice(&app, "acme").await;
    let res = app.get("/o/acme/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(
        d["end_session_endpoint"],
        format!("{}/end-session", app.issuer("acme")).as_str()
    );
    for field in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(d[field], true, "{field}: {d}");
    }
    // The endpoint is where discovery says.
    let res = app.get("/o/acme/end-session").await;
    assert_eq!(res.status(), 200);
});

// ---------------------------------------------------------------------------------------------
// 9. Front-channel logout.

both_backends!(
    front_channel_logout_frames_the_apps_that_took_part,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let issuer = app.issuer("acme");
        let news = register(&app, &org, "news", |r| {
            r.frontchannel_logout_uri = Some("http://127.0.0.1:9/news/fc".into());
        })
        .await;
        let shop = register(&app, &org, "shop", |r| {
            r.redirect_uris = vec!["http://127.0.0.1:10/shop/callback".into()];
            r.frontchannel_logout_uri = Some("http://127.0.0.1:10/shop/fc?from=idp".into());
            r.post_logout_redirect_uris = vec!["http://127.0.0.1:10/shop/signed-out".into()];
        })
        .await;
        // Signed in to by the same user, but in another session.
        let wiki = register(&app, &org, "wiki", |r| {
            r.redirect_uris = vec!["http://127.0.0.1:11/wiki/callback".into()];
            r.frontchannel_logout_uri = Some("http://127.0.0.1:11/wiki/fc".into());
        })
        .await;
        let mut phone = Browser::new(&app.address, UA);
        wiki.sign_in(&mut phone, &[]).await;

        let check_frames = |page: &Page, sid: &str| {
            let frames = frontchannel_frames(page);
            assert_eq!(frames.len(), 2, "{}", page.body);
            let mut paths = BTreeSet::new();
            for frame in &frames {
                let url = url::Url::parse(frame).unwrap();
                let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
                assert_eq!(q.get("iss"), Some(&issuer), "{frame}");
                assert_eq!(q.get("sid").map(String::as_str), Some(sid), "{frame}");
                match url.path() {
                    "/news/fc" => {
                        assert_eq!(url.origin().ascii_serialization(), "http://127.0.0.1:9");
                        assert_eq!(q.len(), 2, "{frame}");
                    }
                    "/shop/fc" => {
                        assert_eq!(url.origin().ascii_serialization(), "http://127.0.0.1:10");
                        // The registered query stays, iss and sid are added.
                        assert_eq!(q.get("from").map(String::as_str), Some("idp"), "{frame}");
                        assert_eq!(q.len(), 3, "{frame}");
                    }
                    other => panic!("unexpected frame {other}: {frame}"),
                }
                paths.insert(url.path().to_owned());
            }
            assert_eq!(paths.len(), 2, "{frames:?}");
            assert!(!page.body.contains("/wiki/fc"), "{}", page.body);
            let origins = csp_frame_src(page).expect("a frame-src directive");
            assert!(
                origins.contains(&"http://127.0.0.1:9".to_owned()),
                "{origins:?}"
            );
            assert!(
                origins.contains(&"http://127.0.0.1:10".to_owned()),
                "{origins:?}"
            );
            assert!(!origins.iter().any(|o| o.contains(":11")), "{origins:?}");
        };

        // The IdP's own sign-out: the frames, and no redirect.
        let mut b = Browser::new(&app.address, UA);
        let sid = sid_of(&news.sign_in(&mut b, &[]).await);
        assert_eq!(sid_of(&shop.sign_in(&mut b, &[]).await), sid);
        let page = sign_out_form(&mut b, "acme").await;
        assert_signed_out_page(&page);
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::Logout)
        );
        check_frames(&page, &sid);
        assert!(onward(&page).is_none(), "{}", page.body);

        // RP-initiated logout: the frames, then on to the app after a bounded wait.
        let sid = sid_of(&news.sign_in(&mut b, &[]).await);
        let t = shop.sign_in(&mut b, &[]).await;
        let page = end_session_get(
            &mut b,
            "acme",
            &[
                ("id_token_hint", t.id.as_deref().unwrap()),
                (
                    "post_logout_redirect_uri",
                    "http://127.0.0.1:10/shop/signed-out",
                ),
                ("state", "fc"),
            ],
        )
        .await;
        assert_signed_out_page(&page);
        assert_eq!(
            session_ended(&app, &org, &sid).await,
            Some(EndReason::Logout)
        );
        check_frames(&page, &sid);
        let (delay, to, link) = onward(&page).expect("on to the app");
        assert!(
            (1..=10).contains(&delay),
            "time for the frames, bounded: {delay}"
        );
        assert_eq!(to, "http://127.0.0.1:10/shop/signed-out?state=fc");
        assert_eq!(link, to);

        // A session no front-channel app took part in: no frames, no frame-src.
        let solo = register(&app, &org, "solo", |_| {}).await;
        let mut c = Browser::new(&app.address, UA);
        solo.sign_in(&mut c, &[]).await;
        let page = sign_out_form(&mut c, "acme").await;
        assert_signed_out_page(&page);
        assert!(frontchannel_frames(&page).is_empty(), "{}", page.body);
        assert_eq!(csp_frame_src(&page), None);
    }
);

// ---------------------------------------------------------------------------------------------
// App sessions that end on their own.

// An app session that passes its own idle timeout while nobody uses it is ended on time by the
// sweeper, with the reason and an audit event, and its app is told over the back channel (in
// the transaction of the end); the IdP session and the other app's session live on.
both_backends!(
    an_app_session_past_its_idle_timeout_is_swept_and_its_app_told,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(200, Duration::ZERO).await;
        let other = Receiver::start(200, Duration::ZERO).await;
        let shop = register(&app, &org, "shop", |r| {
            r.session_profile = SessionProfile::Privileged;
            r.rules = Some(PRIVILEGED);
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let blog = register(&app, &org, "blog", |r| {
            r.backchannel_logout_uri = Some(other.uri.clone());
        })
        .await;
        let mut b = Browser::new(&app.address, UA);
        let t = shop.sign_in(&mut b, &[]).await;
        let tb = blog.sign_in(&mut b, &[]).await;
        let id = t.id_claims();
        let sid = sid_of(&t);
        let idle = PRIVILEGED.idle_timeout_secs.unwrap();

        // Before its idle deadline nothing ends and nobody is told.
        app.clock.advance(secs(idle - 10));
        assert_eq!(app.state.oidc.sweep_app_sessions().await.unwrap(), 0);
        assert_eq!(run_once(&app).await, 0);

        // Past it, with no request from anyone: the sweeper ends it and queues its delivery.
        app.clock.advance(secs(20));
        assert_eq!(app.state.oidc.sweep_app_sessions().await.unwrap(), 1);
        let rows = deliveries(&app, &org).await;
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].reason, "idle_expired");
        assert_eq!(rows[0].app_id, app_id(&app, &org, &shop).await);
        assert_eq!(audit_count(&app, &org, "app_session.ended").await, 1);
        assert_eq!(run_once(&app).await, 1);
        let tokens = rx.tokens();
        assert_eq!(tokens.len(), 1);
        validate_logout_token(
            &tokens[0],
            &jwks(&app, "acme").await,
            &Expected {
                issuer: &shop.issuer,
                client_id: &shop.client_id,
                sub: id["sub"].as_str().unwrap(),
                sid: &sid,
                now: app.clock.now().timestamp(),
            },
        );
        assert_eq!(other.count(), 0, "the other app was not part of this end");

        // Its tokens are dead; the IdP session and the other app's session go on.
        let refreshed = shop.refresh(&t.refresh).await;
        refreshed.assert_error(400, "invalid_grant");
        assert_eq!(session_ended(&app, &org, &sid).await, None);
        let refreshed = blog.refresh(&tb.refresh).await;
        assert_eq!(refreshed.status, 200, "{:?}", refreshed.json);

        // Nothing is ended or told twice.
        assert_eq!(app.state.oidc.sweep_app_sessions().await.unwrap(), 0);
        assert_eq!(run_once(&app).await, 0);
        assert_eq!(rx.count(), 1);
    }
);

// Housekeeping: finished rows go once `sessions.retention_days` (30 by default) have passed
// since they finished, in the sweeper's pass; live rows stay, and so does an ended IdP session
// while an app session that outlives it is live, and a delivery still being retried.
both_backends!(
    finished_rows_are_deleted_after_the_retention_and_live_ones_kept,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(200, Duration::ZERO).await;
        let broken = Receiver::start(500, Duration::ZERO).await;
        // A standard app (its app session outlives the IdP session) and a privileged one whose
        // receiver keeps failing.
        let shop = register(&app, &org, "shop", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let vault = register(&app, &org, "vault", |r| {
            r.session_profile = SessionProfile::Privileged;
            r.rules = Some(PRIVILEGED);
            r.backchannel_logout_uri = Some(broken.uri.clone());
        })
        .await;
        let mut b1 = Browser::new(&app.address, UA);
        let s1 = sid_of(&shop.sign_in(&mut b1, &[]).await);
        assert_signed_out_page(&sign_out_form(&mut b1, "acme").await);
        app.clock.advance(secs(60));
        let mut b2 = Browser::new(&app.address, UA);
        let s2 = sid_of(&vault.sign_in(&mut b2, &[]).await);
        assert_signed_out_page(&sign_out_form(&mut b2, "acme").await);
        // The user's newest session, ended too: it stays whatever its age (it says the user
        // has signed in before, which the new-device notice needs).
        app.clock.advance(secs(60));
        let mut b3 = Browser::new(&app.address, UA);
        let login = b3.get("/o/acme/login").await;
        crate::helpers::submit_login(&mut b3, "acme", &login).await;
        assert_signed_out_page(&sign_out_form(&mut b3, "acme").await);
        assert_eq!(run_once(&app).await, 2);
        let statuses = |rows: Vec<LogoutDelivery>| {
            let mut s: Vec<String> = rows.into_iter().map(|d| d.status).collect();
            s.sort();
            s
        };
        assert_eq!(
            statuses(deliveries(&app, &org).await),
            ["delivered", "pending"]
        );
        let exists = |sid: &str| {
            let (app, id) = (&app, session_id(sid));
            async move {
                app.state
                    .store
                    .session_by_id(org.id, id)
                    .await
                    .unwrap()
                    .is_some()
            }
        };

        // A reset link (it expires within the hour) and its message, still waiting in the outbox.
        app.state
            .accounts
            .request_password_reset(&org, crate::signin::EMAIL, "127.0.0.1")
            .await
            .unwrap();

        // Within the retention nothing goes.
        app.clock.advance(chrono::Duration::days(29));
        let purged = app.state.sessions.purge(app.clock.now()).await.unwrap();
        assert_eq!(purged.total(), 0, "{purged:?}");

        // Past it: the privileged app session and its IdP session, and the delivered row. The
        // shop's app session has not ended (nothing ended it), so its IdP session stays too;
        // the delivery still being retried stays.
        app.clock.advance(chrono::Duration::days(2));
        let purged = app.state.sessions.purge(app.clock.now()).await.unwrap();
        assert_eq!(
            (
                purged.app_sessions,
                purged.sessions,
                purged.logout_deliveries
            ),
            (1, 1, 1),
            "{purged:?}"
        );
        assert!(
            exists(&s1).await,
            "kept while an app session outliving it is live"
        );
        assert!(!exists(&s2).await);
        assert_eq!(statuses(deliveries(&app, &org).await), ["pending"]);
        // Nothing more to do on the next pass.
        let purged = app.state.sessions.purge(app.clock.now()).await.unwrap();
        assert_eq!(purged.total(), 0, "{purged:?}");

        // The dormant account still gets the new-device notice for a sign-in from elsewhere.
        let notices = || {
            let (app, org) = (&app, org.id);
            async move {
                app.state
                    .store
                    .emails(org)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|q| q.email.text.contains("signed in from a new device"))
                    .count()
            }
        };
        let before = notices().await;
        let mut phone = Browser::new(
            &app.address,
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
        );
        let login = phone.get("/o/acme/login").await;
        crate::helpers::submit_login(&mut phone, "acme", &login).await;
        assert_eq!(
            notices().await,
            before + 1,
            "a new device is still told about"
        );
    }
);

// Where you're signed in, per app: the account page lists the apps of each session, and "sign
// out of this app" ends just that app session (local logout) and tells the app; the IdP session
// and the other app go on. A standard app's session that outlives an ended IdP session gets its
// own row. Another user's app session cannot be ended from here.
both_backends!(
    the_account_page_signs_out_of_one_app_and_tells_it,
    |backend| {
        let app = TestApp::spawn_oidc(&backend).await;
        let org = org_with_alice(&app, "acme").await;
        let rx = Receiver::start(200, Duration::ZERO).await;
        let other = Receiver::start(200, Duration::ZERO).await;
        let shop = register(&app, &org, "shop", |r| {
            r.backchannel_logout_uri = Some(rx.uri.clone());
        })
        .await;
        let blog = register(&app, &org, "blog", |r| {
            r.backchannel_logout_uri = Some(other.uri.clone());
        })
        .await;
        // Signed in to the shop on a laptop, signed out there: the shop's session outlives it.
        let mut laptop = Browser::new(&app.address, UA);
        let old = shop.sign_in(&mut laptop, &[]).await;
        assert_signed_out_page(&sign_out_form(&mut laptop, "acme").await);
        assert_eq!(run_once(&app).await, 1);
        // Signed in again, to both apps.
        let mut b = Browser::new(&app.address, UA);
        let t = shop.sign_in(&mut b, &[]).await;
        let tb = blog.sign_in(&mut b, &[]).await;
        let sid = sid_of(&t);

        let page = b.get("/o/acme/account").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let rows = |page: &Page, testid: &str| -> Vec<(String, String)> {
            tags(&page.body, &format!("data-testid=\"{testid}\""))
                .iter()
                .map(|t| (attr(t, "data-app-session-id").unwrap(), t.clone()))
                .collect()
        };
        let in_session = rows(&page, "session-app");
        assert_eq!(in_session.len(), 2, "{}", page.body);
        let outliving = rows(&page, "outliving-app");
        assert_eq!(
            outliving.len(),
            1,
            "the shop's session from the laptop: {}",
            page.body
        );
        let section = &page.body[page.body.find("data-testid=\"session-apps\"").unwrap()..];
        assert!(
            section.contains("shop") && section.contains("blog"),
            "{section}"
        );
        let shop_row = {
            let at = section.find("shop").unwrap();
            let tag_start = section[..at].rfind("<li ").unwrap();
            attr(&section[tag_start..], "data-app-session-id").unwrap()
        };

        // Another user cannot end it.
        let mut mallory = Browser::new(&app.address, UA);
        let bob = app
            .state
            .accounts
            .create_user(
                &org,
                portcullis::accounts::CreateUser {
                    email: "bob@acme.test",
                    password: Some("bob's long password"),
                    name: None,
                    role: portcullis::accounts::Role::Member,
                },
                "test",
            )
            .await
            .unwrap();
        assert_eq!(
            mallory
                .sign_in("acme", bob.email.as_str(), "bob's long password", false)
                .await
                .status,
            303
        );
        let csrf = mallory.get("/o/acme/account").await.csrf();
        let res = mallory
            .post(
                &format!("/o/acme/account/apps/{shop_row}/end"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.status, 303);
        assert!(shop.active(&t.access).await, "still signed in to the shop");

        // The user signs out of the shop only.
        let csrf = page.csrf();
        let res = b
            .post(
                &format!("/o/acme/account/apps/{shop_row}/end"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location(), "/o/acme/account");
        assert_eq!(run_once(&app).await, 1);
        let tokens = rx.tokens();
        assert_eq!(tokens.len(), 2, "the laptop's sign-out and this one");
        assert_eq!(jwt_claims(&tokens[1])["sid"], sid.as_str());
        assert_eq!(other.count(), 0, "the blog is not told");
        shop.refresh(&t.refresh)
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(session_ended(&app, &org, &sid).await, None);
        // The blog goes on: the refreshed token is fresh, the old one was rotated above.
        let refreshed = blog.refresh(&tb.refresh).await;
        assert_eq!(refreshed.status, 200, "{:?}", refreshed.json);
        let page = b.get("/o/acme/account").await;
        assert_eq!(rows(&page, "session-app").len(), 1, "{}", page.body);
        assert_eq!(rows(&page, "outliving-app").len(), 1);
        // The laptop's outliving shop session is still there too, and can be ended the same way.
        let _ = old;
    }
);
