//! Admin lists paged by the database. Paging through more rows than a page gives every row of
//! the org once, in a stable order, with the right `total`; filters still apply with paging;
//! another org's rows are never counted or shown. And no list reads rows outside its page: a
//! row that cannot be read ("poisoned" below: an invalid email, app type or org slug, or a
//! value the column's type cannot decode) breaks only the pages that hold it or show it. A
//! list that loaded all of the org's rows (or all its users or apps, to name them) fails on
//! every page: the code before this change failed each of the users, sessions (three ways),
//! deliveries, apps, audit-events and orgs checks of `no_list_reads_rows_outside_its_page`, on
//! both backends. (No timing, no query counting: the database itself refuses the row.)

use crate::admin_api::{call, org_with, user_token};
use crate::helpers::{Backend, TestApp};
use portcullis::accounts::{CreateUser, Role, User, UserId};
use portcullis::apps::{App, AppType, CreateApp};
use portcullis::clock::Clock;
use portcullis::oidc::{AppSession, AppSessionId};
use portcullis::sessions::{NewSession, Session};
use portcullis::tenancy::Org;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

async fn add_user(app: &TestApp, org: &Org, email: &str) -> User {
    let req = CreateUser {
        email,
        password: None,
        name: None,
        role: Role::Member,
    };
    app.state
        .accounts
        .create_user(org, req, "test")
        .await
        .unwrap()
}

async fn add_session(app: &TestApp, org: &Org, user: UserId) -> Session {
    let new = NewSession {
        user_id: user,
        remember_me: false,
        password_at: Some(app.clock.now()),
        webauthn_at: None,
        user_agent: None,
        ip: None,
    };
    app.state.sessions.start(org.id, new).await.unwrap().0
}

async fn add_app(app: &TestApp, org: &Org, name: &str) -> App {
    let mut req = CreateApp::new(name, AppType::Web);
    req.redirect_uris = vec![format!(
        "http://127.0.0.1:9/{}/{name}/cb",
        org.slug.as_str()
    )];
    app.state.apps.create(org, req, "test").await.unwrap().0
}

async fn add_app_session(app: &TestApp, s: &Session, to: &App) {
    let now = app.clock.now();
    let a = AppSession {
        id: AppSessionId(Uuid::now_v7()),
        org_id: s.org_id,
        app_id: to.id,
        session_id: s.id,
        user_id: s.user_id,
        scope: "openid".into(),
        auth_time: now,
        acr: "1".into(),
        amr: vec!["pwd".into()],
        outlives_idp_session: false,
        created_at: now,
        last_active_at: now,
        idle_deadline: None,
        absolute_expiry: now + chrono::Duration::hours(8),
        ended_at: None,
        end_reason: None,
        dpop_jkt: None,
    };
    let code = Uuid::new_v4().simple().to_string();
    app.state
        .store
        .create_app_session(&a, &code, None)
        .await
        .unwrap();
}

/// A logout delivery row written straight to the database (the outbox worker never touches a
/// row due in a year).
async fn add_delivery(
    db: &DatabaseConnection,
    s: &Session,
    to: &App,
    status: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let col = |c: &str| Alias::new(c);
    let insert = Query::insert()
        .into_table(col("logout_deliveries"))
        .columns([
            col("id"),
            col("org_id"),
            col("app_id"),
            col("session_id"),
            col("user_id"),
            col("reason"),
            col("status"),
            col("attempts"),
            col("next_attempt_at"),
            col("created_at"),
            col("updated_at"),
        ])
        .values_panic([
            Expr::val(id),
            Expr::val(s.org_id.0),
            Expr::val(to.id.0),
            Expr::val(s.id.0),
            Expr::val(s.user_id.0),
            Expr::val("admin_revoked"),
            Expr::val(status),
            Expr::val(1_i32),
            Expr::val(at + chrono::Duration::days(365)),
            Expr::val(at),
            Expr::val(at),
        ])
        .to_owned();
    db.execute(&insert).await.unwrap();
    id
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = call(app, "get", path, Some(token)).await;
    assert_eq!(res.status, 200, "GET {path}: {res:?}");
    res.json
}

