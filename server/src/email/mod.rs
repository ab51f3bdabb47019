//! Outgoing email: the outbox worker and the mailer (SMTP with lettre, or the dev mailbox).

mod service;

pub use service::{EmailService, OutgoingEmail, QueuedEmail};
