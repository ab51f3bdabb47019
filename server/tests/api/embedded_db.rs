//! Issue 16, item 3: the embedded database is set up for a server. SQLite runs in WAL mode, and
//! transactions that write take the write lock when they begin, so concurrent writers queue on
//! the busy timeout instead of failing with "database is locked" (which the HTTP edge answers
//! as an outage, 503).

use crate::helpers::{Backend, TestApp, org_with_alice};
use portcullis::accounts::{CreateUser, Role};
use portcullis::sessions::{EndReason, NewSession};

#[tokio::test]
async fn the_embedded_database_runs_in_wal_mode() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let app = TestApp::spawn(&Backend::Embedded).await;
    // The journal mode is a property of the file: a second connection sees it.
    let db = Database::connect(app.db_url.as_str()).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    db.close().await.unwrap();
}

both_backends!(concurrent_writers_queue_instead_of_failing, |backend| {
    let app = TestApp::spawn(&backend).await;
    let org = org_with_alice(&app, "acme").await;
    let mut users = Vec::new();
    for i in 0..12 {
        let email = format!("user{i}@acme.example");
        let req = CreateUser {
            email: &email,
            password: None,
            name: None,
            role: Role::Member,
        };
        let user = app
            .state
            .accounts
            .create_user(&org, req, "test")
            .await
            .unwrap();
        users.push(user.id);
    }
    fn new(user: portcullis::accounts::UserId) -> NewSession {
        NewSession {
            user_id: user,
            remember_me: false,
            password_at: None,
            webauthn_at: None,
            user_agent: None,
            ip: None,
        }
    }
    for &user in &users {
        for _ in 0..3 {
            app.state.sessions.start(org.id, new(user)).await.unwrap();
        }
    }
    // Every user at once: "sign out everywhere" (a transaction that reads the user's sessions,
    // then ends each) racing new sign-ins of the others. Each round, every call succeeds.
    for round in 0..3 {
        let calls: Vec<_> = users
            .iter()
            .map(|&user| {
                let state = app.state.clone();
                let org = org.id;
                tokio::spawn(async move {
                    let ended = state
                        .sessions
                        .end_user_sessions(
                            org,
                            user,
                            None,
                            EndReason::UserSignedOutEverywhere,
                            "test",
                        )
                        .await
                        .map_err(|e| e.to_string());
                    let started = state
                        .sessions
                        .start(org, new(user))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    (ended, started)
                })
            })
            .collect();
        for call in calls {
            let (ended, started) = call.await.unwrap();
            assert!(ended.is_ok(), "round {round}: {ended:?}");
            assert!(started.is_ok(), "round {round}: {started:?}");
        }
    }
    for &user in &users {
        assert_eq!(
            app.state.sessions.list(org.id, user).await.unwrap().len(),
            1
        );
    }
});
