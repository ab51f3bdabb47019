//! Exporting an org to a file and importing one. An import trusts the file no more than an
//! admin's API call: every value passes the validating constructors the API and CLI use
//! (`OrgSlug`, `EmailAddress`, `DisplayName`, `AppService`'s registration checks with this
//! deployment's URI and outbound rules, SAML settings, session policy, email templates), plus
//! checks of what no API accepts (argon2id PHC strings of bounded cost, SHA-256 hashes, the
//! webauthn-rs credential records, signing keys that open with this deployment's key), before
//! one transaction writes it all.

use super::model::{
    AppRecord, ConsentRecord, CredentialRecord, FORMAT, ImportPlan, OrgExport, OrgRecord,
    TemplateRecord, UserRecord, VERSION,
};
use crate::accounts::{DisplayName, EmailAddress};
use crate::apps::{AppService, CONSOLE_CLIENT_ID, CreateApp, NewApp, SamlRequest};
use crate::audit::AuditEvent;
use crate::clock::SharedClock;
use crate::email::{Template, templates};
use crate::keys::{KeyEncryptionKey, KeyError};
use crate::store::{Store, StoreError};
use crate::tenancy::{
    AccentColour, Branding, Org, OrgId, OrgSlug, OrgStatus, SignupMode, SignupPolicy,
};
use std::collections::HashSet;
use uuid::Uuid;

/// Why an export or import did not happen (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("no org {0}")]
    UnknownOrg(String),
    #[error("not a Portcullis org export: {0}")]
    NotAnExport(String),
    #[error("export version {0} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion(String),
    #[error("an org {0} exists already here (import it under another slug with --slug)")]
    SlugTaken(String),
    #[error(
        "the org, or one of its apps, users or keys, exists already in this database (ids are kept, so an org cannot be imported twice into one database)"
    )]
    IdsTaken,
    /// A value of the file that the checks refuse; `what` names where it is.
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(what: impl Into<String>, why: impl std::fmt::Display) -> TransferError {
    TransferError::Invalid {
        what: what.into(),
        why: why.to_string(),
    }
}

/// What an export and an import need of the deployment.
pub struct OrgTransfer<'a> {
    pub store: &'a Store,
    pub apps: &'a AppService,
    pub clock: &'a SharedClock,
    /// This deployment's key-encryption key (`keys.encryption_key`).
    pub kek: &'a KeyEncryptionKey,
    pub public_url: &'a str,
}

