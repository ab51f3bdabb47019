//! Email templates. Each kind of message has a built-in subject, text and HTML part; an org may
//! replace them (admin API). Placeholders are `{{name}}`; values are HTML-escaped in the HTML
//! part, and the subject never keeps a line break, so neither an org name nor an address can
//! add a header. The HTML part is wrapped in the org's branding (logo and accent colour).

use super::{OutgoingEmail, Template, TemplateKind};
use crate::tenancy::Org;
use crate::text::html_escape;

fn button(label: &str) -> String {
    format!(
        "<p><a href=\"{{{{link}}}}\" style=\"display:inline-block;padding:10px 16px;background:{{{{accent_color}}}};color:#ffffff;text-decoration:none;border-radius:4px\">{label}</a></p>"
    )
}

/// The built-in template of `kind`.
pub fn default_template(kind: TemplateKind) -> Template {
    let (subject, text, html) = match kind {
        TemplateKind::PasswordReset => (
            "Reset your {{org_name}} password",
            "Someone asked to reset the password of your {{org_name}} account.\n\nTo choose a new one, open this link within {{valid_for}}:\n{{link}}\n\nIf it was not you, ignore this message: your password stays as it is.\n",
            format!(
                "<p>Someone asked to reset the password of your {{{{org_name}}}} account.</p>{}<p>The link works once, within {{{{valid_for}}}}. If it was not you, ignore this message: your password stays as it is.</p>",
                button("Choose a new password")
            ),
        ),
        TemplateKind::Invitation => (
            "You are invited to {{org_name}}",
            "You have an account at {{org_name}}.\n\nTo set it up (choose a password or a passkey) and sign in, open this link within {{valid_for}}:\n{{link}}\n",
            format!(
                "<p>You have an account at {{{{org_name}}}}. Set it up with a password or a passkey, then sign in.</p>{}<p>The link works once, within {{{{valid_for}}}}.</p>",
                button("Set up your account")
            ),
        ),
        TemplateKind::VerifyEmail => (
            "Confirm your email address for {{org_name}}",
            "Welcome to {{org_name}}. To confirm that {{email}} is your address, open this link within {{valid_for}}:\n{{link}}\n\nIf you did not sign up, ignore this message.\n",
            format!(
                "<p>Welcome to {{{{org_name}}}}. Confirm that {{{{email}}}} is your address.</p>{}<p>The link works once, within {{{{valid_for}}}}. If you did not sign up, ignore this message.</p>",
                button("Confirm my address")
            ),
        ),
        TemplateKind::EmailChange => (
            "Confirm your new email address for {{org_name}}",
            "You asked to use {{email}} for your {{org_name}} account. To confirm, open this link within {{valid_for}}:\n{{link}}\n\nIf it was not you, ignore this message: nothing changes.\n",
            format!(
                "<p>You asked to use {{{{email}}}} for your {{{{org_name}}}} account.</p>{}<p>The link works once, within {{{{valid_for}}}}. If it was not you, ignore this message: nothing changes.</p>",
                button("Confirm the new address")
            ),
        ),
        TemplateKind::SignupExisting => (
            "Sign-up attempt at {{org_name}}",
            "Someone tried to create a {{org_name}} account with {{email}}, which already has one. If it was you, sign in; if you forgot your password, reset it here:\n{{link}}\n\nIf it was not you, ignore this message.\n",
            format!(
                "<p>Someone tried to create a {{{{org_name}}}} account with {{{{email}}}}, which already has one. If it was you, sign in; if you forgot your password, reset it.</p>{}<p>If it was not you, ignore this message.</p>",
                button("Reset my password")
            ),
        ),
        TemplateKind::Notice => (
            "{{org_name}}: {{subject}}",
            "{{message}}\n\nIf it was not you, reset your password and sign out everywhere from your account page.\n",
            "<p>{{message}}</p><p>If it was not you, reset your password and sign out everywhere from your account page.</p>".to_owned(),
        ),
    };
    Template {
        subject: subject.to_owned(),
        text: text.to_owned(),
        html,
    }
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    pub field: &'static str,
    pub message: String,
}

