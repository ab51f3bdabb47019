//! The `portcullis` command line. Every command uses the same configuration as
//! `serve` and takes `--json` for machine-readable output on stdout; errors go to stderr with a
//! non-zero exit, and a refused command leaves the database as it was.

use crate::accounts::{CreateUser, Role};
use crate::app::{AppState, Application};
use crate::apps::{AcsRequest, AppType, CreateApp, GrantType, SamlRequest, SessionProfile};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::export::OrgTransfer;
use crate::keys::{KeyEncryptionKey, SigningAlg};
use crate::sessions::{MfaPolicy, SessionPolicy};
use crate::tenancy::{Org, OrgStatus};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use portcullis_api_types::{AppCreated, ErrorBody, OrgCreated, UserCreated};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Portcullis: a multi-tenant OpenID Connect identity provider"
)]
pub struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults and under
    /// PORTCULLIS__SECTION__KEY environment variables.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Machine-readable JSON output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations run first).
    Serve {
        /// Seed a demo org, users and apps, and print them.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit. With --check, apply nothing: list the pending
    /// migrations and whether each can run while nodes of the previous release still serve;
    /// exit 0 when all can, 3 when one needs those nodes drained first.
    Migrate {
        #[arg(long)]
        check: bool,
    },
    /// Manage orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage apps (OIDC clients and SAML service providers).
    #[command(subcommand)]
    App(AppCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create the org's next signing key: published in the JWKS at once, signing after the
    /// publish lead; the old key stays published until its tokens have expired.
    Rotate {
        #[arg(long)]
        org: String,
        /// ES256 or RS256; default: the algorithm of the current key.
        #[arg(long)]
        alg: Option<SigningAlg>,
        /// Seconds before the new key signs (default: keys.rotation_publish_lead_secs); 0 after
        /// a key compromise.
        #[arg(long)]
        publish_lead_secs: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org; prints {"id","slug","issuer"}.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// Algorithm of the org's token signing key: ES256 (default) or RS256.
        #[arg(long, default_value = "ES256")]
        signing_alg: SigningAlg,
    },
    /// Change an org's display name, branding (logo URL, accent colour; "" clears) or sign-up
    /// policy.
    Update(OrgUpdateArgs),
    /// Change the org's IdP session policy (unset options keep their current value); applies
    /// to every session on every node from the next request.
    SetSessionPolicy(SessionPolicyArgs),
    /// Disable an org: every endpoint of it refuses at once, on every node, and its sessions end.
    Disable { slug: String },
    /// Enable a disabled org again.
    Enable { slug: String },
    /// Write the org as a versioned JSON file (settings, policies, apps with their secrets'
    /// hashes, users with their password hashes and WebAuthn keys, templates; never sessions
    /// or tokens) to stdout or --output. The file holds every password hash of the org: keep it
    /// like a database backup.
    Export(OrgExportArgs),
    /// Create an org from an export file (FILE, or stdin without it or with "-"), checked like
    /// admin API input and written in one transaction; prints {"id","slug","issuer","counts"}.
    Import(OrgImportArgs),
}

#[derive(Debug, Args)]
pub struct OrgExportArgs {
    slug: String,
    /// Include the org's published signing keys, sealed with the target deployment's
    /// key-encryption key (--target-key-file), so tokens and SAML certificates stay valid.
    /// Without it the target makes a new key on first use.
    #[arg(long, requires = "target_key_file")]
    with_keys: bool,
    /// A file holding the target deployment's keys.encryption_key (base64 of 32 bytes).
    #[arg(long, value_name = "FILE", requires = "with_keys")]
    target_key_file: Option<PathBuf>,
    /// Write the file here (created mode 0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OrgImportArgs {
    /// The export file; stdin when absent or "-".
    file: Option<PathBuf>,
    /// Import under this slug instead of the file's (ids are kept: not into the database the
    /// org came from).
    #[arg(long)]
    slug: Option<String>,
}

#[derive(Debug, Args)]
pub struct OrgUpdateArgs {
    slug: String,
    #[arg(long)]
    name: Option<String>,
    /// An https image URL shown on the org's hosted pages.
    #[arg(long)]
    logo_url: Option<String>,
    /// Accent colour of the hosted pages, like #2f5bd3.
    #[arg(long)]
    accent_color: Option<String>,
    /// Who may sign up on the hosted pages: off, open or invite_only.
    #[arg(long)]
    signup: Option<crate::tenancy::SignupMode>,
    /// Whether users must have verified their address to sign in (true/false).
    #[arg(long)]
    require_verified_email: Option<bool>,
}

#[derive(Debug, Args)]
pub struct SessionPolicyArgs {
    slug: String,
    #[arg(long)]
    idle_timeout_secs: Option<i64>,
    #[arg(long)]
    absolute_lifetime_secs: Option<i64>,
    #[arg(long)]
    remember_me_allowed: Option<bool>,
    #[arg(long)]
    remember_me_lifetime_secs: Option<i64>,
    /// off, optional (default: users with a key use it), required, app_requested.
    #[arg(long)]
    mfa: Option<MfaPolicy>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints {"id","email"}.
    Create(UserCreateArgs),
    /// Create a user without a password and email them a link (valid 7 days) to choose one;
    /// prints {"id","email"}.
    Invite(UserInviteArgs),
    /// Disable a user: sign-in is refused and every session of the user ends.
    Disable(UserRef),
    /// Enable a disabled user again.
    Enable(UserRef),
}

#[derive(Debug, Args)]
pub struct UserRef {
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
    /// The initial password (at least 8 characters). Prefer --password-stdin on shared machines:
    /// arguments are visible to other local users.
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_enum, default_value = "member")]
    role: RoleArg,
}

