//! Password hashing: argon2id at the OWASP parameters (m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool with bounded concurrency so a password storm cannot starve other requests or
//! exhaust memory.

use super::model::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet, argon2id, first recommended configuration.
pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// How many hashes may run at once (the semaphore's size).
    size: usize,
    /// The wait for a hashing slot (`crate::metrics`).
    metrics: crate::metrics::Metrics,
}

/// Every hashing permit, held until dropped (see `PasswordHasher::hold_all`).
#[derive(Debug)]
pub struct HashingHeld(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl PasswordHasher {
    /// `max_concurrent` 0 means one per CPU core.
    pub fn new(max_concurrent: usize) -> Self {
        let n = if max_concurrent == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            max_concurrent
        };
        Self {
            permits: Arc::new(Semaphore::new(n)),
            size: n,
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Records each hash's wait for a slot into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.size
    }

    /// How many hashes are running now (permits taken).
    pub fn running(&self) -> usize {
        self.size.saturating_sub(self.permits.available_permits())
    }

    /// Takes every hashing permit until the returned value is dropped: hashes wait meanwhile.
    /// Tests use it to keep sign-ins waiting for argon2, so the caps on waiting sign-ins can
    /// be shown without timing anything.
    pub async fn hold_all(&self) -> Result<HashingHeld, HashError> {
        let n = u32::try_from(self.size).map_err(|_| HashError::Join)?;
        self.permits
            .clone()
            .acquire_many_owned(n)
            .await
            .map(HashingHeld)
            .map_err(|_| HashError::Join)
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit moves into the blocking task: if the request is dropped (the client went
        // away), the hash still holds its permit until it has finished. The wait is a duration
        // on the monotonic clock (`crate::clock` owns times of day).
        let waiting = std::time::Instant::now();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Join)?;
        self.metrics.argon2_wait(waiting.elapsed().as_secs_f64());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| HashError::Join)?
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh 128-bit salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.clone();
        let mut salt_bytes = [0u8; 16];
        getrandom::fill(&mut salt_bytes).map_err(|e| HashError::Hash(e.to_string()))?;
        self.on_pool(move || {
            let salt =
                SaltString::encode_b64(&salt_bytes).map_err(|e| HashError::Hash(e.to_string()))?;
            argon2()?
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await
    }

    /// True when a stored hash was made with other parameters than today's and should be
    /// replaced at the next successful sign-in.
    pub fn needs_rehash(phc: &str) -> bool {
        !phc.starts_with(&format!(
            "$argon2id$v=19$m={M_COST_KIB},t={T_COST},p={P_COST}$"
        ))
    }

    /// True if `password` matches `phc`. A malformed stored hash never matches.
    pub async fn verify(&self, password: &Password, phc: &str) -> Result<bool, HashError> {
        let password = password.clone();
        let phc = phc.to_owned();
        self.on_pool(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Ok(false);
            };
            Ok(argon2()?
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(1);
        let pw = Password::parse("correct horse battery staple").unwrap();
        let phc = hasher.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify(&pw, &phc).await.unwrap());
        let wrong = Password::parse("correct horse battery stapler").unwrap();
        assert!(!hasher.verify(&wrong, &phc).await.unwrap());
        assert!(!hasher.verify(&pw, "not a hash").await.unwrap());
        // A fresh salt every time.
        assert_ne!(phc, hasher.hash(&pw).await.unwrap());
    }
}
