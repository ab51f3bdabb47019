//! Org rules: creating orgs, resolving `/o/{org}` and enabling or disabling an org.

use super::error::TenancyError;
use super::model::{Org, OrgSlug, OrgStatus, PLATFORM_ORG_SLUG};
use crate::clock::SharedClock;
use crate::sessions::{EndReason, SessionService};
use crate::store::cache::{Cache, CacheKey};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a node may serve an org record from Redis: every writer fences the shared entry
/// (`Cache::fence_copy`), so a change is seen at once and no copy read before it lands after it.
/// (In-process copies live one second: `Cache::copy_ttl`.)
const ORG_TTL: Duration = Duration::from_secs(300);

/// How long a node answers its public metadata (discovery) from its own copy of an active org,
/// without asking the shared cache. A change to the org drops the copy on the node that made
/// it at once and on the others when the invalidation message arrives; this bounds the rest
/// (a lost message). The document itself tells clients to keep it 300 s, so serving a disabled
/// org's discovery a moment longer tells nobody anything new, while every endpoint that signs
/// someone in or issues, checks or refreshes a token still reads the shared entry.
pub const PUBLIC_COPY_TTL: chrono::Duration = chrono::Duration::seconds(1);

/// At most this many orgs held for public metadata per node (dropped all at once when full).
const MAX_PUBLIC_COPIES: usize = 10_000;

/// Active orgs by slug, each with when this node read it, and a count of the drops: a read
/// that started before a drop is not kept (it may hold the org as it was before the change).
#[derive(Debug, Default)]
struct PublicCopies {
    orgs: HashMap<String, (Org, DateTime<Utc>)>,
    drops: u64,
}

impl PublicCopies {
    fn drop_where(&mut self, dropped: impl Fn(&str) -> bool) {
        self.drops += 1;
        self.orgs.retain(|slug, _| !dropped(slug));
    }
}

#[derive(Debug, Clone)]
pub struct OrgService {
    store: Store,
    cache: Cache,
    clock: SharedClock,
    sessions: SessionService,
    /// Active orgs by slug, with when each was read, for `resolve_public`.
    public: Arc<Mutex<PublicCopies>>,
}

const SLUG_KIND: &str = "org-by-slug";

fn slug_key(slug: &OrgSlug) -> CacheKey {
    CacheKey::platform_copy(SLUG_KIND, slug.as_str())
}

impl OrgService {
    /// Needs a Tokio runtime: it starts the task that drops this node's public copy of an org
    /// when any node changes it.
    pub fn new(store: Store, cache: Cache, clock: SharedClock, sessions: SessionService) -> Self {
        let service = Self {
            store,
            cache,
            clock,
            sessions,
            public: Arc::default(),
        };
        service
            .cache
            .on_invalidation(&service.public, |held, message| {
                let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                held.drop_where(|slug| {
                    message.is_empty()
                        || CacheKey::platform_copy(SLUG_KIND, slug).as_str() == message
                });
            });
        service
    }

    fn ttl(&self) -> Duration {
        self.cache.copy_ttl(ORG_TTL)
    }