#[derive(Debug, Args)]
pub struct UserInviteArgs {
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_enum, default_value = "member")]
    role: RoleArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Member,
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app; prints {"client_id","client_secret"} (the secret only this once).
    Create(Box<AppCreateArgs>),
    /// Change an app's settings (only those given; the rest stays).
    Update(AppUpdateArgs),
}

#[derive(Debug, Args)]
pub struct AppUpdateArgs {
    #[arg(long)]
    org: String,
    #[arg(long)]
    client_id: String,
    /// DPoP (RFC 9449): refuse token requests without a DPoP proof.
    #[arg(long)]
    dpop_required: Option<bool>,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8).
    #[arg(long)]
    dpop_nonce_required: Option<bool>,
}

#[derive(Debug, Args)]
pub struct AppCreateArgs {
    #[arg(long)]
    org: String,
    #[arg(long)]
    name: String,
    #[arg(long = "type", value_enum, default_value = "web")]
    app_type: AppTypeArg,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long)]
    frontchannel_logout_uri: Option<String>,
    #[arg(long, value_enum, default_value = "standard")]
    session_profile: ProfileArg,
    /// `admin` lets a service app call the admin API with client credentials.
    #[arg(long, value_enum)]
    role: Option<AppRoleArg>,
    /// A third-party app: users see a consent screen (first-party apps do not).
    #[arg(long)]
    third_party: bool,
    /// Overrides of the session profile's preset.
    #[arg(long)]
    reauth_max_age_secs: Option<i64>,
    #[arg(long)]
    mfa_required: Option<bool>,
    /// App-session idle timeout; 0 = none.
    #[arg(long)]
    idle_timeout_secs: Option<i64>,
    #[arg(long)]
    lifetime_secs: Option<i64>,
    #[arg(long)]
    outlives_idp_session: Option<bool>,
    #[arg(long)]
    access_token_ttl_secs: Option<i64>,
    #[arg(long)]
    id_token_ttl_secs: Option<i64>,
    /// How a confidential app authenticates: `client_secret` (default) or `private_key_jwt`
    /// (with --jwks-file or --jwks-uri).
    #[arg(long)]
    client_auth: Option<String>,
    /// A file holding the app's public JWK Set (private_key_jwt).
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// Where the app publishes its JWK Set (private_key_jwt); fetched by the server.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (PAR, RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// DPoP (RFC 9449): refuse token requests without a DPoP proof.
    #[arg(long)]
    dpop_required: bool,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8).
    #[arg(long)]
    dpop_nonce_required: bool,
    /// A grant the app may use (repeat for each): authorization_code, refresh_token,
    /// client_credentials, urn:ietf:params:oauth:grant-type:device_code (or device_code).
    /// Default: the app type's (code and refresh, or client credentials for a service app).
    #[arg(long = "grant", value_parser = parse_grant)]
    grants: Vec<GrantType>,
    #[command(flatten)]
    saml: SamlArgs,
}

