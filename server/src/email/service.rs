//! The email worker: claims due outbox rows and sends them with lettre over SMTP (`smtp://`
//! with opportunistic STARTTLS per lettre's URL rules, `smtps://` for TLS), or writes them to the
//! dev mailbox directory when no SMTP URL is configured. Failures are retried with backoff; a
//! message is never logged with its body (it may hold a single-use link).

use super::{OutgoingEmail, QueuedEmail};
use crate::clock::SharedClock;
use crate::config::EmailConfig;
use crate::limits::{Limit, RateLimiter};
use crate::store::cache::{Cache, CacheKey};
use crate::store::{Store, StoreError};
use crate::tenancy::OrgId;
use crate::worker::{Backoff, run_every};
use chrono::Duration;
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

/// Per-node counters: key → (window start, count).
type LocalCounts = HashMap<String, (DateTime<Utc>, i64)>;

const MAX_ATTEMPTS: i32 = 12;
/// Messages that anyone can trigger for an address (reset, sign-up, new verification link) are
/// sent at most this many times per address and org per hour; more are dropped silently (the
/// page answers the same), so nobody can flood a mailbox through the forms.
pub const UNPROMPTED_PER_ADDRESS_PER_HOUR: i64 = 5;
const CLAIM_BATCH: u64 = 50;
/// Retries wait 4 s, 8 s, 16 s, … up to an hour, plus jitter.
const BACKOFF: Backoff = Backoff {
    base_secs: 4,
    max_secs: 3600,
};

#[derive(Clone)]
enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Mailbox(PathBuf),
}

#[derive(Clone)]
pub struct EmailService {
    store: Store,
    cache: Cache,
    /// Per-node counts while the shared cache is unreachable (never unlimited).
    local: Arc<Mutex<LocalCounts>>,
    clock: SharedClock,
    mailer: Mailer,
    from: Mailbox,
    /// Invitations an org may send per hour.
    invitations_per_hour: i64,
    /// Link requests per client IP and link mail per org (`email.link_*_per_hour`).
    limiter: RateLimiter,
    link_requests_per_ip: i64,
    link_mail_per_org: i64,
    /// Sending outcomes (`crate::metrics`).
    metrics: crate::metrics::Metrics,
}

/// An hourly limit counted in the shared cache, a third of it (at least 1) per node while the
/// cache is unreachable.
fn hourly(kind: &'static str, per_hour: i64) -> Limit {
    Limit {
        kind,
        per_window: per_hour,
        local_per_window: crate::limits::local_share(per_hour),
        window_secs: 3600,
    }
}

impl std::fmt::Debug for EmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailService")
    }
}