/// Every page of `path` (which has no `?`) at `per_page`: the ids in order, after checking
/// each page's size, number and `total`.
async fn all_pages(
    app: &TestApp,
    token: &str,
    path: &str,
    query: &str,
    per_page: u64,
    total: u64,
) -> Vec<String> {
    let mut ids = Vec::new();
    let pages = total.div_ceil(per_page);
    for page in 1..=pages + 1 {
        let body = get(
            app,
            token,
            &format!("{path}?{query}page={page}&per_page={per_page}"),
        )
        .await;
        assert_eq!(body["total"], total, "{path} page {page}: {body}");
        assert_eq!(body["page"], page);
        assert_eq!(body["per_page"], per_page);
        let items = body["items"].as_array().unwrap();
        let expected = Ord::min(total.saturating_sub((page - 1) * per_page), per_page);
        assert_eq!(items.len() as u64, expected, "{path} page {page}");
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{path}: a row twice");
    ids
}

fn strs<T: ToString>(v: impl IntoIterator<Item = T>) -> Vec<String> {
    v.into_iter().map(|x| x.to_string()).collect()
}

both_backends!(lists_page_through_every_row_once, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let globex = org_with(&app, "globex", Role::Admin).await;
    let admin = user_token(&app, &acme, true).await;
    let shop = add_app(&app, &acme, "shop").await;
    let globex_shop = add_app(&app, &globex, "shop").await;
    // 120 users and sessions besides alice's; the same addresses at globex. The clock stands
    // still, so order ties are broken by id: the order must still be stable across pages.
    let mut acme_sessions = Vec::new();
    for i in 0..120 {
        let u = add_user(&app, &acme, &format!("u{i:03}@example.com")).await;
        let s = add_session(&app, &acme, u.id).await;
        if i % 3 == 0 {
            add_app_session(&app, &s, &shop).await;
        }
        acme_sessions.push(s);
    }
    let mut globex_sessions = Vec::new();
    for i in 0..30 {
        let u = add_user(&app, &globex, &format!("u{i:03}@example.com")).await;
        let s = add_session(&app, &globex, u.id).await;
        add_app_session(&app, &s, &globex_shop).await;
        globex_sessions.push(s);
    }
    let store = &app.state.store;

    // Users: 121 (alice and 120), three pages of 50, in the store's order (oldest first).
    let expected = strs(
        store
            .users(acme.id, None)
            .await
            .unwrap()
            .iter()
            .map(|u| u.id),
    );
    assert_eq!(expected.len(), 121);
    let ids = all_pages(&app, &admin, "/orgs/acme/users", "", 50, 121).await;
    assert_eq!(ids, expected);
    // Filtered: `u1` is u100..u119 (20 users), in pages of 7; none of globex's.
    let expected = strs(
        store
            .users(acme.id, Some("u1"))
            .await
            .unwrap()
            .iter()
            .map(|u| u.id),
    );
    assert_eq!(expected.len(), 20);
    let ids = all_pages(&app, &admin, "/orgs/acme/users", "q=u1&", 7, 20).await;
    assert_eq!(ids, expected);
    // Each user's details are that user's own (read for the page in one query).
    let body = get(&app, &admin, "/orgs/acme/users?q=u00&per_page=200").await;
    for item in body["items"].as_array().unwrap() {
        assert!(item["email"].as_str().unwrap().starts_with("u00"), "{item}");
        assert_eq!(item["credentials"], serde_json::json!([]));
    }

    // Sessions: 121 live (alice's and 120), newest first, in pages of 50.
    let expected = strs(
        store
            .live_sessions(acme.id, None)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id),
    );
    assert_eq!(expected.len(), 121);
    let ids = all_pages(&app, &admin, "/orgs/acme/sessions", "", 50, 121).await;
    assert_eq!(ids, expected);
    let globex_ids: BTreeSet<String> = strs(globex_sessions.iter().map(|s| s.id))
        .into_iter()
        .collect();
    assert!(ids.iter().all(|i| !globex_ids.contains(i)));
    // Every session names its own user's email and its app sessions' client ids.
    for page in 1..=3 {
        let body = get(
            &app,
            &admin,
            &format!("/orgs/acme/sessions?page={page}&per_page=50"),
        )
        .await;
        for item in body["items"].as_array().unwrap() {
            let s = acme_sessions
                .iter()
                .position(|s| s.id.to_string() == item["id"].as_str().unwrap());
            let app_sessions = item["app_sessions"].as_array().unwrap();
            match s {
                Some(i) => {
                    assert_eq!(item["user_email"], format!("u{i:03}@example.com"));
                    assert_eq!(app_sessions.len(), usize::from(i % 3 == 0), "{item}");
                    for a in app_sessions {
                        assert_eq!(a["client_id"], shop.client_id.as_str());
                    }
                }
                // Alice's, with the console's app session.
                None => {
                    assert_eq!(item["user_email"], crate::signin::EMAIL);
                    assert_eq!(app_sessions.len(), 1, "{item}");
                }
            }
        }
    }
    // Filtered by app: the 40 sessions the shop takes part in, in pages of 15.
    let expected: Vec<String> = strs(
        acme_sessions
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| i % 3 == 0)
            .map(|(_, s)| s.id),
    );
    let ids = all_pages(
        &app,
        &admin,
        "/orgs/acme/sessions",
        &format!("app_id={}&", shop.id),
        15,
        40,
    )
    .await;
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>()
    );
    // Another org's app names no session here.
    let body = get(
        &app,
        &admin,
        &format!("/orgs/acme/sessions?app_id={}", globex_shop.id),
    )
    .await;
    assert_eq!(body["total"], 0, "{body}");
    // Filtered by user.
    let one = &acme_sessions[7];
    let body = get(
        &app,
        &admin,
        &format!("/orgs/acme/sessions?user_id={}", one.user_id),
    )
    .await;
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["items"][0]["id"], one.id.to_string());

    // Apps: the console and the shop (and none of globex's), one per page.
    let ids = all_pages(&app, &admin, "/orgs/acme/apps", "", 1, 2).await;
    assert_eq!(
        ids,
        strs(store.apps(acme.id).await.unwrap().iter().map(|a| a.id))
    );

    // Deliveries: 120 rows of acme (a minute apart, newest first), 20 of globex.
    let db = Database::connect(&app.db_url).await.unwrap();
    let start = app.clock.now();
    let mut delivered = Vec::new();
    let mut all = Vec::new();
    for (i, s) in acme_sessions.iter().enumerate() {
        let status = ["delivered", "failed", "pending"][i % 3];
        let at = start + chrono::Duration::minutes(i as i64);
        let id = add_delivery(&db, s, &shop, status, at).await;
        if status == "delivered" {
            delivered.push(id.to_string());
        }
        all.push(id.to_string());
    }
    for s in globex_sessions.iter().take(20) {
        add_delivery(&db, s, &globex_shop, "failed", start).await;
    }
    all.reverse();
    delivered.reverse();
    let ids = all_pages(&app, &admin, "/orgs/acme/logout-deliveries", "", 50, 120).await;
    assert_eq!(ids, all);
    let ids = all_pages(
        &app,
        &admin,
        "/orgs/acme/logout-deliveries",
        "status=delivered&",
        15,
        40,
    )
    .await;
    assert_eq!(ids, delivered);
    let body = get(&app, &admin, "/orgs/acme/logout-deliveries?per_page=3").await;
    for item in body["items"].as_array().unwrap() {
        assert_eq!(item["client_id"], shop.client_id.as_str());
    }

    // Paging parameters are checked as before.
    for bad in ["page=0", "per_page=0", "per_page=201"] {
        let res = call(
            &app,
            "get",
            &format!("/orgs/acme/users?{bad}"),
            Some(&admin),
        )
        .await;
        assert_eq!(res.status, 422, "{bad}: {res:?}");
    }
});

