//! `serve --demo`: seeds an org with users and the demo apps, and prints how to use them.
//! Idempotent: on later starts it finds what exists and prints it again (secrets excepted,
//! they are shown only when created).

use crate::accounts::{AccountError, CreateUser, Role};
use crate::app::AppState;
use crate::apps::{AppType, CreateApp, SessionProfile};
use crate::tenancy::TenancyError;

pub const DEMO_ORG: &str = "demo";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.example";
pub const DEMO_USER_EMAIL: &str = "alice@demo.example";
/// Demo passwords are public by design: the demo is for a laptop, never for production.
pub const DEMO_PASSWORD: &str = "portcullis-demo";

pub async fn seed(state: &AppState, json: bool) -> anyhow::Result<()> {
    let org = match state.orgs.create(DEMO_ORG, Some("Demo Org"), "demo").await {
        Ok(org) => org,
        Err(TenancyError::SlugTaken(_)) => state.orgs.find(DEMO_ORG).await?,
        Err(e) => return Err(e.into()),
    };
    for (email, role) in [
        (DEMO_ADMIN_EMAIL, Role::Admin),
        (DEMO_USER_EMAIL, Role::Member),
    ] {
        let req = CreateUser {
            email,
            password: Some(DEMO_PASSWORD),
            name: None,
            role,
        };
        match state.accounts.create_user(&org, req, "demo").await {
            Ok(_) | Err(AccountError::EmailTaken(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut apps = Vec::new();
    // The demo apps are registered once; their secrets are shown only then.
    if state.store.count_apps(org.id).await? == 0 {
        for (name, profile, port) in [
            ("Demo Shop Catalog", SessionProfile::Standard, 9001),
            ("Demo Shop Checkout", SessionProfile::Privileged, 9002),
        ] {
            let req = CreateApp {
                redirect_uris: vec![format!("http://127.0.0.1:{port}/callback")],
                post_logout_redirect_uris: vec![format!("http://127.0.0.1:{port}/")],
                backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel-logout")),
                session_profile: profile,
                ..CreateApp::new(name, AppType::Web)
            };
            let (app, secret) = state.apps.create(&org, req, "demo").await?;
            apps.push(serde_json::json!({ "name": app.name, "client_id": app.client_id, "client_secret": secret }));
        }
    }
    let issuer = org.issuer(state.config.public_url());
    if json {
        let out = serde_json::json!({
            "org": org.slug.as_str(), "issuer": issuer,
            "users": [DEMO_ADMIN_EMAIL, DEMO_USER_EMAIL], "password": DEMO_PASSWORD,
            "apps_created": apps,
        });
        println!("{out}");
    } else {
        println!("Demo org '{}' — issuer {issuer}", org.slug);
        println!(
            "  users: {DEMO_ADMIN_EMAIL} (admin), {DEMO_USER_EMAIL}; password: {DEMO_PASSWORD}"
        );
        for app in &apps {
            println!(
                "  app {}: client_id {} client_secret {}",
                app["name"], app["client_id"], app["client_secret"]
            );
        }
        println!("  console: {}/console/", state.config.public_url());
    }
    Ok(())
}