    pub async fn create(
        &self,
        slug: &str,
        name: Option<&str>,
        actor: &str,
    ) -> Result<Org, TenancyError> {
        let slug = OrgSlug::parse(slug)?;
        let name = name.map(str::trim).unwrap_or(slug.as_str()).to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(TenancyError::InvalidName);
        }
        match self
            .store
            .create_org(&slug, &name, actor, self.clock.now())
            .await
        {
            Ok(org) => {
                // A negative lookup is never cached, but drop any stale entry all the same.
                self.cache.delete(&slug_key(&slug)).await;
                Ok(org)
            }
            Err(StoreError::Conflict) => Err(TenancyError::SlugTaken(slug.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the platform org at first start; a no-op afterwards (also when another node won
    /// the race).
    pub async fn ensure_platform_org(&self) -> Result<Org, TenancyError> {
        match self
            .create(PLATFORM_ORG_SLUG, Some("Platform"), "system")
            .await
        {
            Ok(org) => {
                tracing::info!(org = %org.slug, "created the platform org");
                Ok(org)
            }
            Err(TenancyError::SlugTaken(_)) => self.find(PLATFORM_ORG_SLUG).await,
            Err(e) => Err(e),
        }
    }

    /// Looks an org up by slug, whatever its status.
    pub async fn find(&self, slug: &str) -> Result<Org, TenancyError> {
        let parsed = OrgSlug::parse(slug).map_err(|_| TenancyError::NotFound(slug.to_owned()))?;
        let key = slug_key(&parsed);
        let (copy, seen) = self.cache.get_copy::<Org>(&key).await;
        if let Some(org) = copy {
            return Ok(org);
        }
        let org = self
            .store
            .org_by_slug(&parsed)
            .await?
            .ok_or_else(|| TenancyError::NotFound(slug.to_owned()))?;
        self.cache.store_copy(&key, seen, &org, self.ttl()).await;
        Ok(org)
    }

    /// Resolves the org of an `/o/{org}/…` request: it must exist and be active.
    pub async fn resolve_active(&self, slug: &str) -> Result<Org, TenancyError> {
        let org = self.find(slug).await?;
        match org.status {
            OrgStatus::Active => Ok(org),
            OrgStatus::Disabled => Err(TenancyError::Disabled(org.slug)),
        }
    }

    /// Resolves the org of a public metadata request (discovery): like `resolve_active`, but an
    /// active org read less than `PUBLIC_COPY_TTL` ago on this node is answered from the node's
    /// own copy, without a round trip to the shared cache. Never for anything that
    /// authenticates, issues or checks: a disabled org is refused there at once.
    pub async fn resolve_public(&self, slug: &str) -> Result<Org, TenancyError> {
        if !self.cache.is_shared() {
            // The in-process cache is this node's own copy already (one second): a second
            // copy on top of it would only make a change take longer.
            return self.resolve_active(slug).await;
        }
        let now = self.clock.now();
        let drops = {
            let held = self.public.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((org, read_at)) = held.orgs.get(slug)
                && now >= *read_at
                && now - *read_at < PUBLIC_COPY_TTL
            {
                return Ok(org.clone());
            }
            held.drops
        };
        let org = self.resolve_active(slug).await?;
        let mut held = self.public.lock().unwrap_or_else(|p| p.into_inner());
        if held.drops == drops {
            if held.orgs.len() >= MAX_PUBLIC_COPIES {
                held.orgs.clear();
            }
            held.orgs.insert(slug.to_owned(), (org.clone(), now));
        }
        Ok(org)
    }

    /// Changes an org's display name and branding (`None` keeps a value; an empty string clears
    /// the logo or colour). Every node sees the change on its next request.
    pub async fn update(
        &self,
        slug: &str,
        name: Option<&str>,
        logo_url: Option<&str>,
        accent_color: Option<&str>,
        actor: &str,
    ) -> Result<Org, TenancyError> {
        let current = self.find(slug).await?;
        let name = name.map(str::trim).unwrap_or(&current.name).to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(TenancyError::InvalidName);
        }
        let mut branding = current.branding.clone();
        if let Some(logo) = logo_url {
            branding.logo_url = if logo.is_empty() {
                None
            } else {
                match url::Url::parse(logo) {
                    Ok(u) if u.scheme() == "https" && u.host().is_some() => Some(logo.to_owned()),
                    _ => {
                        return Err(TenancyError::InvalidBranding(
                            "logo URL must be an absolute https URL",
                        ));
                    }
                }
            };
        }
        if let Some(colour) = accent_color {
            branding.accent_color = if colour.is_empty() {
                None
            } else if colour.len() == 7
                && colour.starts_with('#')
                && colour[1..].chars().all(|c| c.is_ascii_hexdigit())
            {
                Some(colour.to_ascii_lowercase())
            } else {
                return Err(TenancyError::InvalidBranding(
                    "accent colour must look like #1a2b3c",
                ));
            };
        }
        let org = self
            .store
            .update_org(&current.slug, &name, &branding, actor, self.clock.now())
            .await?;
        self.invalidate(&org.slug).await;
        Ok(org)
    }

    /// Changes who may sign up and whether sign-in needs a verified address; every node sees
    /// it on its next request.
    pub async fn set_signup(
        &self,
        org: &Org,
        policy: crate::tenancy::SignupPolicy,
        actor: &str,
    ) -> Result<Org, TenancyError> {
        let updated = self
            .store
            .set_org_signup(org.id, policy, actor, self.clock.now())
            .await?;
        self.invalidate(&updated.slug).await;
        Ok(updated)
    }

    async fn invalidate(&self, slug: &OrgSlug) {
        let key = slug_key(slug);
        self.cache.fence_copy(&key).await;
        // After the fence: a discovery read that started earlier may hold the old org and is
        // not kept; one that starts later reads past the fence.
        self.public
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drop_where(|held| held == slug.as_str());
        if let Err(err) = self.cache.publish_invalidation(&key).await {
            tracing::warn!(error = %err, "could not publish the org invalidation");
        }
    }

    /// Enables or disables an org. The cached record is dropped everywhere at once, so every
    /// endpoint of a disabled org refuses on its next request.
    pub async fn set_status(
        &self,
        slug: &str,
        status: OrgStatus,
        actor: &str,
    ) -> Result<Org, TenancyError> {
        let parsed = OrgSlug::parse(slug).map_err(|_| TenancyError::NotFound(slug.to_owned()))?;
        let org = match self
            .store
            .set_org_status(&parsed, status, actor, self.clock.now())
            .await
        {
            Ok(org) => org,
            Err(StoreError::NotFound) => return Err(TenancyError::NotFound(slug.to_owned())),
            Err(e) => return Err(e.into()),
        };
        self.invalidate(&parsed).await;
        if status == OrgStatus::Disabled {
            // The org refuses every request already; also end its sessions for the record (and,
            // later, for Single Logout to the org's apps).
            let ended = self
                .sessions
                .end_org_sessions(org.id, EndReason::OrgDisabled, actor)
                .await?;
            tracing::info!(org = %org.slug, ended, "org disabled; its sessions ended");
        }
        Ok(org)
    }
}
