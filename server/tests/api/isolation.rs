//! Tenant isolation in the storage layer: a user or app of org A is invisible and untouchable
//! through org B, including by id.

use crate::helpers::TestApp;
use portcullis::accounts::{CreateUser, EmailAddress, Role};
use portcullis::apps::{AppType, CreateApp, SessionProfile};
use portcullis::store::StoreError;

both_backends!(org_b_cannot_see_or_touch_org_a, |backend| {
    let app = TestApp::spawn(&backend).await;
    let s = &app.state;
    let a = s.orgs.create("org-a", None, "test").await.unwrap();
    let b = s.orgs.create("org-b", None, "test").await.unwrap();

    let email = "same@example.com";
    let req = |email| CreateUser {
        email,
        password: Some("long enough pw"),
        name: None,
        role: Role::Member,
    };
    let user_a = s
        .accounts
        .create_user(&a, req(email), "test")
        .await
        .unwrap();
    let (app_a, secret_a) = s
        .apps
        .create(
            &a,
            CreateApp {
                redirect_uris: vec!["https://a.example.com/cb".into()],
                session_profile: SessionProfile::Standard,
                ..CreateApp::new("a-app", AppType::Web)
            },
            "test",
        )
        .await
        .unwrap();
    let secret_a = secret_a.unwrap();

    // Invisible: by id, by email, by client id, by secret.
    assert!(s.store.user_by_id(b.id, user_a.id).await.unwrap().is_none());
    assert!(
        s.store
            .user_by_email(b.id, &EmailAddress::parse(email).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.store
            .user_password_hash(b.id, user_a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.store.app_by_id(b.id, app_a.id).await.unwrap().is_none());
    assert!(
        s.store
            .app_by_client_id(b.id, &app_a.client_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.store
            .app_secret_hash(b.id, &app_a.client_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !s.apps
            .verify_secret(&b, &app_a.client_id, &secret_a)
            .await
            .unwrap()
    );
    // …while org A sees them.
    assert!(s.store.user_by_id(a.id, user_a.id).await.unwrap().is_some());
    assert!(s.store.app_by_id(a.id, app_a.id).await.unwrap().is_some());

    // Untouchable: deleting through org B fails and leaves org A's rows in place.
    assert!(matches!(
        s.store
            .delete_user(b.id, user_a.id, "test", chrono::Utc::now())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.store.delete_app(b.id, app_a.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.store.user_by_id(a.id, user_a.id).await.unwrap().is_some());
    assert!(s.store.app_by_id(a.id, app_a.id).await.unwrap().is_some());

    // The same email is a different, independent account in org B.
    let user_b = s
        .accounts
        .create_user(&b, req(email), "test")
        .await
        .unwrap();
    assert_ne!(user_a.id, user_b.id);
    assert_eq!(s.store.count_users(a.id).await.unwrap(), 1);
    assert_eq!(s.store.count_users(b.id).await.unwrap(), 1);

    // Org A can delete its own.
    s.store.delete_app(a.id, app_a.id).await.unwrap();
    assert!(s.store.app_by_id(a.id, app_a.id).await.unwrap().is_none());
});