/// The settings of a SAML app (`--type saml`): from the SP's metadata XML (`--sp-metadata`),
/// from the options, or both (the options override what the metadata declares).
#[derive(Debug, Args)]
pub struct SamlArgs {
    /// SAML: a file with the SP's metadata (its EntityDescriptor XML): entity id, HTTP-POST
    /// ACS URLs, Single Logout, signing certificate, signed requests and NameID format are
    /// read from it; the other SAML options override it.
    #[arg(long, value_name = "FILE")]
    sp_metadata: Option<PathBuf>,
    /// SAML: the SP's entity id (required with --type saml; unique in the org).
    #[arg(long)]
    sp_entity_id: Option<String>,
    /// SAML: an assertion consumer service URL (repeat for each; HTTP-POST binding, indexes 0,
    /// 1, … in the order given; the first is the default).
    #[arg(long = "acs-url")]
    acs_urls: Vec<String>,
    /// SAML: the SP's Single Logout URL.
    #[arg(long)]
    slo_url: Option<String>,
    /// SAML: how logout messages reach the SP (default redirect).
    #[arg(long, value_parser = ["soap", "redirect", "post"])]
    slo_binding: Option<String>,
    /// SAML: the NameID the SP receives (default email; persistent is opaque, stable and
    /// different for every app).
    #[arg(long, value_parser = ["email", "persistent", "transient"])]
    nameid: Option<String>,
    /// SAML: a PEM file with the SP's signing certificate (to verify its signed requests).
    #[arg(long, value_name = "FILE")]
    sp_cert: Option<PathBuf>,
    /// SAML: refuse AuthnRequests and logout messages the SP did not sign (needs --sp-cert).
    #[arg(long)]
    require_signed_requests: bool,
    /// SAML: what the IdP signs (default both).
    #[arg(long, value_parser = ["both", "response", "assertion"])]
    sign: Option<String>,
    /// SAML: an attribute released in the assertion (repeat; default email and name).
    #[arg(long = "attribute", value_parser = ["email", "name"])]
    attributes: Vec<String>,
    /// SAML: accept SHA-1 signatures from this SP (default: refused).
    #[arg(long)]
    allow_sha1: bool,
    /// SAML: users may start the app from their account page (IdP-initiated SSO to the
    /// default ACS).
    #[arg(long)]
    idp_initiated: bool,
    /// SAML: the RelayState sent with IdP-initiated Responses (at most 80 bytes).
    #[arg(long, value_name = "VALUE")]
    idp_initiated_relay_state: Option<String>,
}

impl SamlArgs {
    fn given(&self) -> bool {
        self.sp_metadata.is_some()
            || self.sp_entity_id.is_some()
            || !self.acs_urls.is_empty()
            || self.slo_url.is_some()
            || self.slo_binding.is_some()
            || self.nameid.is_some()
            || self.sp_cert.is_some()
            || self.require_signed_requests
            || self.sign.is_some()
            || !self.attributes.is_empty()
            || self.allow_sha1
            || self.idp_initiated
            || self.idp_initiated_relay_state.is_some()
    }

    /// The SAML settings asked for: for a SAML app, or when any SAML option is given (which
    /// the app service refuses for another type).
    fn request(self, app_type: AppType) -> anyhow::Result<Option<SamlRequest>> {
        if app_type != AppType::Saml && !self.given() {
            return Ok(None);
        }
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        };
        let mut out = match &self.sp_metadata {
            Some(path) => crate::saml::sp_metadata::parse(&read(path)?)
                .with_context(|| format!("cannot import the SP metadata in {}", path.display()))?
                .apply(SamlRequest::default()),
            None => SamlRequest::default(),
        };
        if let Some(path) = &self.sp_cert {
            out.sp_certificate = Some(read(path)?);
        }
        match self.sign.as_deref() {
            Some("response") => (out.sign_response, out.sign_assertion) = (Some(true), Some(false)),
            Some("assertion") => {
                (out.sign_response, out.sign_assertion) = (Some(false), Some(true))
            }
            Some(_) => (out.sign_response, out.sign_assertion) = (Some(true), Some(true)),
            None => {}
        }
        if let Some(id) = self.sp_entity_id {
            out.sp_entity_id = id;
        }
        if !self.acs_urls.is_empty() {
            out.acs_urls = self
                .acs_urls
                .into_iter()
                .map(|url| AcsRequest {
                    url,
                    binding: None,
                    index: None,
                })
                .collect();
            out.default_acs_index = None;
        }
        if self.slo_url.is_some() {
            out.slo_url = self.slo_url;
            out.slo_binding = None;
        }
        out.slo_binding = self.slo_binding.or(out.slo_binding);
        out.name_id_format = self.nameid.or(out.name_id_format);
        if !self.attributes.is_empty() {
            out.attributes = Some(self.attributes);
        }
        out.require_signed_requests |= self.require_signed_requests;
        out.allow_sha1 |= self.allow_sha1;
        out.idp_initiated = self.idp_initiated || out.idp_initiated;
        out.idp_initiated_relay_state = self
            .idp_initiated_relay_state
            .or(out.idp_initiated_relay_state);
        Ok(Some(out))
    }
}

