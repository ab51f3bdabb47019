//! Outgoing email: the outbox worker and the mailer (SMTP with lettre, or the dev mailbox), and
//! the per-org templates every message is made from.

mod model;
mod service;
pub mod templates;

pub use model::{OutgoingEmail, QueuedEmail, Template, TemplateKind};
pub use service::{EmailService, UNPROMPTED_PER_ADDRESS_PER_HOUR};

use crate::store::{Store, StoreError};
use crate::tenancy::Org;

/// A message of `kind` to `to`, from the org's template (or the built-in one).
pub async fn compose(
    store: &Store,
    org: &Org,
    kind: TemplateKind,
    to: &str,
    vars: &[(&str, &str)],
) -> Result<OutgoingEmail, StoreError> {
    let template = match store.email_template(org.id, kind).await? {
        Some(t) => t,
        None => templates::default_template(kind),
    };
    Ok(templates::render(org, &template, to, vars))
}

/// A security notice to a user: what happened (`message`), under a short `subject`.
pub async fn notice(
    store: &Store,
    org: &Org,
    to: &str,
    subject: &str,
    message: &str,
) -> Result<OutgoingEmail, StoreError> {
    compose(
        store,
        org,
        TemplateKind::Notice,
        to,
        &[("subject", subject), ("message", message)],
    )
    .await
}

/// The security notice for a user of the org, by id (`None` when the user is gone).
pub async fn notice_to(
    store: &Store,
    org: &Org,
    user: crate::accounts::UserId,
    subject: &str,
    message: &str,
) -> Result<Option<OutgoingEmail>, StoreError> {
    match store.user_by_id(org.id, user).await? {
        Some(u) => Ok(Some(
            notice(store, org, u.email.as_str(), subject, message).await?,
        )),
        None => Ok(None),
    }
}