impl EmailService {
    pub fn new(
        store: Store,
        cache: Cache,
        clock: SharedClock,
        config: &EmailConfig,
    ) -> anyhow::Result<Self> {
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?
                    .timeout(Some(StdDuration::from_secs(10)))
                    .build(),
            ),
            None => Mailer::Mailbox(config.dev_mailbox_dir.clone()),
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("email.from: {e}"))?;
        Ok(Self {
            store,
            local: Arc::new(Mutex::new(HashMap::new())),
            mailer,
            from,
            invitations_per_hour: config.invitations_per_org_per_hour,
            limiter: RateLimiter::new(cache.clone(), clock.clone()),
            link_requests_per_ip: config.link_requests_per_ip_per_hour,
            link_mail_per_org: config.link_mail_per_org_per_hour,
            cache,
            clock,
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// Counts sending outcomes into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Counts one form-triggered message to `address` in `org`; false once the hourly quota
    /// is used up.
    pub async fn unprompted_allowed(&self, org: OrgId, address: &str) -> bool {
        let allowed = self
            .within_quota(
                org,
                "mail-quota",
                &address.to_lowercase(),
                UNPROMPTED_PER_ADDRESS_PER_HOUR,
            )
            .await;
        if !allowed {
            tracing::info!(org = %org, "email quota of an address used up; message dropped");
        }
        allowed
    }

    /// Counts one "forgot password" or "new verification link" request from `ip` (any
    /// well-formed address, before it is looked up: reserve, then check); false once the
    /// address's hourly limit (`email.link_requests_per_ip_per_hour`) is used up. An IPv6
    /// client counts by its /64.
    pub async fn link_request_allowed(&self, org: OrgId, ip: &str) -> bool {
        let limit = hourly("link-requests", self.link_requests_per_ip);
        let allowed = self
            .limiter
            .hit(org, &limit, &crate::limits::limit_subject(ip))
            .await
            .is_ok();
        if !allowed {
            tracing::info!(org = %org, "link requests of a client address used up; message dropped");
        }
        allowed
    }

    /// Counts one message of those forms in `org`; false once the org's hourly limit
    /// (`email.link_mail_per_org_per_hour`) is used up.
    pub async fn link_mail_allowed(&self, org: OrgId) -> bool {
        let limit = hourly("link-mail", self.link_mail_per_org);
        let allowed = self.limiter.hit(org, &limit, "org").await.is_ok();
        if !allowed {
            // Users of the org get no reset or verification mail until the hour ends: worth
            // an operator's look (a flood from many addresses), unlike one client's limit.
            tracing::warn!(org = %org, "link mail of the org used up; message dropped");
        }
        allowed
    }

    /// Counts one invitation of `org` (admin API or CLI); false once the org's hourly quota
    /// (`email.invitations_per_org_per_hour`) is used up.
    pub async fn invitation_allowed(&self, org: OrgId) -> bool {
        let allowed = self
            .within_quota(org, "invite-quota", "org", self.invitations_per_hour)
            .await;
        if !allowed {
            tracing::info!(org = %org, "invitation quota of the org used up; invitation refused");
        }
        allowed
    }

    /// The org's invitations per hour.
    pub fn invitations_per_hour(&self) -> i64 {
        self.invitations_per_hour
    }

    /// Counts one event of `kind` for `id` in `org`; false once more than `limit` happened in
    /// the hour. Counted in the shared cache (exact across nodes), or per node while it is down
    /// (never unlimited).
    pub async fn within_quota(&self, org: OrgId, kind: &str, id: &str, limit: i64) -> bool {
        let key = CacheKey::org(org, kind, id);
        let count = match self.cache.incr(&key, StdDuration::from_secs(3600)).await {
            Ok(n) => n,
            Err(_) => {
                let now = self.clock.now();
                let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
                if local.len() > 10_000 {
                    local.retain(|_, (start, _)| now - *start < Duration::hours(1));
                }
                let entry = local.entry(key.as_str().to_owned()).or_insert((now, 0));
                if now - entry.0 >= Duration::hours(1) {
                    *entry = (now, 0);
                }
                entry.1 += 1;
                entry.1
            }
        };
        count <= limit
    }

    /// The org's template of `kind`, and whether it is the org's own (else the built-in one).
    pub async fn template(
        &self,
        org: OrgId,
        kind: super::TemplateKind,
    ) -> Result<(super::Template, bool), StoreError> {
        Ok(match self.store.email_template(org, kind).await? {
            Some(t) => (t, true),
            None => (super::templates::default_template(kind), false),
        })
    }

    /// Stores the org's template of `kind` (`None`: back to the built-in one); checked with
    /// `templates::validate` first.
    pub async fn set_template(
        &self,
        org: OrgId,
        kind: super::TemplateKind,
        template: Option<&super::Template>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.store
            .set_email_template(org, kind, template, actor, now)
            .await
    }

    /// Where the dev mailbox writes, when there is no SMTP server.
    pub fn mailbox_dir(&self) -> Option<&PathBuf> {
        match &self.mailer {
            Mailer::Mailbox(dir) => Some(dir),
            Mailer::Smtp(_) => None,
        }
    }

    fn message(&self, e: &OutgoingEmail) -> Result<Message, String> {
        let to: Mailbox = Mailbox::new(
            None,
            e.to.parse()
                .map_err(|_| "invalid recipient address".to_owned())?,
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(e.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                e.text.clone(),
                e.html.clone(),
            ))
            .map_err(|err| err.to_string())
    }

    /// Sends one message; in the dev mailbox, returns the readable copy's path.
    async fn send(&self, q: &QueuedEmail) -> Result<Option<PathBuf>, String> {
        let message = self.message(&q.email)?;
        match &self.mailer {
            Mailer::Smtp(transport) => transport
                .send(message)
                .await
                .map(|_| None)
                .map_err(|e| format!("smtp: {e}")),
            Mailer::Mailbox(dir) => {
                let dir = dir.clone();
                let eml = dir.join(format!("{}.eml", q.id));
                let txt = dir.join(format!("{}.txt", q.id));
                let bytes = message.formatted();
                let readable = mailbox_text(&q.email);
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(eml, bytes)?;
                    std::fs::write(&txt, readable).map(|()| Some(txt))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("dev mailbox: {e}"))
            }
        }
    }

    /// One worker pass; returns how many messages were attempted.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let rows = self
            .store
            .claim_emails(now, now + Duration::seconds(60), CLAIM_BATCH)
            .await?;
        for q in &rows {
            let outcome = self.send(q).await;
            let done = self.clock.now();
            let attempt = q.attempts + 1;
            match &outcome {
                Ok(None) => {
                    self.metrics.email("sent");
                    tracing::info!(email = %q.id, org = %q.org_id, "email sent");
                    self.store.finish_email(q, None, None, done).await?;
                }
                // The dev mailbox: the file, never the body or its link, goes in the log.
                Ok(Some(file)) => {
                    self.metrics.email("sent");
                    tracing::info!(email = %q.id, org = %q.org_id, file = %file.display(), "email written to the dev mailbox");
                    self.store.finish_email(q, None, None, done).await?;
                }
                Err(e) => {
                    let next = (attempt < MAX_ATTEMPTS).then(|| done + BACKOFF.delay(attempt));
                    self.metrics
                        .email(if next.is_some() { "retry" } else { "failed" });
                    tracing::warn!(email = %q.id, org = %q.org_id, attempt, error = %e, "email not sent");
                    self.store.finish_email(q, Some(e), next, done).await?;
                }
            }
        }
        Ok(rows.len())
    }

    /// Runs the worker forever (spawned by `serve`).
    pub async fn run_worker(self) {
        run_every(StdDuration::from_secs(1), self, |email| async move {
            if let Err(e) = email.run_once().await {
                tracing::warn!(error = %e, "email pass failed");
            }
            email
        })
        .await
    }
}

/// The dev mailbox's readable copy of a message: headers and the plain-text part as written,
/// so a link copied from a terminal works (the `.eml` beside it is quoted-printable).
fn mailbox_text(e: &OutgoingEmail) -> String {
    format!(
        "To: {}\nSubject: {}\n\n{}\n",
        e.to,
        e.subject,
        e.text.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_the_old_doubling_with_jitter() {
        for attempt in 1..MAX_ATTEMPTS {
            let old = (2_i64 << attempt.min(11)).min(3600);
            let d = BACKOFF.delay(attempt);
            assert!(d >= Duration::seconds(old), "{attempt}: {d}");
            assert!(d <= Duration::milliseconds(old * 1250), "{attempt}: {d}");
        }
    }
}