impl OrgTransfer<'_> {
    /// The org of `slug` as an export file. With `target`, its published signing keys too,
    /// opened here and sealed with the target's key-encryption key; without, none (the
    /// target makes a key on first use). Records an `org.exported` audit event: the file
    /// holds every password hash of the org.
    pub async fn export(
        &self,
        slug: &str,
        target: Option<&KeyEncryptionKey>,
        actor: &str,
    ) -> Result<OrgExport, TransferError> {
        let unknown = || TransferError::UnknownOrg(slug.to_owned());
        let parsed = OrgSlug::parse(slug).map_err(|_| unknown())?;
        let org = self.store.org_by_slug(&parsed).await?.ok_or_else(unknown)?;
        let now = self.clock.now();
        let rows = self
            .store
            .export_rows(org.id, now)
            .await?
            .ok_or_else(unknown)?;
        let signing_keys = match target {
            Some(target) => Some(
                rows.signing_keys
                    .iter()
                    .map(|k| self.kek.reseal_for(target, org.id, k))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let file = OrgExport {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at: now,
            source_issuer: org.issuer(self.public_url),
            org: rows.org,
            session_policy: rows.session_policy,
            apps: rows.apps,
            users: rows.users,
            consents: rows.consents,
            email_templates: rows.email_templates,
            signing_keys,
        };
        let event = AuditEvent {
            org_id: org.id,
            actor: actor.to_owned(),
            action: "org.exported",
            target: Some(org.id.to_string()),
            details: serde_json::json!({
                "with_keys": target.is_some(),
                "counts": file.counts(),
            }),
        };
        self.store.record_audit(&event, now).await?;
        Ok(file)
    }

    /// Reads an export file: its `format` and `version` first (an unknown version is refused
    /// as such, not as a malformed file), then the whole of it, unknown members refused.
    pub fn parse(text: &str) -> Result<OrgExport, TransferError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| TransferError::NotAnExport(e.to_string()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(TransferError::NotAnExport(format!(
                "\"format\" must be \"{FORMAT}\""
            )));
        }
        match value.get("version") {
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(v) => return Err(TransferError::UnsupportedVersion(v.to_string())),
            None => return Err(TransferError::UnsupportedVersion("(none)".into())),
        }
        serde_json::from_str(text).map_err(|e| invalid("file", shape_error(&e)))
    }

    /// Checks `file` and writes it in one transaction, under `slug` when given (the file's
    /// otherwise). Refuses an existing slug, ids already here, and any value that fails the
    /// checks; then nothing is written.
    pub async fn import(
        &self,
        file: OrgExport,
        slug: Option<&str>,
        actor: &str,
    ) -> Result<Org, TransferError> {
        let plan = self.plan(file, slug)?;
        if self.store.org_by_slug(&plan.org.slug).await?.is_some() {
            return Err(TransferError::SlugTaken(plan.org.slug.to_string()));
        }
        match self.store.import_org(&plan, actor, self.clock.now()).await {
            Ok(()) => Ok(plan.org),
            Err(StoreError::Conflict) => match self.store.org_by_slug(&plan.org.slug).await? {
                Some(_) => Err(TransferError::SlugTaken(plan.org.slug.to_string())),
                None => Err(TransferError::IdsTaken),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Every check of an import, in the file's order; the first refusal names its place.
    fn plan(&self, file: OrgExport, slug: Option<&str>) -> Result<ImportPlan, TransferError> {
        let mut ids = HashSet::new();
        let org = check_org(&file.org, slug)?;
        let session_policy = file
            .session_policy
            .map(|p| p.validate().map_err(|e| invalid("session_policy", e)))
            .transpose()?;
        let mut apps = Vec::with_capacity(file.apps.len());
        let mut client_ids = HashSet::new();
        for app in &file.apps {
            let what = format!("app {}", app.client_id);
            unique(&mut ids, app.id, &what)?;
            if !client_ids.insert(app.client_id.clone()) {
                return Err(invalid(what, "client_id appears twice"));
            }
            apps.push((app.id, app.created_at, self.check_app(app)?));
        }
        let users = check_users(file.users, &mut ids)?;
        let consents = check_consents(file.consents, &users, &file.apps, &mut ids)?;
        let email_templates = check_templates(file.email_templates)?;
        let signing_keys = file.signing_keys.unwrap_or_default();
        let mut open_keys = 0;
        for key in &signing_keys {
            unique(&mut ids, key.id, &format!("signing key {}", key.kid))?;
            open_keys += usize::from(key.expires_at.is_none());
            self.kek.check_imported(org.id, key)?;
        }
        if open_keys > 1 {
            return Err(invalid(
                "signing_keys",
                "more than one key without expires_at",
            ));
        }
        Ok(ImportPlan {
            org,
            session_policy,
            apps,
            users,
            consents,
            email_templates,
            signing_keys,
        })
    }

    /// An app's registration through `AppService`'s checks (this deployment's URI and outbound
    /// rules), with its client id and secret hash.
    fn check_app(&self, app: &AppRecord) -> Result<NewApp, TransferError> {
        let what = format!("app {}", app.client_id);
        let client_id_ok = !app.client_id.is_empty()
            && app.client_id.len() <= 255
            && app.client_id.bytes().all(|b| b.is_ascii_graphic());
        if !client_id_ok || app.client_id == CONSOLE_CLIENT_ID {
            return Err(invalid(
                what,
                "client_id must be 1-255 visible ASCII characters, and not the console's (each deployment makes its own)",
            ));
        }
        let s = &app.settings;
        let req = CreateApp {
            name: app.name.clone(),
            app_type: app.app_type,
            redirect_uris: app.redirect_uris.clone(),
            post_logout_redirect_uris: app.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: app.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: app.frontchannel_logout_uri.clone(),
            session_profile: app.session_profile,
            admin: app.admin,
            rules: Some(s.session),
            first_party: s.first_party,
            access_token_ttl_secs: Some(s.access_token_ttl_secs),
            id_token_ttl_secs: Some(s.id_token_ttl_secs),
            grant_types: Some(s.grant_types.clone()),
            client_auth: s.client_auth,
            jwks: s.jwks.clone(),
            jwks_uri: s.jwks_uri.as_ref().map(|u| u.as_str().to_owned()),
            require_par: s.require_par,
            dpop: s.dpop,
            saml: app.saml.as_ref().map(SamlRequest::from_settings),
        };
        let mut new = self.apps.validated(req).map_err(|e| invalid(&what, e))?;
        match (&app.client_secret_hash, app.app_type.is_confidential()) {
            (Some(h), true) if is_sha256_hex(h) => {}
            (None, false) => {}
            _ => {
                return Err(invalid(
                    what,
                    "client_secret_hash must be a SHA-256 (64 hex digits) for web and service apps, and absent for others",
                ));
            }
        }
        new.client_id = app.client_id.clone();
        new.client_secret_hash = app.client_secret_hash.clone();
        Ok(new)
    }
}

/// serde's message about a file that does not have the export's shape, without quoting the
/// value it found (which may be a password hash in the wrong place).
fn shape_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        format!(
            "a value of the wrong type or shape at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        message
    }
}

fn unique(ids: &mut HashSet<Uuid>, id: Uuid, what: &str) -> Result<(), TransferError> {
    if ids.insert(id) {
        Ok(())
    } else {
        Err(invalid(what, format!("id {id} appears twice in the file")))
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The org as `OrgService` would have it: slug, name 1-200 characters, https logo, `#rrggbb`.
fn check_org(rec: &OrgRecord, slug: Option<&str>) -> Result<Org, TransferError> {
    let raw = slug.unwrap_or(&rec.slug);
    let slug = OrgSlug::parse(raw).map_err(|e| invalid("slug", e))?;
    let name = rec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("org name", "must be 1-200 characters"));
    }
    let status = match rec.status.as_str() {
        "active" => OrgStatus::Active,
        "disabled" => OrgStatus::Disabled,
        _ => return Err(invalid("org status", "must be active or disabled")),
    };
    if let Some(logo) = &rec.logo_url {
        let https =
            url::Url::parse(logo).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
        if !https {
            return Err(invalid("logo_url", "must be an absolute https URL"));
        }
    }
    let accent_color = match &rec.accent_color {
        Some(c) => Some(
            AccentColour::parse(c)
                .ok_or_else(|| invalid("accent_color", "must look like #1a2b3c"))?
                .as_str()
                .to_ascii_lowercase(),
        ),
        None => None,
    };
    let mode = SignupMode::parse(&rec.signup_mode)
        .ok_or_else(|| invalid("signup_mode", "must be off, open or invite_only"))?;
    Ok(Org {
        id: OrgId(rec.id),
        slug,
        name: name.to_owned(),
        status,
        created_at: rec.created_at,
        branding: Branding {
            logo_url: rec.logo_url.clone(),
            accent_color,
        },
        signup: SignupPolicy {
            mode,
            require_verified_email: rec.require_verified_email,
        },
    })
}

/// Users with normalised addresses (one account per address), names, roles, password hashes,
/// credentials and recovery codes checked.
fn check_users(
    list: Vec<UserRecord>,
    ids: &mut HashSet<Uuid>,
) -> Result<Vec<UserRecord>, TransferError> {
    let mut emails = HashSet::new();
    let mut credential_ids = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for mut u in list {
        let what = format!("user {}", u.email);
        unique(ids, u.id, &what)?;
        let email = EmailAddress::parse(&u.email).map_err(|e| invalid(&what, e))?;
        if !emails.insert(email.clone()) {
            return Err(invalid(what, "the address appears twice"));
        }
        u.email = email.as_str().to_owned();
        u.name = match &u.name {
            Some(n) => DisplayName::parse(n)
                .map_err(|e| invalid(&what, e))?
                .map(DisplayName::into_string),
            None => None,
        };
        if !matches!(u.role.as_str(), "member" | "admin") {
            return Err(invalid(what, "role must be member or admin"));
        }
        if let Some(phc) = &u.password_hash {
            check_phc(phc).map_err(|why| invalid(&what, why))?;
        }
        for c in &mut u.webauthn_credentials {
            unique(ids, c.id, &what)?;
            check_credential(c).map_err(|why| invalid(format!("{what}, key {}", c.name), why))?;
            if !credential_ids.insert(c.credential_id.clone()) {
                return Err(invalid(&what, "a credential id appears twice"));
            }
        }
        for r in &u.recovery_codes {
            unique(ids, r.id, &what)?;
            if !is_sha256_hex(&r.code_hash) {
                return Err(invalid(&what, "a recovery code hash is not a SHA-256"));
            }
        }
        out.push(u);
    }
    Ok(out)
}

/// The most an imported password hash may cost to verify (argon2id memory in KiB, passes,
/// lanes): a file cannot make every sign-in of a user allocate gigabytes. Sign-in re-hashes
/// at today's parameters.
const MAX_ARGON2_M_KIB: u32 = 262_144;
const MAX_ARGON2_T: u32 = 16;
const MAX_ARGON2_P: u32 = 8;

/// An argon2id PHC string (version 19) of bounded cost.
fn check_phc(phc: &str) -> Result<(), &'static str> {
    let bad = "password_hash must be an argon2id PHC string";
    let parsed = argon2::password_hash::PasswordHash::new(phc).map_err(|_| bad)?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(19) {
        return Err(bad);
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(bad);
    }
    let params = argon2::Params::try_from(&parsed).map_err(|_| bad)?;
    if params.m_cost() > MAX_ARGON2_M_KIB
        || params.t_cost() > MAX_ARGON2_T
        || params.p_cost() > MAX_ARGON2_P
    {
        return Err("password_hash parameters exceed m=262144, t=16, p=8");
    }
    Ok(())
}

/// A credential's name as the ceremony takes it (1-100 characters) and its record.
fn check_credential(c: &mut CredentialRecord) -> Result<(), &'static str> {
    let name = c.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("a key's name must be 1-100 characters");
    }
    c.name = name.to_owned();
    crate::authn::webauthn::check_stored_credential(
        &c.kind,
        &c.credential_id,
        &c.credential.to_string(),
    )
}

