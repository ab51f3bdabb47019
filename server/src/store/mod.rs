//! Durable state: the only module that imports SeaORM. Every function on org-owned data takes
//! the org id first and filters by it, so a row of one org is unreachable through another.

mod admin;
mod apps;
mod audit_sink;
pub mod cache;
mod device;
mod email;
mod entities;
mod export;
mod housekeeping;
mod keys;
mod metrics;
mod oidc;
mod orgs;
mod outbox;
mod sessions;
mod single_use;
mod slo;
mod users;
mod webauthn;
pub use admin::{AuditQuery, UserQuery};
pub use email::{EmailLink, LinkAttempt, LinkPurpose, NewEmailLink, PendingSignup};
pub use export::{ExportRows, TABLES as EXPORT_TABLES};
pub use housekeeping::Purged;
pub use metrics::OutboxDepth;
pub use oidc::{ConsentRow, Rotation};
pub use single_use::SingleUseKind;
pub use webauthn::StoredCredential;

use crate::audit::AuditEvent;
use crate::config::DatabaseConfig;
use chrono::{DateTime, Utc};
use portcullis_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Set, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// At most this many SQLite connections (one writes at a time; see `config/default.toml`).
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// A pooled connection idle this long is pinged before it is used again.
const POOL_PING_IF_IDLE: Duration = Duration::from_secs(10);
/// How long a SQLite statement waits for another connection's write lock before it fails (and
/// the request is answered 503 as an outage).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

/// Errors of the storage layer, already sorted into what callers decide on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (slug, email, client id taken).
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The database cannot be reached or did not answer in time (connection refused, reset or
    /// timed out, no pooled connection within the acquire timeout, the server shutting down or
    /// out of connections): an outage, answered 503 with `Retry-After`, never a verdict on the
    /// request. See `is_outage`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    /// Anything else: a bug or a schema problem (500).
    #[error("database error: {0}")]
    Db(#[source] DbErr),
    /// A value that could not be encoded for the database, or a stored value that does not
    /// decode (a bug or a hand-edited row: 500).
    #[error("stored value: {0}")]
    Encoding(String),
}

impl StoreError {
    /// True for `Unavailable`: the database is away, try again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict,
            _ if db_unavailable(&err) => Self::Unavailable(err),
            _ => Self::Db(err),
        }
    }
}

/// Whether a database error means "the database cannot be reached or did not answer" rather
/// than "this statement is wrong": I/O and TLS errors (refused, reset, closed), pool timeouts,
/// protocol errors (a connection cut mid-message), and the server's own "go away" answers
/// (PostgreSQL class 08 connection exceptions, 57P01–57P03 shutdown/starting up, 53300 too many
/// connections, 55P03 and 57014 a lock or statement timeout; SQLite busy or locked past its busy
/// timeout).
pub fn db_unavailable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
        DbErr::Conn(_) => true,
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::SqlxError) -> bool {
    use sea_orm::SqlxError as E;
    match err {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed => true,
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
                code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            } else {
                // 55P03 (a lock not granted within `lock_timeout`) and 57014 (a statement
                // cancelled, as by `statement_timeout`) are PostgreSQL's "busy past the
                // timeout", like SQLite's SQLITE_BUSY.
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "53300" | "55P03" | "57014"
                    )
            }
        }
        _ => false,
    }
}

/// Whether an error, or any error it was caused by, is an outage of the database or the cache
/// (not a verdict on the request, and not a bug): what the HTTP edge answers with 503 and
/// `Retry-After`. Domain errors wrap `StoreError` and `CacheError` with `#[from]` (or
/// `transparent`), so the cause is found by walking `source()`.
pub fn is_outage(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(s) = e.downcast_ref::<StoreError>() {
            return s.is_unavailable();
        }
        if let Some(d) = e.downcast_ref::<DbErr>() {
            return db_unavailable(d);
        }
        if let Some(x) = e.downcast_ref::<sea_orm::SqlxError>() {
            return sqlx_unavailable(x);
        }
        if e.downcast_ref::<cache::CacheError>().is_some() {
            return true;
        }
        if let Some(o) = e.downcast_ref::<crate::oidc::OidcError>() {
            return o.code == crate::oidc::OidcErrorCode::TemporarilyUnavailable;
        }
        next = e.source();
    }
    false
}

