//! Tenancy: orgs, their resolution from `/o/{org}/…` paths, and their status.

mod error;
mod model;
pub mod routes;
mod service;

pub use error::TenancyError;
pub use model::{
    AccentColour, Branding, InvalidSlug, Org, OrgId, OrgSlug, OrgStatus, PLATFORM_ORG_SLUG,
    SignupMode, SignupPolicy,
};
pub use service::OrgService;