fn parse_grant(raw: &str) -> Result<GrantType, String> {
    raw.parse()
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AppTypeArg {
    Web,
    Spa,
    Native,
    Service,
    /// A SAML 2.0 service provider (with --sp-entity-id and --acs-url).
    Saml,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    Standard,
    Privileged,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AppRoleArg {
    Admin,
}

/// Parses the command line, runs it and turns any error into stderr output and exit code 1.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(code) => code,
        Err(err) => {
            if json {
                let body = ErrorBody {
                    error: "command_failed".into(),
                    message: format!("{err:#}"),
                };
                eprintln!("{}", serde_json::to_string(&body).unwrap_or_default());
            } else {
                eprintln!("error: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}

/// Exit code of `migrate --check` when a pending migration needs a drain.
const EXIT_NEEDS_DRAIN: u8 = 3;

async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let serving = matches!(cli.command, Command::Serve { .. });
    // Traces are exported by a serving node only.
    let otlp = if serving {
        let policy = crate::outbound::OutboundPolicy::new(&config.outbound.allow_private);
        crate::telemetry::otlp_layer(&config.telemetry, &policy)?
    } else {
        None
    };
    let (layer, traces) = otlp.unzip();
    crate::telemetry::init(&config.log, !serving, layer);
    let json = cli.json;
    // The one command that must not migrate first.
    if let Command::Migrate { check: true } = cli.command {
        return migrate_check(&config, json).await;
    }
    let done = execute_command(config, cli.command, json).await;
    if let Some(traces) = traces {
        // Blocks while the last batch is sent: off the runtime's worker.
        tokio::task::spawn_blocking(move || traces.shutdown()).await?;
    }
    done?;
    Ok(ExitCode::SUCCESS)
}

/// A pending migration as `migrate --check` reports it.
#[derive(Debug, Serialize)]
struct PendingMigration {
    name: String,
    safety: &'static str,
    reason: &'static str,
}

/// `migrate --check`: the pending migrations and their class, read without migrating.
async fn migrate_check(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let store = crate::store::Store::connect(&config.database).await?;
    let names = store.pending_migrations().await;
    store.close().await?;
    let mut pending = Vec::new();
    for name in names? {
        let (safety, reason) = portcullis_migrations::safety_of(&name)
            .with_context(|| format!("migration {name} is not classified"))?;
        pending.push(PendingMigration {
            name,
            safety: safety.as_str(),
            reason,
        });
    }
    let rolling = pending.iter().all(|m| m.safety == "rolling");
    let verdict = match (pending.is_empty(), rolling) {
        (true, _) => "up_to_date",
        (false, true) => "rolling",
        (false, false) => "drain",
    };
    print(
        json,
        &serde_json::json!({ "verdict": verdict, "pending": pending }),
        || {
            let mut out: Vec<String> = pending
                .iter()
                .map(|m| format!("{:<8} {}  ({})", m.safety, m.name, m.reason))
                .collect();
            out.push(match verdict {
                "up_to_date" => "database is up to date: nothing pending".into(),
                "rolling" => format!(
                    "{} pending, all rolling-safe: run `portcullis migrate`, then replace the \
                     nodes one by one",
                    pending.len()
                ),
                _ => format!(
                    "{} pending, at least one needs a drain: stop every node of the previous \
                     release before `portcullis migrate`",
                    pending.len()
                ),
            });
            out.join("\n")
        },
    )?;
    Ok(if rolling {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NEEDS_DRAIN)
    })
}

async fn execute_command(config: Config, command: Command, json: bool) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Serve { demo } => serve(config, clock, demo, json).await,
        Command::Migrate { .. } => {
            AppState::init(config, clock).await?;
            print(json, &serde_json::json!({ "status": "migrated" }), || {
                "database is up to date".into()
            })
        }
        Command::Org(cmd) => org_command(&AppState::init(config, clock).await?, cmd, json).await,
        Command::User(cmd) => user_command(&AppState::init(config, clock).await?, cmd, json).await,
        Command::Key(KeyCommand::Rotate {
            org,
            alg,
            publish_lead_secs,
        }) => {
            let state = AppState::init(config, clock).await?;
            rotate_key(&state, &org, alg, publish_lead_secs, json).await
        }
        Command::App(AppCommand::Create(args)) => {
            create_app(&AppState::init(config, clock).await?, *args, json).await
        }
        Command::App(AppCommand::Update(args)) => {
            update_app(&AppState::init(config, clock).await?, args, json).await
        }
    }
}

/// `serve`: the server until it is stopped (with `--demo`, seeded first).
async fn serve(config: Config, clock: SharedClock, demo: bool, json: bool) -> anyhow::Result<()> {
    let mut config = config;
    if demo {
        crate::demo::allow_loopback_receivers(&mut config);
    }
    let app = Application::build(config, clock).await?;
    if demo {
        crate::demo::seed(app.state(), json).await?;
    }
    app.spawn_jobs();
    tracing::info!(port = app.port(), "portcullis listening");
    if let Some(port) = app.metrics_port() {
        tracing::info!(port, "metrics listening (GET /metrics)");
    }
    app.run_until_stopped().await?;
    tracing::info!("portcullis stopped");
    Ok(())
}

async fn user_command(state: &AppState, cmd: UserCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create(args) => create_user(state, args, json).await,
        UserCommand::Invite(args) => invite_user(state, args, json).await,
        UserCommand::Disable(who) => set_user_active(state, who, false, json).await,
        UserCommand::Enable(who) => set_user_active(state, who, true, json).await,
    }
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Member => Role::Member,
            RoleArg::Admin => Role::Admin,
        }
    }
}

