//! Where a test's state lives: the backends, the macro that runs a test on each, and a fresh
//! database per test.

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Where a test's state lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite file + in-process cache (the embedded default).
    Embedded,
    /// PostgreSQL server URL + Redis URL.
    External { postgres: String, redis: String },
}

impl Backend {
    /// The external backend when its URLs are set. Without them the test is skipped, unless
    /// PORTCULLIS_TEST_REQUIRE_EXTERNAL=1 (as in `cargo xtask test --all`), which fails it.
    pub fn external() -> Option<Self> {
        let pg = std::env::var("PORTCULLIS_TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let redis = std::env::var("PORTCULLIS_TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty());
        match (pg, redis) {
            (Some(postgres), Some(redis)) => Some(Self::External { postgres, redis }),
            _ if std::env::var("PORTCULLIS_TEST_REQUIRE_EXTERNAL").as_deref() == Ok("1") => {
                panic!("PORTCULLIS_TEST_DATABASE_URL and PORTCULLIS_TEST_REDIS_URL must be set")
            }
            _ => {
                eprintln!(
                    "skipped: PORTCULLIS_TEST_DATABASE_URL / PORTCULLIS_TEST_REDIS_URL not set"
                );
                None
            }
        }
    }

    pub fn redis_url(&self) -> Option<&str> {
        match self {
            Self::Embedded => None,
            Self::External { redis, .. } => Some(redis),
        }
    }
}

/// Defines `mod $name { sqlite_memory, postgres_redis }` running one async body per backend.
macro_rules! both_backends {
    ($name:ident, |$backend:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn case($backend: $crate::helpers::Backend) {
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                case($crate::helpers::Backend::Embedded).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                if let Some(backend) = $crate::helpers::Backend::external() {
                    case(backend).await
                }
            }
        }
    };
}

/// A fresh database: a SQLite file in a temp dir, or a new PostgreSQL database dropped at the
/// end of the test.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/portcullis.db?mode=rwc", dir.path().display());
                Self {
                    url,
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Backend::External { postgres, .. } => {
                let name = format!("pctest_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(postgres.as_str()).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let mut url = url::Url::parse(postgres).unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    postgres: Some((postgres.clone(), name)),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(server.as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

impl Backend {
    /// A fresh Redis URL and key prefix for the external backend; none for the embedded one.
    pub fn fresh_redis(&self) -> Option<(String, String)> {
        self.redis_url().map(|u| {
            (
                u.to_owned(),
                format!("pctest:{}:", uuid::Uuid::new_v4().simple()),
            )
        })
    }
}
