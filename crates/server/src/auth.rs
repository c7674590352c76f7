//! Secrets: argon2id password hashes, computed off the async worker threads,
//! and login tokens, of which only a SHA-256 is ever stored.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Hashes and checks passwords on the blocking pool, a bounded number at a
/// time, so a storm of password logins cannot starve the network threads
/// nor queue unbounded work.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
}

/// A hash could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    /// argon2id with `m_kib` KiB of memory and `t` passes; at most
    /// `parallel` hashes at once.
    pub fn new(m_kib: u32, t: u32, parallel: usize) -> Result<Passwords, HashError> {
        let params = Params::new(m_kib, t, 1, None).map_err(|e| HashError(e.to_string()))?;
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
        })
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `work` on the blocking pool, at most `parallel` at a time.
    async fn off_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let hasher = self.hasher();
        tokio::task::spawn_blocking(move || work(hasher))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// A PHC string (`$argon2id$...`) with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.off_thread(move |hasher| {
            hasher
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches the stored PHC string. The parameters
    /// stored in the string are used, so old hashes keep working after the
    /// configured cost changes.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, HashError> {
        self.off_thread(move |hasher| {
            let parsed = PasswordHash::new(&phc).map_err(|e| HashError(e.to_string()))?;
            Ok(hasher.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

/// A new random token (256 bits, base64url) for a login.
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    // getrandom reads the OS generator; it fails only when the OS has none,
    // in which case no secure server can run at all.
    getrandom::fill(&mut raw).expect("the OS random generator is available");
    URL_SAFE_NO_PAD.encode(raw)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let pw = Passwords::new(1024, 1, 2).unwrap();
        let a = pw.hash("secret1".into()).await.unwrap();
        let b = pw.hash("secret1".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salts differ");
        assert!(pw.verify("secret1".into(), a.clone()).await.unwrap());
        assert!(!pw.verify("secret2".into(), a).await.unwrap());
        assert!(pw.verify("x".into(), "not a hash".into()).await.is_err());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, new_token());
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_ne!(token_hash(&t), token_hash(&new_token()));
    }
}
