//! `serve --demo`: seeds an org with users and the demo apps, and prints how to use them.
//! Idempotent: on later starts it finds what exists and prints it again, the demo apps' fixed
//! (public) client secrets included.

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

/// Set (by `cargo xtask dev`) when the demo shop was started next to the server, so the banner
/// says where it runs instead of how to start it.
pub const SHOP_STARTED_ENV: &str = "PORTCULLIS_DEMO_SHOP_STARTED";

/// A demo shop app as the banner shows it: credentials (fixed and public) and where it runs.
struct ShopApp {
    name: &'static str,
    client_id: &'static str,
    secret: &'static str,
    url: String,
    /// The app exists but does not list this port's callback (it was registered for another).
    stale_redirect: bool,
}

/// The port of a demo shop app: the shop's own environment variable (`DEMO_SHOP_CATALOG_PORT`,
/// `DEMO_SHOP_CHECKOUT_PORT`) when set, so moving the shop moves its registered redirect URIs.
fn shop_port(client_id: &str, default: u16) -> u16 {
    let var = match client_id {
        "demo-catalog" => "DEMO_SHOP_CATALOG_PORT",
        _ => "DEMO_SHOP_CHECKOUT_PORT",
    };
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeds what is missing of the demo (org, users, apps) and prints how to use it.
pub async fn seed(state: &AppState, json: bool) -> anyhow::Result<()> {
    let shop_started = std::env::var_os(SHOP_STARTED_ENV).is_some_and(|v| !v.is_empty());
    println!("{}", banner(state, json, shop_started).await?);
    Ok(())
}

/// Seeds what is missing of the demo and says how to use it: the text `serve --demo` prints, or
/// its JSON with `--json`. The demo apps' credentials are in it on every start.
pub async fn banner(state: &AppState, json: bool, shop_started: bool) -> anyhow::Result<String> {
    let org = demo_org(state).await?;
    demo_users(state, &org).await?;
    let apps = demo_shop_apps(state, &org).await?;
    let issuer = org.issuer(state.config.public_url());
    if !json {
        let apps: Vec<ShopApp> = apps.into_iter().map(|(a, _)| a).collect();
        return Ok(demo_text(state, &org, &issuer, &apps, shop_started));
    }
    let app_json = |a: &ShopApp| {
        serde_json::json!({
            "name": a.name, "client_id": a.client_id, "client_secret": a.secret, "url": a.url,
        })
    };
    let created = apps
        .iter()
        .filter(|(_, new)| *new)
        .map(|(a, _)| app_json(a));
    let out = serde_json::json!({
        "org": org.slug.as_str(), "issuer": issuer,
        "users": [DEMO_ADMIN_EMAIL, DEMO_USER_EMAIL], "password": DEMO_PASSWORD,
        "apps": apps.iter().map(|(a, _)| app_json(a)).collect::<Vec<_>>(),
        "apps_created": created.collect::<Vec<_>>(),
    });
    Ok(out.to_string())
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

/// The demo shop's two apps (examples/demo-shop), created unless they exist: with fixed, public
/// credentials so the shop can start without being told them, and shown on every start. Each
/// comes with whether it was created now.
async fn demo_shop_apps(state: &AppState, org: &Org) -> anyhow::Result<Vec<(ShopApp, bool)>> {
    let mut apps = Vec::new();
    for (name, client_id, secret, profile, default_port) in DEMO_SHOP_APPS {
        let port = shop_port(client_id, default_port);
        let callback = format!("http://127.0.0.1:{port}/callback");
        let mut shown = ShopApp {
            name,
            client_id,
            secret,
            url: format!("http://127.0.0.1:{port}/"),
            stale_redirect: false,
        };
        if let Some(app) = state.store.app_by_client_id(org.id, client_id).await? {
            shown.stale_redirect = !app.redirect_uris.iter().any(|u| u.as_str() == callback);
            apps.push((shown, false));
            continue;
        }
        let req = CreateApp {
            redirect_uris: vec![callback],
            post_logout_redirect_uris: vec![shown.url.clone()],
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel-logout")),
            session_profile: profile,
            ..CreateApp::new(name, AppType::Web)
        };
        state
            .apps
            .create_with_credentials(org, req, client_id, secret, "demo")
            .await?;
        apps.push((shown, true));
    }
    Ok(apps)
}

/// The demo, for a human: org, users, the shop's apps with their (public) credentials, where the
/// shop, console and mail are.
fn demo_text(
    state: &AppState,
    org: &Org,
    issuer: &str,
    apps: &[ShopApp],
    shop_started: bool,
) -> String {
    let mut out = format!("Demo org '{}' — issuer {issuer}\n", org.slug);
    out += &format!(
        "  users: {DEMO_ADMIN_EMAIL} (admin), {DEMO_USER_EMAIL}; password: {DEMO_PASSWORD}\n"
    );
    out += &format!("  console: {}/console/\n", state.config.public_url());
    out += &format!("  org pages: {issuer}/ (sign in, sign up, account: {issuer}/account)\n");
    out += if shop_started {
        "  demo shop (started by `cargo xtask dev`, it stops with the server):\n"
    } else {
        "  demo shop (start it with `cargo run -p portcullis-demo-shop`):\n"
    };
    for a in apps {
        out += &format!(
            "    {} {} — client_id {} client_secret {}\n",
            a.name, a.url, a.client_id, a.secret
        );
        if a.stale_redirect {
            out += "      warning: this app was registered for another port; edit its redirect URIs in the console (or delete ./data for a fresh demo)\n";
        }
    }
    if let Some(dir) = state.email.mailbox_dir() {
        out += &format!(
            "  mail (sign-up and password reset links): written to {} as .eml, with a readable .txt beside each\n",
            dir.display()
        );
    }
    out.trim_end().to_owned()
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