/// Makes one row unreadable by the server: a value its column's type cannot decode (SQLite
/// keeps whatever text it is given; PostgreSQL gets a NULL in a column read as not null).
async fn poison(db: &DatabaseConnection, backend: &Backend, table: &str, id: Uuid) {
    let (text_col, time_col) = match table {
        "sessions" => ("token_hash", "last_seen_at"),
        "logout_deliveries" => ("reason", "next_attempt_at"),
        // (`at` orders the list: this text sorts before every time, so the row stays last.)
        "audit_events" => ("actor", "at"),
        other => panic!("{other}"),
    };
    match backend {
        Backend::Embedded => {
            let update = Query::update()
                .table(Alias::new(table))
                .value(Alias::new(time_col), "0000 not a time")
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            db.execute(&update).await.unwrap();
        }
        Backend::External { .. } => {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ALTER COLUMN {text_col} DROP NOT NULL"
            ))
            .await
            .unwrap();
            db.execute_unprepared(&format!(
                "UPDATE {table} SET {text_col} = NULL WHERE id = '{id}'"
            ))
            .await
            .unwrap();
        }
    }
}

async fn set_column(db: &DatabaseConnection, table: &str, column: &str, value: &str, id: Uuid) {
    let update = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), value)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    db.execute(&update).await.unwrap();
}

/// Records `path` in `wrong` unless it answers `want`.
async fn expect(wrong: &mut Vec<String>, app: &TestApp, token: &str, path: &str, want: u16) {
    let got = call(app, "get", path, Some(token)).await.status;
    if got != want {
        wrong.push(format!("GET {path}: {got}, expected {want}"));
    }
}