fn placeholders_in(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// Checks a template an admin wants to store for `kind`.
pub fn validate(kind: TemplateKind, t: &Template) -> Result<(), TemplateError> {
    let err = |field, message: &str| TemplateError {
        field,
        message: message.to_owned(),
    };
    if t.subject.trim().is_empty() || t.subject.chars().count() > 200 {
        return Err(err("subject", "must have 1 to 200 characters"));
    }
    if t.subject.contains(['\r', '\n']) {
        return Err(err("subject", "must be one line"));
    }
    for (field, value) in [
        ("subject", &t.subject),
        ("text", &t.text),
        ("html", &t.html),
    ] {
        if field != "subject" && (value.trim().is_empty() || value.len() > 20_000) {
            return Err(err(field, "must have 1 to 20000 bytes"));
        }
        for name in placeholders_in(value) {
            if !kind.placeholders().contains(&name) {
                return Err(TemplateError {
                    field,
                    message: format!(
                        "unknown placeholder {{{{{name}}}}}; this kind knows {}",
                        kind.placeholders()
                            .iter()
                            .map(|p| format!("{{{{{p}}}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        if field != "subject" && kind.needs_link() && !placeholders_in(value).contains(&"link") {
            return Err(err(field, "must contain {{link}}"));
        }
    }
    Ok(())
}

fn fill(template: &str, vars: &[(&str, &str)], escape: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) if escape => out.push_str(&html_escape(v)),
            Some((_, v)) => out.push_str(v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Fills `template` for a message to `to` (one address, never a display name). `vars` adds to
/// the org's name and accent colour and the recipient (`email`, unless given).
pub fn render(org: &Org, template: &Template, to: &str, vars: &[(&str, &str)]) -> OutgoingEmail {
    let org_name = org.name.replace(['\r', '\n'], " ");
    let accent = org.branding.accent();
    let accent = accent.as_str();
    let mut all: Vec<(&str, &str)> = vars.to_vec();
    all.push(("org_name", &org_name));
    all.push(("accent_color", accent));
    if !vars.iter().any(|(k, _)| *k == "email") {
        all.push(("email", to));
    }
    let subject: String = fill(&template.subject, &all, false)
        .replace(['\r', '\n'], " ")
        .chars()
        .take(300)
        .collect();
    let logo = org
        .branding
        .logo_url
        .as_deref()
        .map(|u| {
            format!(
                "<img src=\"{}\" alt=\"\" style=\"max-height:48px;display:block;margin-bottom:8px\">",
                html_escape(u)
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html><body style=\"margin:0;padding:24px;font-family:system-ui,sans-serif;color:#1b1f24\"><div style=\"max-width:560px;margin:0 auto;border-top:4px solid {accent};padding-top:16px\">{logo}<p style=\"font-weight:600;margin:0 0 16px\">{}</p>{}</div></body></html>",
        html_escape(&org_name),
        fill(&template.html, &all, true)
    );
    OutgoingEmail {
        to: to.to_owned(),
        subject,
        text: fill(&template.text, &all, false),
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org {
            id: crate::tenancy::OrgId(uuid::Uuid::nil()),
            slug: crate::tenancy::OrgSlug::parse("acme").unwrap(),
            name: "Acme\r\nBcc: x@example.com".into(),
            status: crate::tenancy::OrgStatus::Active,
            created_at: chrono::Utc::now(),
            branding: crate::tenancy::Branding {
                logo_url: Some("https://cdn.example/logo.png?a=1&b=2".into()),
                accent_color: Some("#aa0000".into()),
            },
            signup: Default::default(),
        }
    }

    #[test]
    fn defaults_are_valid_and_carry_their_links() {
        for kind in TemplateKind::ALL {
            validate(kind, &default_template(kind)).unwrap();
        }
    }

    #[test]
    fn rendering_escapes_html_and_keeps_the_subject_on_one_line() {
        let t = Template {
            subject: "Hi {{org_name}} {{ email }}".into(),
            text: "<b>{{link}}</b> {{unknown}}".into(),
            html: "<a href=\"{{link}}\">{{message}}</a>".into(),
        };
        let m = render(
            &org(),
            &t,
            "bob@example.com",
            &[
                ("link", "https://id.example/x?a=1&b=2"),
                ("message", "<script>"),
            ],
        );
        assert_eq!(m.subject, "Hi Acme  Bcc: x@example.com bob@example.com");
        assert_eq!(m.text, "<b>https://id.example/x?a=1&b=2</b> {{unknown}}");
        assert!(
            m.html
                .contains("<a href=\"https://id.example/x?a=1&amp;b=2\">&lt;script&gt;</a>")
        );
        assert!(m.html.contains("border-top:4px solid #aa0000"));
        assert!(
            m.html
                .contains("src=\"https://cdn.example/logo.png?a=1&amp;b=2\"")
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut t = default_template(TemplateKind::PasswordReset);
        t.text = "no link here".into();
        assert_eq!(
            validate(TemplateKind::PasswordReset, &t).unwrap_err().field,
            "text"
        );
        let mut t = default_template(TemplateKind::Notice);
        t.subject = "a\r\nBcc: x".into();
        assert_eq!(
            validate(TemplateKind::Notice, &t).unwrap_err().field,
            "subject"
        );
        let mut t = default_template(TemplateKind::Notice);
        t.html = "{{link}}".into();
        let e = validate(TemplateKind::Notice, &t).unwrap_err();
        assert_eq!(e.field, "html");
        assert!(
            e.message.contains("unknown placeholder {{link}}"),
            "{}",
            e.message
        );
    }
}
