//! The org's session, sign-up and email-template settings.

use super::*;
use crate::admin_api::ApiError;
use crate::state::AppState;

use crate::tenancy::Org;
use portcullis_api_types::{
    EmailTemplateRequest, EmailTemplateView, SessionPolicyView, SignupPolicyView,
};

pub(super) fn policy_view(p: &crate::sessions::SessionPolicy) -> SessionPolicyView {
    SessionPolicyView {
        idle_timeout_secs: p.idle_timeout_secs,
        absolute_lifetime_secs: p.absolute_lifetime_secs,
        remember_me_allowed: p.remember_me_allowed,
        remember_me_lifetime_secs: p.remember_me_lifetime_secs,
        mfa: p.mfa.as_str().to_owned(),
    }
}

pub async fn get_policy(state: &AppState, org: &Org) -> Result<SessionPolicyView, ApiError> {
    let p = state
        .sessions
        .policy(org.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(policy_view(&p))
}

pub async fn set_policy(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: SessionPolicyView,
) -> Result<SessionPolicyView, ApiError> {
    let mfa = req
        .mfa
        .parse::<crate::sessions::MfaPolicy>()
        .map_err(|m| ApiError::field("mfa", m))?;
    let policy = crate::sessions::SessionPolicy {
        idle_timeout_secs: req.idle_timeout_secs,
        absolute_lifetime_secs: req.absolute_lifetime_secs,
        remember_me_allowed: req.remember_me_allowed,
        remember_me_lifetime_secs: req.remember_me_lifetime_secs,
        mfa,
    };
    match state
        .sessions
        .set_policy(org.id, policy, &who.actor())
        .await
    {
        Ok(p) => Ok(policy_view(&p)),
        Err(crate::sessions::SessionError::InvalidPolicy(e)) => {
            Err(ApiError::field("policy", e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub(super) fn signup_view(p: crate::tenancy::SignupPolicy) -> SignupPolicyView {
    SignupPolicyView {
        mode: p.mode.as_str().to_owned(),
        require_verified_email: p.require_verified_email,
    }
}

pub fn get_signup_policy(org: &Org) -> SignupPolicyView {
    signup_view(org.signup)
}

pub async fn set_signup_policy(
    state: &AppState,
    org: &Org,
    who: &Principal,
    req: SignupPolicyView,
) -> Result<SignupPolicyView, ApiError> {
    let mode = crate::tenancy::SignupMode::parse(&req.mode)
        .ok_or_else(|| ApiError::field("mode", "expected off, open or invite_only"))?;
    let policy = crate::tenancy::SignupPolicy {
        mode,
        require_verified_email: req.require_verified_email,
    };
    let org = state
        .orgs
        .set_signup(org, policy, &who.actor())
        .await
        .map_err(ApiError::internal)?;
    Ok(signup_view(org.signup))
}

pub(super) fn template_kind(raw: &str) -> Result<crate::email::TemplateKind, ApiError> {
    crate::email::TemplateKind::parse(raw)
        .ok_or_else(|| ApiError::NotFound(format!("no email template kind {raw:?}")))
}

pub(super) async fn template_view(
    state: &AppState,
    org: &Org,
    kind: crate::email::TemplateKind,
) -> Result<EmailTemplateView, ApiError> {
    let (t, is_custom) = state
        .email
        .template(org.id, kind)
        .await
        .map_err(ApiError::internal)?;
    Ok(EmailTemplateView {
        kind: kind.as_str().to_owned(),
        subject: t.subject,
        text: t.text,
        html: t.html,
        placeholders: kind
            .placeholders()
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect(),
        custom: is_custom,
    })
}

pub async fn list_email_templates(
    state: &AppState,
    org: &Org,
) -> Result<Vec<EmailTemplateView>, ApiError> {
    let mut out = Vec::new();
    for kind in crate::email::TemplateKind::ALL {
        out.push(template_view(state, org, kind).await?);
    }
    Ok(out)
}

/// Stores the org's template of `kind` (`None`: back to the built-in one).
pub async fn set_email_template(
    state: &AppState,
    org: &Org,
    who: &Principal,
    kind: &str,
    req: Option<EmailTemplateRequest>,
) -> Result<EmailTemplateView, ApiError> {
    let kind = template_kind(kind)?;
    let template = req.map(|r| crate::email::Template {
        subject: r.subject,
        text: r.text,
        html: r.html,
    });
    if let Some(t) = &template {
        crate::email::templates::validate(kind, t)
            .map_err(|e| ApiError::field(e.field, e.message))?;
    }
    state
        .email
        .set_template(org.id, kind, template.as_ref(), &who.actor())
        .await
        .map_err(ApiError::internal)?;
    template_view(state, org, kind).await
}

/// Renders `req` for `kind` with sample values through the mailer's own code (nothing is sent
/// or stored); a template the mailer would refuse is refused the same way (422 naming the field).
pub fn preview_email_template(
    org: &Org,
    kind: &str,
    req: EmailTemplateRequest,
) -> Result<portcullis_api_types::EmailPreviewView, ApiError> {
    let kind = template_kind(kind)?;
    let template = crate::email::Template {
        subject: req.subject,
        text: req.text,
        html: req.html,
    };
    crate::email::templates::validate(kind, &template)
        .map_err(|e| ApiError::field(e.field, e.message))?;
    let link = format!(
        "https://id.example.com/{}/sample-link?token=SAMPLE",
        org.slug.as_str()
    );
    let vars = [
        ("link", link.as_str()),
        ("valid_for", "1 hour"),
        ("subject", "A new passkey was added"),
        ("message", "A passkey was added to your account."),
    ];
    let m = crate::email::templates::render(org, &template, "user@example.com", &vars);
    Ok(portcullis_api_types::EmailPreviewView {
        to: m.to,
        subject: m.subject,
        text: m.text,
        html: m.html,
    })
}