both_backends!(no_list_reads_rows_outside_its_page, |backend| {
    let app = TestApp::spawn_oidc(&backend).await;
    let acme = org_with(&app, "acme", Role::Admin).await;
    let admin = user_token(&app, &acme, true).await;
    let db = Database::connect(&app.db_url).await.unwrap();
    // Every answer that is not as expected, so that one run names every list at fault.
    let mut wrong: Vec<String> = Vec::new();
    let second = chrono::Duration::seconds(1);
    // The oldest of everything below (after alice's): the victim, its session, an app.
    app.clock.advance(second);
    let victim = add_user(&app, &acme, "victim@example.com").await;
    let victim_session = add_session(&app, &acme, victim.id).await;
    let unused = add_app(&app, &acme, "unused").await;
    app.clock.advance(second);
    let shop = add_app(&app, &acme, "shop").await;
    let mut sessions = Vec::new();
    for i in 0..30 {
        app.clock.advance(second);
        let u = add_user(&app, &acme, &format!("u{i:03}@example.com")).await;
        let s = add_session(&app, &acme, u.id).await;
        add_app_session(&app, &s, &shop).await;
        sessions.push(s);
    }
    // Deliveries: the victim's oldest, then one per session.
    let oldest = add_delivery(&db, &victim_session, &shop, "failed", app.clock.now()).await;
    for s in &sessions {
        app.clock.advance(second);
        add_delivery(&db, s, &shop, "failed", app.clock.now()).await;
    }

    // Users, oldest first: the newest user is alone on the last page of 10 (32 users).
    let newest = sessions.last().unwrap().user_id;
    set_column(&db, "users", "email", "not an address", newest.0).await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/users?per_page=10",
        200,
    )
    .await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/users?q=u0&per_page=10",
        200,
    )
    .await;
    // (The poison bites where the row is shown.)
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/users?page=4&per_page=10",
        500,
    )
    .await;
    set_column(&db, "users", "email", "u029@example.com", newest.0).await;

    // Sessions, newest first: the victim's is next to last (alice's is last). Neither its
    // user's row, nor its own row, nor an app no session on the page uses, is read.
    set_column(&db, "users", "email", "not an address", victim.id.0).await;
    set_column(&db, "apps", "app_type", "not a type", unused.id.0).await;
    let first_page = "/orgs/acme/sessions?per_page=10";
    expect(&mut wrong, &app, &admin, first_page, 200).await;
    poison(&db, &backend, "sessions", victim_session.id.0).await;
    expect(&mut wrong, &app, &admin, first_page, 200).await;
    let by_app = format!("/orgs/acme/sessions?app_id={}&per_page=10", shop.id);
    expect(&mut wrong, &app, &admin, &by_app, 200).await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/sessions?page=4&per_page=10",
        500,
    )
    .await;

    // Deliveries, newest first: the oldest (on the last page) is unreadable; the unused app
    // is not read to name the page's client ids.
    poison(&db, &backend, "logout_deliveries", oldest).await;
    let first_page = "/orgs/acme/logout-deliveries?per_page=10";
    expect(&mut wrong, &app, &admin, first_page, 200).await;
    let failed = "/orgs/acme/logout-deliveries?status=failed&per_page=10";
    expect(&mut wrong, &app, &admin, failed, 200).await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/logout-deliveries?page=4&per_page=10",
        500,
    )
    .await;

    // Apps, oldest first: the console, the unreadable one, the shop.
    expect(&mut wrong, &app, &admin, "/orgs/acme/apps?per_page=1", 200).await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/apps?page=3&per_page=1",
        200,
    )
    .await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/apps?page=2&per_page=1",
        500,
    )
    .await;

    // Audit events, newest first: the org's first is unreadable.
    let events = app
        .state
        .store
        .audit_events(acme.id, None, None, None, None, 100_000)
        .await
        .unwrap();
    let first_event = events.last().unwrap().id;
    poison(&db, &backend, "audit_events", first_event).await;
    expect(
        &mut wrong,
        &app,
        &admin,
        "/orgs/acme/audit-events?per_page=10",
        200,
    )
    .await;
    let last = events.len().div_ceil(10);
    let path = format!("/orgs/acme/audit-events?page={last}&per_page=10");
    expect(&mut wrong, &app, &admin, &path, 500).await;

    // Orgs (operators: admins of the platform org), oldest first: the newest is unreadable.
    let system = app.state.orgs.find("system").await.unwrap();
    let req = CreateUser {
        email: crate::signin::EMAIL,
        password: Some(crate::signin::PASSWORD),
        name: None,
        role: Role::Admin,
    };
    app.state
        .accounts
        .create_user(&system, req, "test")
        .await
        .unwrap();
    let operator = user_token(&app, &system, true).await;
    app.clock.advance(second);
    let zeta = app.state.orgs.create("zeta", None, "test").await.unwrap();
    set_column(&db, "orgs", "slug", "Not A Slug!", zeta.id.0).await;
    let first = call(&app, "get", "/orgs?per_page=1", Some(&operator)).await;
    if first.status == 200 {
        let last = first.json["total"].as_u64().unwrap();
        let path = format!("/orgs?page={last}&per_page=1");
        expect(&mut wrong, &app, &operator, &path, 500).await;
    } else {
        wrong.push(format!(
            "GET /orgs?per_page=1: {}, expected 200",
            first.status
        ));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
});