fn user_created(user: &crate::accounts::User) -> UserCreated {
    UserCreated {
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
    }
}

/// `user create`: a user with the password given (or read from stdin).
async fn create_user(state: &AppState, args: UserCreateArgs, json: bool) -> anyhow::Result<()> {
    let org = state.orgs.find(&args.org).await?;
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        args.password
    };
    let req = CreateUser {
        email: &args.email,
        password: password.as_deref(),
        name: args.name.as_deref(),
        role: args.role.into(),
    };
    let user = state.accounts.create_user(&org, req, "cli").await?;
    let out = user_created(&user);
    print(json, &out, || {
        format!(
            "created user {} ({}) in org {}",
            out.email, out.id, org.slug
        )
    })
}

/// `user invite`: a user without a password, sent a link to choose one.
async fn invite_user(state: &AppState, args: UserInviteArgs, json: bool) -> anyhow::Result<()> {
    let org = state.orgs.find(&args.org).await?;
    let req = CreateUser {
        email: &args.email,
        password: None,
        name: args.name.as_deref(),
        role: args.role.into(),
    };
    // The org's invitation quota first: refused, no user is made.
    let slot = state.accounts.reserve_invitation(&org).await?;
    let user = state.accounts.create_user(&org, req, "cli").await?;
    state.accounts.invite_with(&org, &user, "cli", slot).await?;
    let out = user_created(&user);
    print(json, &out, || {
        format!(
            "invited {} ({}) to org {}: the link goes out through the email outbox",
            out.email, out.id, org.slug
        )
    })
}

/// `key rotate`: the org's next signing key, published now and signing after the lead.
async fn rotate_key(
    state: &AppState,
    org: &str,
    alg: Option<SigningAlg>,
    publish_lead_secs: Option<i64>,
    json: bool,
) -> anyhow::Result<()> {
    let org = state.orgs.find(org).await?;
    let lead = publish_lead_secs.unwrap_or(state.config.keys.rotation_publish_lead_secs);
    if !(0..=crate::keys::MAX_PUBLISH_LEAD_SECS).contains(&lead) {
        anyhow::bail!(
            "--publish-lead-secs must be 0 to {}",
            crate::keys::MAX_PUBLISH_LEAD_SECS
        );
    }
    let info = state
        .keys
        .rotate(&org, alg, chrono::Duration::seconds(lead))
        .await?;
    print(json, &info, || {
        format!(
            "new {} key {} for org {}: published now, signs from {}",
            info.alg, info.kid, org.slug, info.activates_at
        )
    })
}

