//! An outage is not a revocation (issue 15, item 2): with PostgreSQL unreachable, every endpoint
//! answers 503 with `Retry-After` (`temporarily_unavailable` in OAuth error bodies), never an
//! answer meaning "this token or request is bad"; once PostgreSQL answers again, the same node
//! gives the normal answers without a restart.
//!
//! The node reaches PostgreSQL through a TCP proxy in the test, which the test closes (the port
//! refuses connections and every forwarded connection is cut) and reopens. PostgreSQL only: the
//! embedded SQLite backend is a file in the process, which has no outage of this kind.

use crate::browser::{Browser, Page};
use crate::helpers::{Answer, Backend, Rp, TestApp, TestDb, free_port, pkce, query_params};
use portcullis::apps::{AppType, CreateApp};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A TCP proxy to PostgreSQL that the test can close and reopen on the same port.
pub struct PgProxy {
    pub port: u16,
    target: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgProxy {
    /// A proxy to the host and port of `db_url`, open.
    pub async fn start(db_url: &str) -> Self {
        let url = url::Url::parse(db_url).unwrap();
        let host = url.host_str().unwrap_or("127.0.0.1");
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        let target: SocketAddr = format!("{host}:{}", url.port().unwrap_or(5432))
            .parse()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            target,
            accept: Mutex::new(None),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        proxy
    }

    /// `db_url` with its host and port replaced by the proxy's.
    pub fn url(&self, db_url: &str) -> String {
        let mut url = url::Url::parse(db_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    fn serve(&self, listener: TcpListener) {
        let (target, conns) = (self.target, self.conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// PostgreSQL goes away: the port refuses connections and open ones are cut.
    pub async fn close(&self) {
        let accept = self.accept.lock().unwrap().take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
        // The listener is dropped with its aborted task: wait until the port refuses.
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the proxy port still accepts connections");
    }

    /// PostgreSQL is back on the same port.
    pub async fn reopen(&self) {
        self.close().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    /// PostgreSQL stops answering: open connections are cut, new ones are accepted and never
    /// answered (a listener that holds them, like a hung server or a black-holing firewall).
    pub async fn hang(&self) {
        self.close().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let conns = self.conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let held = tokio::spawn(async move {
                    let _inbound = inbound;
                    std::future::pending::<()>().await;
                });
                conns.lock().unwrap().push(held);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

/// `Retry-After` as whole seconds, at least 1.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Result<u64, String> {
    let raw = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| "no Retry-After".to_owned())?;
    match raw.parse::<u64>() {
        Ok(secs) if secs >= 1 => Ok(secs),
        _ => Err(format!("Retry-After {raw}")),
    }
}

/// An OAuth JSON answer: 503, `temporarily_unavailable`, `Retry-After`, and no challenge that
/// would tell the client its token is bad.
fn oauth_unavailable(a: &Answer) -> Result<(), String> {
    let detail = || format!("{} {} {:?}", a.status, a.json, a.headers);
    if (a.status, a.error()) != (503, "temporarily_unavailable") {
        return Err(detail());
    }
    if a.header("www-authenticate").contains("invalid_token") {
        return Err(detail());
    }
    retry_after(&a.headers)
        .map(|_| ())
        .map_err(|e| format!("{e}: {}", detail()))
}

/// A hosted page: 503 with `Retry-After`, saying so.
fn page_unavailable(p: &Page) -> Result<(), String> {
    let detail = || format!("{} {}", p.status, p.body);
    if p.status != 503 || !p.body.contains("Temporarily unavailable") {
        return Err(detail());
    }
    retry_after(&p.headers)
        .map(|_| ())
        .map_err(|e| format!("{e}: {}", detail()))
}

/// An authorization request while the database is away: the 503 page when a lookup fails
/// first; when the app and session are known from copies, the request is valid and only the
/// code cannot be stored, so the app is told `temporarily_unavailable` at its registered URI
/// (RFC 6749 §4.1.2.1). Never a sign-in form or `login_required`.
fn authorize_unavailable(p: &Page, rp: &Rp) -> Result<(), String> {
    let told_app = p.status == 303
        && p.headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| {
                l.starts_with(&format!(
                    "{}?error=temporarily_unavailable",
                    rp.redirect_uri
                ))
            });
    if told_app {
        Ok(())
    } else {
        page_unavailable(p)
    }
}

/// Every answer that was not what it should be, reported together.
#[derive(Default)]
struct Wrong(Vec<String>);

impl Wrong {
    fn check(&mut self, what: &str, result: Result<(), String>) {
        if let Err(e) = result {
            self.0.push(format!("{what}: {e}"));
        }
    }
}

/// Needs PostgreSQL: runs in the PostgreSQL + Redis pass (`postgres_redis` in its name).
mod every_endpoint_answers_503_while_postgres_is_away_and_recovers {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(backend) = Backend::external() else {
            return;
        };
        // In-process cache: what the node cached stays cached (fixed clock), so requests get past
        // the cached lookups and reach the database where a real node's would.
        outage(&backend, None).await;
    }
}

/// Needs PostgreSQL: runs in the PostgreSQL + Redis pass (`postgres_redis` in its name).
mod every_endpoint_answers_503_while_postgres_is_away_and_recovers_with_redis {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(backend) = Backend::external() else {
            return;
        };
        let redis = backend.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        });
        outage(&backend, redis).await;
    }
}

async fn outage(backend: &Backend, redis: Option<(String, String)>) {
    let db = TestDb::create(backend).await;
    let proxy = PgProxy::start(&db.url).await;
    let port = free_port();
    let app = TestApp::spawn_on(&proxy.url(&db.url), redis, move |f| {
        f.merge(("http.bind", format!("127.0.0.1:{port}")))
            .merge(("http.public_url", format!("http://localhost:{port}")))
            .merge(("database.connect_timeout_secs", 1))
    })
    .await;
    let org = crate::helpers::org_with_alice(&app, "acme").await;
    let rp = Rp::web(&app, &org, "shop").await;
    let mut b = Browser::new(&app.address, UA);
    let tokens = rp.sign_in(&mut b, &[]).await;
    let (challenge, verifier) = pkce();
    let pkce_params = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = rp.code(&mut b, &pkce_params).await;
    let mut admin_req = CreateApp::new("Automation", AppType::Service);
    admin_req.admin = true;
    let automation = Rp::register(&app, &org, admin_req).await;
    let admin_token = automation
        .token(&[("grant_type", "client_credentials")])
        .await
        .str("access_token");
    let admin_get = |path: &str| {
        app.client
            .get(format!("{}/api/v1{path}", app.address))
            .bearer_auth(&admin_token)
            .send()
    };
    assert_eq!(admin_get("/orgs/acme/apps").await.unwrap().status(), 200);
    let login = b.get("/o/acme/login?reauth=1").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let csrf = login.csrf();
    let authorize = rp.authorize_path(&pkce_params);

    proxy.close().await;

    let mut wrong = Wrong::default();
    let a = rp.userinfo(&tokens.access).await;
    wrong.check("userinfo", oauth_unavailable(&a));
    let a = rp.introspect(&tokens.access).await;
    wrong.check("introspection (access token)", oauth_unavailable(&a));
    let a = rp.introspect(&tokens.refresh).await;
    wrong.check("introspection (refresh token)", oauth_unavailable(&a));
    let a = rp.refresh(&tokens.refresh).await;
    wrong.check("token (refresh grant)", oauth_unavailable(&a));
    let a = rp.exchange(&code, Some(&verifier)).await;
    wrong.check("token (code grant)", oauth_unavailable(&a));
    let a = rp.revoke(&tokens.access, None).await;
    wrong.check("revocation", oauth_unavailable(&a));

    let p = b.get(&authorize).await;
    wrong.check("authorize", authorize_unavailable(&p, &rp));
    // A session the node has not cached: its lookup fails, which is not "signed out" (no
    // `login_required` to the app, no sign-in form).
    let mut other = Browser::new(&app.address, UA);
    other.set_session(
        "acme",
        "a-session-cookie-the-node-has-not-cached-0123456789",
    );
    let p = other.get(&rp.authorize_path(&[("prompt", "none")])).await;
    wrong.check("authorize, prompt=none", page_unavailable(&p));
    let p = other.get("/o/acme/login").await;
    wrong.check("sign-in page, session not cached", page_unavailable(&p));
    let p = b.get("/o/acme/account").await;
    wrong.check("account page", page_unavailable(&p));
    let p = b
        .post(
            "/o/acme/login",
            &[
                ("email", crate::signin::EMAIL),
                ("password", crate::signin::PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    wrong.check("sign-in form (POST)", page_unavailable(&p));
    // A ceremony of the signed-in browser (JSON): not "sign in first".
    let p = b
        .post_json(
            "/o/acme/webauthn/register/start",
            &serde_json::json!({ "kind": "passkey" }),
        )
        .await;
    let json = if p.status == 503 {
        retry_after(&p.headers).map(|_| ())
    } else {
        Err(format!("{} {}", p.status, p.body))
    };
    wrong.check("passkey registration start", json);
    let p = b.get("/o/acme/end-session").await;
    wrong.check("end session", page_unavailable(&p));
    // An org the node has not seen: not "no such organization".
    let p = b.get("/o/globex/login").await;
    wrong.check("sign-in page of an org not cached", page_unavailable(&p));

    let res = admin_get("/orgs/acme/apps").await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    let admin = if status != 503 || headers.contains_key("www-authenticate") {
        Err(format!("{status} {body} {headers:?}"))
    } else {
        retry_after(&headers).map(|_| ())
    };
    wrong.check("admin API", admin);
    assert!(
        wrong.0.is_empty(),
        "while PostgreSQL is away:\n{}",
        wrong.0.join("\n")
    );

    proxy.reopen().await;

    let a = rp.userinfo(&tokens.access).await;
    assert_eq!(a.status, 200, "userinfo after the outage: {a:?}");
    assert!(rp.active(&tokens.access).await);
    assert!(rp.active(&tokens.refresh).await);
    let exchanged = rp.exchange(&code, Some(&verifier)).await;
    assert_eq!(exchanged.status, 200, "{exchanged:?}");
    let refreshed = rp.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let p = b.get(&authorize).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        query_params(p.location()).contains_key("code"),
        "{}",
        p.location()
    );
    let p = b.get("/o/acme/account").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let p = b.get("/o/globex/login").await;
    assert_eq!(p.status, 404, "{}", p.body);
    assert_eq!(admin_get("/orgs/acme/apps").await.unwrap().status(), 200);

    // A database that stops answering (no refusal, no reset) fails the same way, after
    // `database.connect_timeout_secs`.
    // (Userinfo and access-token introspection may now be answered from the copies the
    // requests above stored, as designed: they must never say "invalid" or "inactive".)
    proxy.hang().await;
    let mut wrong = Wrong::default();
    let refresh = refreshed.str("refresh_token");
    let a = rp.refresh(&refresh).await;
    wrong.check("token (refresh grant, no answer)", oauth_unavailable(&a));
    let a = rp.introspect(&refresh).await;
    wrong.check(
        "introspection of a refresh token (no answer)",
        oauth_unavailable(&a),
    );
    let a = rp.userinfo(&tokens.access).await;
    wrong.check(
        "userinfo (no answer)",
        if a.status == 200 && a.json["sub"].is_string() {
            Ok(())
        } else {
            oauth_unavailable(&a)
        },
    );
    let a = rp.introspect(&tokens.access).await;
    wrong.check(
        "introspection (no answer)",
        if a.status == 200 && a.json["active"] == true {
            Ok(())
        } else {
            oauth_unavailable(&a)
        },
    );
    let p = b.get(&authorize).await;
    wrong.check("authorize (no answer)", authorize_unavailable(&p, &rp));
    assert!(
        wrong.0.is_empty(),
        "while PostgreSQL hangs:\n{}",
        wrong.0.join("\n")
    );
    proxy.reopen().await;
    let a = rp.userinfo(&tokens.access).await;
    assert_eq!(a.status, 200, "userinfo after the hang: {a:?}");
}

// ---------------------------------------------------------------------------------------------
// Start-up (issue 15, item 4): a database that cannot be used is reported once, with the URL
// (password redacted) and what failed.

/// What a node prints when it cannot start on `db_url` (as `serve` and every CLI command do:
/// `error: {err:#}`), with a 1 s connect timeout.
async fn startup_error(db_url: &str) -> String {
    let figment =
        crate::helpers::test_figment(db_url, None).merge(("database.connect_timeout_secs", 1));
    let config = portcullis::config::Config::from_figment(figment).unwrap();
    let clock = Arc::new(portcullis::clock::FixedClock::at_epoch());
    match portcullis::app::AppState::init(config, clock).await {
        Ok(_) => panic!("{db_url}: the node started"),
        Err(e) => format!("{e:#}"),
    }
}

/// `text` says `cause` exactly once, names the redacted URL and never the password.
#[track_caller]
fn says_once(text: &str, cause: &str, url_shown: &str) {
    assert_eq!(text.matches(cause).count(), 1, "{cause:?} once in: {text}");
    assert!(text.contains(url_shown), "{url_shown} in: {text}");
    assert!(!text.contains("s3cret"), "the password in: {text}");
    assert!(
        !text.contains("pool timed out"),
        "the pool's message instead of the cause: {text}"
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_reported_as_refused() {
    let port = closed_port();
    let text = startup_error(&format!(
        "postgres://portcullis:s3cret@127.0.0.1:{port}/idp"
    ))
    .await;
    says_once(
        &text,
        "connection refused",
        &format!("postgres://portcullis:***@127.0.0.1:{port}/idp"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_is_not_postgres_is_reported_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let text = startup_error(&format!(
        "postgres://portcullis:s3cret@127.0.0.1:{port}/idp"
    ))
    .await;
    server.abort();
    says_once(
        &text,
        "does not speak PostgreSQL",
        &format!("127.0.0.1:{port}/idp"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_never_answers_is_reported_as_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let text = startup_error(&format!(
        "postgres://portcullis:s3cret@127.0.0.1:{port}/idp"
    ))
    .await;
    server.abort();
    says_once(
        &text,
        "no answer within 1 s",
        &format!("127.0.0.1:{port}/idp"),
    );
}

/// Needs PostgreSQL: runs in the PostgreSQL + Redis pass (`postgres_redis` in its name).
mod a_missing_database_is_reported_once_with_how_to_create_it {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(Backend::External { postgres, .. }) = Backend::external() else {
            return;
        };
        let mut url = url::Url::parse(&postgres).unwrap();
        url.set_path("pctest_missing_database");
        let text = startup_error(url.as_str()).await;
        says_once(
            &text,
            "database \"pctest_missing_database\" does not exist",
            "/pctest_missing_database",
        );
        assert!(text.contains("createdb"), "{text}");
        // The binary prints it once too (no log line or source chain repeating it).
        let out = crate::helpers::Cli::new(url.as_str(), None)
            .env("PORTCULLIS__DATABASE__CONNECT_TIMEOUT_SECS", "1")
            .run(&["migrate"])
            .await;
        assert!(!out.success);
        assert_eq!(
            out.stderr.matches("does not exist").count(),
            1,
            "{}",
            out.stderr
        );
    }
}

/// Needs PostgreSQL: runs in the PostgreSQL + Redis pass (`postgres_redis` in its name).
mod an_unknown_user_is_reported_as_an_authentication_failure {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        let Some(Backend::External { postgres, .. }) = Backend::external() else {
            return;
        };
        let mut url = url::Url::parse(&postgres).unwrap();
        url.set_username("pctest_nobody").unwrap();
        url.set_password(Some("s3cret")).unwrap();
        let text = startup_error(url.as_str()).await;
        says_once(&text, "authentication failed", "pctest_nobody:***@");
    }
}
