//! `serve --demo`: seeds an org with users and the demo apps, and prints how to use them.
//! Idempotent: on later starts it finds what exists and prints it again (secrets excepted,
//! they are shown only when created).

use crate::accounts::{AccountError, Role};
use crate::apps::{AppType, CreateApp, SessionProfile};
use crate::config::Config;
use crate::state::AppState;
use crate::tenancy::{Org, TenancyError};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

pub const DEMO_ORG: &str = "demo";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.example";
pub const DEMO_USER_EMAIL: &str = "alice@demo.example";
/// Demo passwords are public by design: the demo is for a laptop, never for production.
pub const DEMO_PASSWORD: &str = "portcullis-demo";
/// `DEMO_PASSWORD` hashed once (argon2id, m = 19 MiB, t = 2, p = 1; a test checks it), so a demo
/// start hashes nothing: an argon2 buffer would stay resident in a glibc arena, 19 MiB of a ~24 MB
/// idle server.
const DEMO_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$SRZ80R9VZYZTkDuFMkzB3A$D1wBEtnuh3rJP91eNI816GdeQqcyfkV2yZj0JE/wCbk";
/// The demo shop's apps: name, client id, secret (public: demo only), profile, port.
pub const DEMO_SHOP_APPS: [(&str, &str, &str, SessionProfile, u16); 2] = [
    (
        "Demo Shop Catalog",
        "demo-catalog",
        "demo-catalog-secret",
        SessionProfile::Standard,
        9001,
    ),
    (
        "Demo Shop Checkout",
        "demo-checkout",
        "demo-checkout-secret",
        SessionProfile::Privileged,
        9002,
    ),
];

/// The demo shop's back-channel logout receivers listen on 127.0.0.1, which outbound calls
/// refuse by default: `serve --demo` allows that one address explicitly (and says so), unless
/// the configuration already allows it.
pub fn allow_loopback_receivers(config: &mut Config) {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let allowed = &mut config.outbound.allow_private;
    if !allowed.iter().any(|net| net.contains(&loopback)) {
        allowed.push(IpNet::from(loopback));
        tracing::info!(
            "serve --demo: outbound.allow_private += 127.0.0.1/32 (the demo shop's back-channel logout receivers)"
        );
    }
}

/// Seeds what is missing of the demo (org, users, apps) and prints how to use it.
pub async fn seed(state: &AppState, json: bool) -> anyhow::Result<()> {
    let org = demo_org(state).await?;
    demo_users(state, &org).await?;
    let apps = demo_shop_apps(state, &org).await?;
    let issuer = org.issuer(state.config.public_url());
    if json {
        let out = serde_json::json!({
            "org": org.slug.as_str(), "issuer": issuer,
            "users": [DEMO_ADMIN_EMAIL, DEMO_USER_EMAIL], "password": DEMO_PASSWORD,
            "apps_created": apps,
        });
        println!("{out}");
    } else {
        print_demo(state, &org, &issuer, &apps);
    }
    Ok(())
}

/// The demo org, made on the first start. It lets visitors try sign-up (with the dev mailbox
/// for the link).
async fn demo_org(state: &AppState) -> anyhow::Result<Org> {
    match state.orgs.create(DEMO_ORG, Some("Demo Org"), "demo").await {
        Ok(org) => {
            let open = crate::tenancy::SignupPolicy {
                mode: crate::tenancy::SignupMode::Open,
                require_verified_email: true,
            };
            Ok(state.orgs.set_signup(&org, open, "demo").await?)
        }
        Err(TenancyError::SlugTaken(_)) => Ok(state.orgs.find(DEMO_ORG).await?),
        Err(e) => Err(e.into()),
    }
}

/// The demo admin and user, unless they exist.
async fn demo_users(state: &AppState, org: &Org) -> anyhow::Result<()> {
    for (email, role) in [
        (DEMO_ADMIN_EMAIL, Role::Admin),
        (DEMO_USER_EMAIL, Role::Member),
    ] {
        match state
            .accounts
            .create_user_with_hash(org, email, DEMO_PASSWORD_HASH, role, "demo")
            .await
        {
            Ok(_) | Err(AccountError::EmailTaken(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The demo shop's two apps (examples/demo-shop), unless they exist: with fixed, public
/// credentials so the shop can start without being told them. Returns those created now.
async fn demo_shop_apps(state: &AppState, org: &Org) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut apps = Vec::new();
    for (name, client_id, secret, profile, port) in DEMO_SHOP_APPS {
        if state
            .store
            .app_by_client_id(org.id, client_id)
            .await?
            .is_some()
        {
            continue;
        }
        let req = CreateApp {
            redirect_uris: vec![format!("http://127.0.0.1:{port}/callback")],
            post_logout_redirect_uris: vec![format!("http://127.0.0.1:{port}/")],
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel-logout")),
            session_profile: profile,
            ..CreateApp::new(name, AppType::Web)
        };
        let (app, secret) = state
            .apps
            .create_with_credentials(org, req, client_id, secret, "demo")
            .await?;
        apps.push(serde_json::json!({ "name": app.name, "client_id": app.client_id, "client_secret": secret }));
    }
    Ok(apps)
}

/// The demo, for a human: org, users, apps created now, where the shop, console and mail are.
fn print_demo(state: &AppState, org: &Org, issuer: &str, apps: &[serde_json::Value]) {
    println!("Demo org '{}' — issuer {issuer}", org.slug);
    println!("  users: {DEMO_ADMIN_EMAIL} (admin), {DEMO_USER_EMAIL}; password: {DEMO_PASSWORD}");
    for app in apps {
        println!(
            "  app {}: client_id {} client_secret {}",
            app["name"], app["client_id"], app["client_secret"]
        );
    }
    println!(
        "  demo shop (run it with `cargo run -p portcullis-demo-shop`): catalog http://127.0.0.1:9001/, checkout http://127.0.0.1:9002/"
    );
    println!("  console: {}/console/", state.config.public_url());
    if let Some(dir) = state.email.mailbox_dir() {
        println!(
            "  mail (password reset links): written to {} as .eml files",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Password, PasswordHasher};

    #[tokio::test]
    async fn the_demo_hash_is_the_demo_password_at_todays_parameters() {
        assert!(!PasswordHasher::needs_rehash(DEMO_PASSWORD_HASH));
        let hasher = PasswordHasher::new(1);
        let right = Password::parse(DEMO_PASSWORD).unwrap();
        let wrong = Password::parse("portcullis-demO").unwrap();
        assert!(hasher.verify(&right, DEMO_PASSWORD_HASH).await.unwrap());
        assert!(!hasher.verify(&wrong, DEMO_PASSWORD_HASH).await.unwrap());
    }
}