impl From<AppTypeArg> for AppType {
    fn from(app_type: AppTypeArg) -> Self {
        match app_type {
            AppTypeArg::Web => AppType::Web,
            AppTypeArg::Spa => AppType::Spa,
            AppTypeArg::Native => AppType::Native,
            AppTypeArg::Service => AppType::Service,
            AppTypeArg::Saml => AppType::Saml,
        }
    }
}

impl From<ProfileArg> for SessionProfile {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Standard => SessionProfile::Standard,
            ProfileArg::Privileged => SessionProfile::Privileged,
        }
    }
}

impl AppCreateArgs {
    /// The session profile's preset with the overrides given.
    fn session_rules(&self) -> crate::apps::SessionRules {
        let mut rules = SessionProfile::from(self.session_profile).preset();
        if let Some(v) = self.reauth_max_age_secs {
            rules.reauth_max_age_secs = Some(v);
        }
        if let Some(v) = self.mfa_required {
            rules.mfa_required = v;
        }
        if let Some(v) = self.idle_timeout_secs {
            rules.idle_timeout_secs = (v > 0).then_some(v);
        }
        if let Some(v) = self.lifetime_secs {
            rules.lifetime_secs = v;
        }
        if let Some(v) = self.outlives_idp_session {
            rules.outlives_idp_session = v;
        }
        rules
    }
}

/// `app create`: registers the app and shows its secret, this once.
async fn create_app(state: &AppState, args: AppCreateArgs, json: bool) -> anyhow::Result<()> {
    let org = state.orgs.find(&args.org).await?;
    let rules = args.session_rules();
    let client_auth = match args.client_auth.as_deref() {
        Some(m) => m.parse().map_err(anyhow::Error::msg)?,
        None => crate::apps::ClientAuthMethod::ClientSecret,
    };
    let jwks = match &args.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(serde_json::from_str(&text).context("the JWK Set file is not JSON")?)
        }
        None => None,
    };
    let app_type: AppType = args.app_type.into();
    let saml = args.saml.request(app_type)?;
    let req = CreateApp {
        saml,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        backchannel_logout_uri: args.backchannel_logout_uri,
        frontchannel_logout_uri: args.frontchannel_logout_uri,
        session_profile: args.session_profile.into(),
        admin: args.role.is_some(),
        rules: Some(rules),
        first_party: !args.third_party,
        access_token_ttl_secs: args.access_token_ttl_secs,
        id_token_ttl_secs: args.id_token_ttl_secs,
        client_auth,
        jwks,
        jwks_uri: args.jwks_uri,
        require_par: args.require_par,
        dpop: crate::apps::DpopRules {
            required: args.dpop_required,
            nonce_required: args.dpop_nonce_required,
        },
        grant_types: (!args.grants.is_empty()).then_some(args.grants),
        ..CreateApp::new(&args.name, app_type)
    };
    let (app, secret) = state.apps.create(&org, req, "cli").await?;
    let out = AppCreated {
        client_id: app.client_id.clone(),
        client_secret: secret,
    };
    print(json, &out, || match &out.client_secret {
        Some(s) => format!(
            "created app {} in org {}\nclient_id:     {}\nclient_secret: {s}\n(the secret is shown only now; store it safely)",
            app.name, org.slug, out.client_id
        ),
        None => match &app.saml {
            Some(saml) => format!(
                "created SAML app {} in org {}\nclient_id:    {}\nSP entity id: {}",
                app.name,
                org.slug,
                out.client_id,
                saml.sp_entity_id.as_str()
            ),
            None => format!(
                "created public app {} in org {}\nclient_id: {}",
                app.name, org.slug, out.client_id
            ),
        },
    })
}

