//! Admin API rules: who the caller is, which org they may touch, and the operations (views in
//! the wire types of `portcullis-api-types`).
//! One module per resource; each calls the domain services (no rule of theirs is written again
//! here) and turns their answers into views.

mod apps;
mod audit;
mod audit_sink;
mod keys;
mod orgs;
mod policies;
mod principal;
mod sessions;
mod users;

pub use apps::*;
pub use audit::*;
pub use audit_sink::*;
pub use keys::*;
pub use orgs::*;
pub use policies::*;
pub use principal::*;
pub use sessions::*;
pub use users::*;

use super::error::ApiError;

use portcullis_api_types::Page;
use uuid::Uuid;

pub(super) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

/// The page a list request asks for: `?page=` from 1, `?per_page=` 1–200 (default 50). Lists
/// that grow with an org's users, sessions, apps or deliveries hand its offset and limit to the
/// database, with a count for `total`; none loads all of an org's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    pub fn parse(page: Option<u64>, per_page: Option<u64>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::field("page", "pages count from 1"));
        }
        if !(1..=200).contains(&per_page) {
            return Err(ApiError::field("per_page", "must be between 1 and 200"));
        }
        Ok(Self { page, per_page })
    }

    /// Rows before this page.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Rows on this page at most.
    pub fn limit(&self) -> u64 {
        self.per_page
    }

    fn with<T>(&self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total,
        }
    }
}

/// Pages a short list held in memory (an org's signing keys: a handful).
pub fn paginate<T>(
    items: Vec<T>,
    page: Option<u64>,
    per_page: Option<u64>,
) -> Result<Page<T>, ApiError> {
    let p = PageRequest::parse(page, per_page)?;
    let total = items.len() as u64;
    let skip = usize::try_from(p.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(p.limit()).unwrap_or(usize::MAX);
    Ok(p.with(items.into_iter().skip(skip).take(take).collect(), total))
}

pub(super) fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError::NotFound(format!("no such {what}")))
}