/// Consents of users and apps of the file, with a scope of space-separated visible tokens.
fn check_consents(
    list: Vec<ConsentRecord>,
    users: &[UserRecord],
    apps: &[AppRecord],
    ids: &mut HashSet<Uuid>,
) -> Result<Vec<ConsentRecord>, TransferError> {
    for c in &list {
        let what = format!("consent {}", c.id);
        unique(ids, c.id, &what)?;
        if !users.iter().any(|u| u.id == c.user_id) || !apps.iter().any(|a| a.id == c.app_id) {
            return Err(invalid(what, "names a user or app not in the file"));
        }
        let scope_ok = !c.scope.trim().is_empty()
            && c.scope.len() <= 1000
            && c.scope.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !scope_ok {
            return Err(invalid(what, "scope must be space-separated tokens"));
        }
    }
    Ok(list)
}

/// Email templates through `templates::validate`, one per kind.
fn check_templates(list: Vec<TemplateRecord>) -> Result<Vec<TemplateRecord>, TransferError> {
    let mut kinds = HashSet::new();
    for t in &list {
        let what = format!("email template {}", t.kind.as_str());
        if !kinds.insert(t.kind) {
            return Err(invalid(what, "appears twice"));
        }
        let template = Template {
            subject: t.subject.clone(),
            text: t.text.clone(),
            html: t.html.clone(),
        };
        templates::validate(t.kind, &template)
            .map_err(|e| invalid(format!("{what}, {}", e.field), e.message))?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_version_1_of_the_format_is_read() {
        let err = OrgTransfer::parse(r#"{"format":"portcullis-org-export","version":2}"#);
        assert!(matches!(err, Err(TransferError::UnsupportedVersion(v)) if v == "2"));
        let err = OrgTransfer::parse(r#"{"format":"something-else","version":1}"#);
        assert!(matches!(err, Err(TransferError::NotAnExport(_))));
        let err = OrgTransfer::parse(r#"{"format":"portcullis-org-export","version":1}"#);
        assert!(matches!(err, Err(TransferError::Invalid { .. })));
        assert!(matches!(
            OrgTransfer::parse("not json"),
            Err(TransferError::NotAnExport(_))
        ));
    }

    #[test]
    fn password_hashes_are_argon2id_of_bounded_cost() {
        let ok = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0g2N5i9X3cF0F8ZJjO8yO3kF8W3wqN6m8J1m8xJq1dE";
        assert_eq!(check_phc(ok), Ok(()));
        let older = ok.replace("m=19456,t=2", "m=65536,t=3");
        assert_eq!(check_phc(&older), Ok(()));
        let huge = ok.replace("m=19456", "m=4194304");
        assert!(check_phc(&huge).is_err());
        assert!(check_phc(&ok.replace("argon2id", "argon2i")).is_err());
        assert!(check_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
        assert!(check_phc("plain text").is_err());
    }

    #[test]
    fn org_records_pass_the_org_checks() {
        let rec = OrgRecord {
            id: Uuid::now_v7(),
            slug: "acme".into(),
            name: " Acme ".into(),
            status: "active".into(),
            created_at: chrono::Utc::now(),
            logo_url: None,
            accent_color: Some("#A0B1C2".into()),
            signup_mode: "open".into(),
            require_verified_email: true,
        };
        let org = check_org(&rec, None).unwrap();
        assert_eq!((org.name.as_str(), org.slug.as_str()), ("Acme", "acme"));
        assert_eq!(org.branding.accent_color.as_deref(), Some("#a0b1c2"));
        assert_eq!(
            check_org(&rec, Some("acme-2")).unwrap().slug.as_str(),
            "acme-2"
        );
        assert!(check_org(&rec, Some("Bad Slug")).is_err());
        let bad_logo = OrgRecord {
            logo_url: Some("javascript:alert(1)".into()),
            ..rec.clone()
        };
        assert!(check_org(&bad_logo, None).is_err());
        let bad_colour = OrgRecord {
            accent_color: Some("red;}".into()),
            ..rec.clone()
        };
        assert!(check_org(&bad_colour, None).is_err());
        let bad_status = OrgRecord {
            status: "weird".into(),
            ..rec
        };
        assert!(check_org(&bad_status, None).is_err());
    }
}