/// `app update`: the app's registration as it stands, with the settings given changed.
async fn update_app(state: &AppState, args: AppUpdateArgs, json: bool) -> anyhow::Result<()> {
    let org = state.orgs.find(&args.org).await?;
    let app = state
        .store
        .app_by_client_id(org.id, &args.client_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no app {} in org {}", args.client_id, org.slug))?;
    let mut req = CreateApp::from_app(&app);
    if let Some(v) = args.dpop_required {
        req.dpop.required = v;
    }
    if let Some(v) = args.dpop_nonce_required {
        req.dpop.nonce_required = v;
    }
    let app = state.apps.update(&org, &app, req, "cli").await?;
    let out = serde_json::json!({
        "client_id": app.client_id,
        "dpop_required": app.settings.dpop.required,
        "dpop_nonce_required": app.settings.dpop.nonce_required,
    });
    print(json, &out, || format!("app {} updated", app.client_id))
}

fn org_created(state: &AppState, org: &Org) -> OrgCreated {
    OrgCreated {
        id: org.id.to_string(),
        slug: org.slug.to_string(),
        issuer: org.issuer(state.config.public_url()),
    }
}

async fn org_command(state: &AppState, cmd: OrgCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Create {
            slug,
            name,
            signing_alg,
        } => create_org(state, &slug, name.as_deref(), signing_alg, json).await,
        OrgCommand::Update(args) => update_org(state, args, json).await,
        OrgCommand::SetSessionPolicy(args) => set_session_policy(state, args, json).await,
        OrgCommand::Disable { slug } => set_status(state, &slug, OrgStatus::Disabled, json).await,
        OrgCommand::Enable { slug } => set_status(state, &slug, OrgStatus::Active, json).await,
        OrgCommand::Export(args) => export_org(state, args, json).await,
        OrgCommand::Import(args) => import_org(state, args, json).await,
    }
}

/// What org export and import need of this deployment; the key-encryption key is the one the
/// node uses (its file exists once `AppState::init` ran).
fn transfer_with<'a>(state: &'a AppState, kek: &'a KeyEncryptionKey) -> OrgTransfer<'a> {
    OrgTransfer {
        store: &state.store,
        apps: &state.apps,
        clock: &state.clock,
        kek,
        public_url: state.config.public_url(),
    }
}

/// `org export`: the file on stdout (or in --output, with a summary on stdout).
async fn export_org(state: &AppState, args: OrgExportArgs, json: bool) -> anyhow::Result<()> {
    let kek = KeyEncryptionKey::from_config(&state.config.keys)?;
    let target = match &args.target_key_file {
        Some(path) => {
            let raw = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(KeyEncryptionKey::from_base64(&raw).context("--target-key-file")?)
        }
        None => None,
    };
    let file = transfer_with(state, &kek)
        .export(&args.slug, target.as_ref(), "cli")
        .await?;
    let text = serde_json::to_string_pretty(&file)?;
    let Some(path) = &args.output else {
        println!("{text}");
        return Ok(());
    };
    write_private(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    let out = serde_json::json!({ "slug": file.org.slug, "file": path, "counts": file.counts() });
    print(json, &out, || {
        format!(
            "exported org {} to {} ({} users, {} apps{})",
            file.org.slug,
            path.display(),
            file.users.len(),
            file.apps.len(),
            if args.with_keys { ", signing keys" } else { "" }
        )
    })
}

/// A new file readable by its owner only (it holds password hashes).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

/// `org import`: checks the whole file, then writes it in one transaction.
async fn import_org(state: &AppState, args: OrgImportArgs, json: bool) -> anyhow::Result<()> {
    let text = match args.file.as_deref() {
        Some(path) if path != std::path::Path::new("-") => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        _ => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("cannot read the export from stdin")?;
            text
        }
    };
    let file = OrgTransfer::parse(&text)?;
    let counts = file.counts();
    let kek = KeyEncryptionKey::from_config(&state.config.keys)?;
    let org = transfer_with(state, &kek)
        .import(file, args.slug.as_deref(), "cli")
        .await?;
    let out = serde_json::json!({
        "id": org.id.to_string(),
        "slug": org.slug.as_str(),
        "issuer": org.issuer(state.config.public_url()),
        "counts": counts,
    });
    print(json, &out, || {
        format!(
            "imported org {} ({}): {} users, {} apps, {} signing keys\nissuer: {}",
            org.slug,
            org.id,
            counts.users,
            counts.apps,
            counts.signing_keys,
            org.issuer(state.config.public_url())
        )
    })
}

