//! Password hashing with argon2id, off the async workers.
//!
//! Hashing is deliberately slow, so it runs on tokio's blocking pool, and a
//! semaphore bounds how many hashes run at once: a login storm queues here instead
//! of taking every blocking thread.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        HashParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    /// Real argon2id with the smallest cost argon2 allows. For tests only: it
    /// protects nothing against an offline attack.
    pub fn insecure_fast() -> Self {
        HashParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Why hashing failed (bad parameters, or the blocking pool is gone).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct AuthError(String);

/// Hashes and verifies passwords on the blocking pool, at most `concurrency` at once.
#[derive(Debug, Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// A hash to verify against when the user does not exist, so that an unknown
    /// user costs as much time as a wrong password.
    dummy: Arc<OnceLock<String>>,
}

impl Hasher {
    /// A hasher with these parameters running at most `concurrency` hashes at once.
    pub fn new(params: HashParams, concurrency: usize) -> Result<Self, AuthError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| AuthError(e.to_string()))?;
        Ok(Hasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceLock::new()),
        })
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let argon2 = self.argon2.clone();
        self.blocking(move || hash_sync(&argon2, &password)).await?
    }

    /// Verifies `password` against `hash`; with `None` (no such user) does the same
    /// work against a dummy hash and returns `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let argon2 = self.argon2.clone();
        let dummy = Arc::clone(&self.dummy);
        self.blocking(move || {
            let (hash, real) = match hash {
                Some(h) => (h, true),
                None => {
                    let d = match dummy.get() {
                        Some(d) => d.clone(),
                        None => {
                            let d = hash_sync(&argon2, "chatcore dummy password")?;
                            dummy.get_or_init(|| d).clone()
                        }
                    };
                    (d, false)
                }
            };
            let parsed = PasswordHash::new(&hash).map_err(|e| AuthError(e.to_string()))?;
            Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok() && real)
        })
        .await?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthError(e.to_string()))
    }
}

fn hash_sync(argon2: &Argon2<'_>, password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = Hasher::new(HashParams::insecure_fast(), 2).unwrap();
        let hash = h.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!h.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!h.verify("correct horse".into(), None).await.unwrap());
    }
}
