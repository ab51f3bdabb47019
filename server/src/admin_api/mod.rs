//! Admin REST API under `/api/v1`: bearer tokens issued by Portcullis itself to apps with the
//! admin role (service apps with client credentials; other admin apps, like the console, on
//! behalf of a user with the org's admin role). Org-scoped: an org admin reaches their own org
//! only, and an id from another org is not found.

mod error;
pub mod routes;
pub mod service;

pub use error::ApiError;
pub use service::{Principal, PrincipalKind};