/// `org create`: the org and its first signing key, signing at once.
async fn create_org(
    state: &AppState,
    slug: &str,
    name: Option<&str>,
    signing_alg: SigningAlg,
    json: bool,
) -> anyhow::Result<()> {
    let org = state.orgs.create(slug, name, "cli").await?;
    state
        .keys
        .rotate(&org, Some(signing_alg), chrono::Duration::zero())
        .await?;
    let out = org_created(state, &org);
    print(json, &out, || {
        format!(
            "created org {} ({})\nissuer: {}",
            out.slug, out.id, out.issuer
        )
    })
}

/// `org update`: name and branding, then the sign-up policy when an option of it is given.
async fn update_org(state: &AppState, args: OrgUpdateArgs, json: bool) -> anyhow::Result<()> {
    let mut org = state
        .orgs
        .update(
            &args.slug,
            args.name.as_deref(),
            args.logo_url.as_deref(),
            args.accent_color.as_deref(),
            "cli",
        )
        .await?;
    if args.signup.is_some() || args.require_verified_email.is_some() {
        let policy = crate::tenancy::SignupPolicy {
            mode: args.signup.unwrap_or(org.signup.mode),
            require_verified_email: args
                .require_verified_email
                .unwrap_or(org.signup.require_verified_email),
        };
        org = state.orgs.set_signup(&org, policy, "cli").await?;
    }
    let out = serde_json::json!({
        "slug": org.slug.as_str(), "name": org.name,
        "logo_url": org.branding.logo_url, "accent_color": org.branding.accent_color,
        "signup": org.signup.mode.as_str(),
        "require_verified_email": org.signup.require_verified_email,
    });
    print(json, &out, || format!("org {} updated", org.slug))
}

impl SessionPolicyArgs {
    /// `current` with the options given.
    fn applied_to(&self, current: SessionPolicy) -> SessionPolicy {
        SessionPolicy {
            idle_timeout_secs: self.idle_timeout_secs.unwrap_or(current.idle_timeout_secs),
            absolute_lifetime_secs: self
                .absolute_lifetime_secs
                .unwrap_or(current.absolute_lifetime_secs),
            remember_me_allowed: self
                .remember_me_allowed
                .unwrap_or(current.remember_me_allowed),
            remember_me_lifetime_secs: self
                .remember_me_lifetime_secs
                .unwrap_or(current.remember_me_lifetime_secs),
            mfa: self.mfa.unwrap_or(current.mfa),
        }
    }
}

/// `org set-session-policy`: the options given, over the current policy.
async fn set_session_policy(
    state: &AppState,
    args: SessionPolicyArgs,
    json: bool,
) -> anyhow::Result<()> {
    let org = state.orgs.find(&args.slug).await?;
    let current = state.sessions.policy(org.id).await?;
    let wanted = args.applied_to(current);
    let policy = state.sessions.set_policy(org.id, wanted, "cli").await?;
    print(json, &policy, || {
        format!(
            "session policy of {}: idle {} s, absolute {} s, remember-me {} ({} s)",
            org.slug,
            policy.idle_timeout_secs,
            policy.absolute_lifetime_secs,
            if policy.remember_me_allowed {
                "allowed"
            } else {
                "not allowed"
            },
            policy.remember_me_lifetime_secs
        )
    })
}
async fn set_status(
    state: &AppState,
    slug: &str,
    status: OrgStatus,
    json: bool,
) -> anyhow::Result<()> {
    let org = state.orgs.set_status(slug, status, "cli").await?;
    let out = serde_json::json!({ "slug": org.slug.as_str(), "status": org.status.as_str() });
    print(json, &out, || {
        format!("org {} is now {}", org.slug, org.status.as_str())
    })
}

async fn set_user_active(
    state: &AppState,
    who: UserRef,
    active: bool,
    json: bool,
) -> anyhow::Result<()> {
    let org = state.orgs.find(&who.org).await?;
    let user = state
        .accounts
        .set_active(&org, &who.email, active, "cli")
        .await?;
    let status = if active { "active" } else { "disabled" };
    let out = serde_json::json!({ "id": user.id.to_string(), "email": user.email.as_str(), "status": status });
    print(json, &out, || {
        format!("user {} is now {status}", user.email.as_str())
    })
}