/// Why the database could not be used at start-up: the URL tried (password redacted) and what
/// failed, said once (no source chain repeating it).
#[derive(Debug, thiserror::Error)]
#[error("{url}: {cause}")]
pub struct ConnectError {
    /// The database URL with its password replaced by `***`.
    pub url: String,
    pub cause: String,
}

/// Handle to the database; cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

/// Key of the PostgreSQL advisory lock that serialises migrations across nodes
/// (the bytes of "pcmigrat" as an i64).
const MIGRATION_LOCK_KEY: i64 = 0x7063_6d69_6772_6174;

impl Store {
    /// Connects to the configured database, creating the SQLite file's directory if missing.
    /// On failure, one plain connection says why (refused, no answer, not PostgreSQL,
    /// authentication, missing database), in an error that names the redacted URL.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, ConnectError> {
        let url = config.url.expose();
        let failed = |cause: String| ConnectError {
            url: redacted_url(url),
            cause,
        };
        if let Some(dir) = sqlite_file(url)
            .and_then(|path| Path::new(path).parent())
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                failed(format!(
                    "cannot create the SQLite directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut options = ConnectOptions::new(url.to_owned());
        let max_connections = if url.starts_with("sqlite:") {
            config.max_connections.min(SQLITE_MAX_CONNECTIONS)
        } else {
            config.max_connections
        };
        options
            .max_connections(max_connections)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .acquire_timeout(Duration::from_secs(config.connect_timeout_secs))
            // Statements carry secrets' hashes and personal data: never log them.
            .sqlx_logging(false)
            // sqlx pings a connection when it goes back to the pool and, by default, again
            // when it is taken: on SQLite each ping is a hand-off to the connection's worker
            // thread, on PostgreSQL a round trip, i.e. as dear as the statement itself. A
            // SQLite file cannot go away under a connection; a PostgreSQL connection is pinged
            // only after it sat idle (a hot one was pinged when it came back to the pool).
            .test_before_acquire_if_idle_for(POOL_PING_IF_IDLE)
            // SQLite set up for a server: WAL (readers never wait for the writer, a commit is
            // one append), synchronous=NORMAL (a commit survives a crash of the process; the
            // last commits before a power loss or OS crash may be lost, the file is never
            // corrupted), writers wait up to the busy timeout for the write lock instead of
            // failing, foreign keys enforced. No memory map (`mmap_size` stays 0): a connection
            // that finds another one committed since its last read drops its page cache and,
            // with a map, unmaps and maps the whole file again (a TLB shootdown and a page
            // fault per page touched); on the refresh benchmark that cost 10 % of the CPU more
            // than reading the few pages again with `pread` (docs/BENCHMARKS.md).
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        let timeout = Duration::from_secs(config.connect_timeout_secs);
        match Database::connect(options).await {
            Ok(db) => Ok(Self { db }),
            Err(err) if url.starts_with("postgres") => {
                Err(failed(diagnose_postgres(url, timeout, &err).await))
            }
            Err(err) => Err(failed(one_message(&err))),
        }
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`,
    /// so concurrent writers queue on the busy timeout: a deferred transaction that has read
    /// and then writes cannot wait for the lock (SQLite answers `SQLITE_BUSY` at once, which
    /// would be a 503). On PostgreSQL a plain `BEGIN`.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let sqlite_transaction_mode = (self.db.get_database_backend() == DbBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate);
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode,
                ..Default::default()
            })
            .await
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Applies pending migrations and returns how many this call applied. On PostgreSQL the
    /// whole run holds a transaction-scoped advisory lock, so nodes starting together take
    /// turns: the first migrates, the others find nothing pending. PostgreSQL DDL is
    /// transactional, so a failed run leaves the schema as it was.
    pub async fn migrate(&self) -> Result<usize, DbErr> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let txn = self.db.begin().await?;
                txn.execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                ))
                .await?;
                let pending = Migrator::get_pending_migrations(&txn).await?.len();
                Migrator::up(&txn, None).await?;
                txn.commit().await?;
                Ok(pending)
            }
            _ => {
                let pending = Migrator::get_pending_migrations(&self.db).await?.len();
                Migrator::up(&self.db, None).await?;
                Ok(pending)
            }
        }
    }

    /// Names of the migrations this build would apply, in order, without applying any (nor
    /// creating the migrations table on a fresh database). Fails when the database has a
    /// migration this build does not know (it is newer than this binary).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, DbErr> {
        Ok(Migrator::get_pending_migrations_read_only(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// Names of all migrations this build knows, applied or not.
    pub fn known_migrations() -> usize {
        Migrator::migrations().len()
    }

    /// `SELECT 1` through the pool: is the database reachable?
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

/// A database URL fit for logs: the password (and a `password` query parameter) replaced by
/// `***`; an unparsable URL is not shown at all.
pub fn redacted_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "(the configured database URL, which does not parse)".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// A `DbErr` said once: its `Display` without the runtime error it wraps repeating itself.
fn one_message(err: &DbErr) -> String {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e.to_string(),
        other => other.to_string(),
    }
}

/// Why PostgreSQL at `url` cannot be used, found with one plain connection (the pool only says
/// that it timed out when the port refuses or never answers).
async fn diagnose_postgres(url: &str, timeout: Duration, pool_err: &DbErr) -> String {
    use sea_orm::SqlxError as E;
    use sea_orm::sqlx::postgres::PgConnectOptions;
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let options: PgConnectOptions = match url.parse() {
        Ok(o) => o,
        Err(e) => return format!("not a valid PostgreSQL URL: {e}"),
    };
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let user = options.get_username().to_owned();
    let database = options
        .get_database()
        .unwrap_or(options.get_username())
        .to_owned();
    let err = match tokio::time::timeout(timeout, options.connect()).await {
        Err(_) => {
            return format!(
                "no answer within {} s from {at} (a listener that never speaks, or packets \
                 dropped on the way: is this PostgreSQL's address and port?)",
                timeout.as_secs()
            );
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            return format!(
                "a plain connection works, but the pool could not connect: {}",
                one_message(pool_err)
            );
        }
        Ok(Err(e)) => e,
    };
    match &err {
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {at} (is PostgreSQL running and listening there?)")
        }
        E::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            format!("{at} does not speak PostgreSQL ({io})")
        }
        E::Protocol(m) => format!("{at} does not speak PostgreSQL (protocol error: {m})"),
        E::Io(io) => format!("cannot reach {at}: {io}"),
        E::Tls(t) => format!("TLS with {at} failed: {t}"),
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                "28P01" | "28000" => format!(
                    "authentication failed for user \"{user}\" at {at}: {}",
                    db.message()
                ),
                "3D000" => format!(
                    "database \"{database}\" does not exist on {at} (create it, e.g. \
                     `createdb -h {} -p {} -U {user} {database}`)",
                    options.get_host(),
                    options.get_port()
                ),
                "57P03" => format!("PostgreSQL at {at} is starting up or shutting down"),
                "53300" => format!("PostgreSQL at {at} has too many connections"),
                _ => format!(
                    "PostgreSQL at {at} refused the connection: {} ({code})",
                    db.message()
                ),
            }
        }
        other => other.to_string(),
    }
}

/// The file path of a `sqlite:` URL, or `None` for in-memory databases and other backends.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") || rest.contains("mode=memory") {
        None
    } else {
        Some(path)
    }
}

impl Store {
    /// Records an audit event on its own (when no other change goes with it, e.g. a failed
    /// sign-in).
    pub async fn record_audit(
        &self,
        event: &AuditEvent,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        insert_audit(&self.db, event, at).await?;
        Ok(())
    }

    /// The most recent audit events of an org, newest first: (action, details).
    pub async fn recent_audit(
        &self,
        org: crate::tenancy::OrgId,
        limit: u64,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        Ok(entities::audit_events::Entity::find()
            .filter(entities::audit_events::Column::OrgId.eq(org.0))
            .order_by_desc(entities::audit_events::Column::At)
            .order_by_desc(entities::audit_events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                (
                    m.action,
                    serde_json::from_str(&m.details).unwrap_or_default(),
                )
            })
            .collect())
    }
}

/// Writes an audit event on the given connection or transaction.
async fn insert_audit<C: ConnectionTrait>(
    conn: &C,
    event: &AuditEvent,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = entities::audit_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(event.org_id.0),
        at: Set(at),
        actor: Set(event.actor.clone()),
        action: Set(event.action.to_owned()),
        target: Set(event.target.clone()),
        details: Set(event.details.to_string()),
        // Numbered after commit by the audit sink's worker (`store/audit_sink.rs`). Not named
        // in the INSERT (nor read back): the write works on a schema from before the column
        // (a node of this release beside a database not yet migrated, or the reverse).
        seq: sea_orm::ActiveValue::NotSet,
    };
    <entities::audit_events::Entity as sea_orm::EntityTrait>::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_from_bugs() {
        use sea_orm::{ConnAcquireErr, RuntimeErr, SqlxError};
        use std::sync::Arc;
        let outage = |e: DbErr| matches!(StoreError::from(e), StoreError::Unavailable(_));
        assert!(outage(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)));
        let io = SqlxError::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(outage(DbErr::Query(RuntimeErr::SqlxError(Arc::new(io)))));
        assert!(outage(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(
            SqlxError::PoolTimedOut
        )))));
        assert!(!outage(DbErr::Custom("a bug".into())));
        assert!(!outage(DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            SqlxError::RowNotFound
        )))));
        // Through the domain errors that wrap it, transparent or not.
        let wrapped = crate::keys::KeyError::Store(StoreError::from(DbErr::ConnectionAcquire(
            ConnAcquireErr::ConnectionClosed,
        )));
        assert!(is_outage(&wrapped));
        let bug = crate::sessions::SessionError::Store(StoreError::Db(DbErr::Custom("x".into())));
        assert!(!is_outage(&bug));
        assert!(is_outage(&cache::CacheError::Timeout));
        assert!(!is_outage(&crate::keys::KeyError::InvalidToken));
    }

    /// SQLite's outage: a database another process holds locked past the busy timeout.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_an_outage() {
        use sea_orm::sqlx::sqlite::SqliteConnectOptions;
        use sea_orm::sqlx::{ConnectOptions as _, Connection as _, Executor as _};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("locked.db"))
            .create_if_missing(true)
            .busy_timeout(Duration::from_millis(50));
        let mut holder = options.connect().await.unwrap();
        holder.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        holder.execute("BEGIN EXCLUSIVE").await.unwrap();
        let mut other = options.connect().await.unwrap();
        let err = other.execute("INSERT INTO t VALUES (1)").await.unwrap_err();
        assert!(sqlx_unavailable(&err), "{err:?}");
        let db_err = DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(err)));
        assert!(StoreError::from(db_err).is_unavailable());
        let _ = other.close().await;
        let _ = holder.close().await;
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redacted_url("postgres://idp:s3cret@db:5432/idp?sslmode=require"),
            "postgres://idp:***@db:5432/idp?sslmode=require"
        );
        assert_eq!(
            redacted_url("postgres://db/idp?user=idp&password=s3cret"),
            "postgres://db/idp?user=idp&password=***"
        );
        assert_eq!(redacted_url("postgres://db/idp"), "postgres://db/idp");
        assert!(!redacted_url("not a url s3cret").contains("s3cret"));
    }

    #[test]
    fn sqlite_paths_are_found() {
        assert_eq!(
            sqlite_file("sqlite://./data/p.db?mode=rwc"),
            Some("./data/p.db")
        );
        assert_eq!(sqlite_file("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
