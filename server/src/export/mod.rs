//! Org export and import (issue 21): one org's settings, apps, users with their password hashes
//! and WebAuthn credentials, policies and templates as a versioned JSON file (`model.rs`), and
//! the checks an import passes before one transaction writes it (`service.rs`). Never sessions,
//! tokens, single-use values or outbox rows; signing keys only when asked, sealed for the target.

mod model;
mod service;

pub use model::{
    AppRecord, ConsentRecord, Counts, CredentialRecord, FORMAT, ImportPlan, KeyRecord, OrgExport,
    OrgRecord, RecoveryCodeRecord, TemplateRecord, UserRecord, VERSION,
};
pub use service::{OrgTransfer, TransferError};
