//! Secrets: argon2id password hashes, computed off the async worker threads,
//! and login tokens, of which only a SHA-256 is ever stored.
//!
//! Why a pool of our own threads: every argon2 hash needs `m` KiB of working
//! memory (19 MiB by default). Allocated afresh for each hash, on whichever
//! blocking-pool thread runs it, that memory is freed into glibc's
//! per-thread arenas and kept there: 200 failed logins for ids that do not
//! exist once pinned half a gigabyte, without an account. Here a fixed set
//! of threads, one per core, each owns one buffer of blocks and hashes into
//! it again and again. Hashes in flight never exceed the number of threads,
//! the memory they use is allocated once per thread, and a storm of logins
//! costs the attacker waiting time, not the server memory.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Work for a hashing thread; it gets the thread's own block buffer.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Hashes and checks passwords on a small pool of dedicated threads, a
/// bounded number at a time, so a storm of password logins can neither
/// starve the network threads, nor queue unbounded work, nor make memory
/// grow.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// Jobs for the hashing threads. Bounded: a caller waits (in order of
    /// arrival) while every thread is busy and the queue holds as many jobs
    /// again; a caller that goes away meanwhile leaves no work behind.
    jobs: mpsc::Sender<Job>,
}

/// A hash could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    fn from(e: impl std::fmt::Display) -> HashError {
        HashError(e.to_string())
    }
}

/// Salt length of new hashes, in bytes (argon2's recommendation).
const SALT_LEN: usize = argon2::RECOMMENDED_SALT_LEN;

impl Passwords {
    /// argon2id with `m_kib` KiB of memory and `t` passes; at most
    /// `parallel` hashes at once, each on its own thread with its own
    /// `m_kib` of memory, allocated at its first hash and kept.
    pub fn new(m_kib: u32, t: u32, parallel: usize) -> Result<Passwords, HashError> {
        let params = Params::new(m_kib, t, 1, None).map_err(HashError::from)?;
        let threads = parallel.max(1);
        let (jobs, rx) = mpsc::channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || hashing_thread(&rx))
                .map_err(HashError::from)?;
        }
        Ok(Passwords { params, jobs })
    }

    /// Runs `work` on a hashing thread with that thread's block buffer.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |blocks| {
            // Nobody waits for the answer any more (the connection closed):
            // spend no time on it.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(work(blocks));
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| HashError("the hashing threads have stopped".into()))?;
        rx.await
            .map_err(|_| HashError("a hashing thread dropped its job".into()))?
    }

    /// A PHC string (`$argon2id$...`) with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run(move |blocks| hash_phc(&params, password.as_bytes(), blocks))
            .await
    }

    /// Whether `password` matches the stored PHC string. The parameters
    /// stored in the string are used, so old hashes keep working after the
    /// configured cost changes.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, HashError> {
        self.run(move |blocks| verify_phc(password.as_bytes(), &phc, blocks))
            .await
    }
}

/// One hashing thread: takes jobs until every [`Passwords`] handle is gone.
fn hashing_thread(rx: &Mutex<mpsc::Receiver<Job>>) {
    // The thread's working memory, grown to the largest cost it has seen
    // (the configured one, or an older hash's) and reused for every hash.
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        // One idle thread waits on the queue, the others on the lock. A
        // poisoned lock means another thread panicked while waiting, which
        // `blocking_recv` does not do; stop rather than guess.
        let job = match rx.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => return,
        };
        let Some(job) = job else { return };
        // A panic inside argon2 must not take the thread (and a core's worth
        // of capacity) with it: the caller sees its job dropped.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut blocks)));
    }
}

/// The first `count` blocks of `blocks`, growing it when it is smaller.
fn memory(blocks: &mut Vec<Block>, count: usize) -> Result<&mut [Block], HashError> {
    if blocks.len() < count {
        blocks
            .try_reserve_exact(count - blocks.len())
            .map_err(HashError::from)?;
        blocks.resize(count, Block::new());
    }
    Ok(&mut blocks[..count])
}

/// argon2id of `password` with a fresh salt, as a PHC string.
fn hash_phc(
    params: &Params,
    password: &[u8],
    blocks: &mut Vec<Block>,
) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(HashError::from)?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    hasher
        .hash_password_into_with_memory(password, &salt, out, memory(blocks, params.block_count())?)
        .map_err(HashError::from)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::from)?,
        salt: Some(Salt::new(&salt).map_err(HashError::from)?),
        hash: Some(Output::new(out).map_err(HashError::from)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to the output stored in `phc`, with the
/// algorithm, version, cost and salt stored there. An unreadable string is
/// an error; a string without salt or output matches nothing.
fn verify_phc(password: &[u8], phc: &str, blocks: &mut Vec<Block>) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(HashError::from)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(HashError::from)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(HashError::from)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(HashError::from)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Ok(false);
    };
    let hasher = Argon2::new(algorithm, version, params.clone());
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    hasher
        .hash_password_into_with_memory(password, salt, out, memory(blocks, params.block_count())?)
        .map_err(HashError::from)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(out).map_err(HashError::from)? == *expected)
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
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let pw = Passwords::new(1024, 1, 2).unwrap();
        let a = pw.hash("secret1".into()).await.unwrap();
        let b = pw.hash("secret1".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(pw.verify("secret1".into(), a.clone()).await.unwrap());
        assert!(!pw.verify("secret2".into(), a).await.unwrap());
        assert!(pw.verify("x".into(), "not a hash".into()).await.is_err());
    }

    /// The reused buffer holds the previous hash's blocks; the results must
    /// be those of argon2's own API, which starts from fresh memory, both
    /// ways and whatever ran before on the same thread.
    #[tokio::test]
    async fn reused_memory_agrees_with_the_argon2_crate() {
        let pw = Passwords::new(256, 2, 1).unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 2, 1, None).unwrap(),
        );
        for i in 0..3 {
            let password = format!("password{i}");
            let ours = pw.hash(password.clone()).await.unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(
                reference
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            );
            let theirs = reference
                .hash_password(password.as_bytes())
                .unwrap()
                .to_string();
            assert!(pw.verify(password.clone(), theirs.clone()).await.unwrap());
            assert!(!pw.verify("wrong1".into(), theirs).await.unwrap());
        }
        // A hash of another cost (a bigger one, then a smaller one) still
        // verifies: its own parameters are used.
        for m in [512, 64] {
            let other = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, 1, 1, None).unwrap(),
            )
            .hash_password(b"secret1")
            .unwrap()
            .to_string();
            assert!(pw.verify("secret1".into(), other.clone()).await.unwrap());
            assert!(!pw.verify("secret2".into(), other).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_bad_hash_is_an_error_and_the_thread_serves_on() {
        let pw = Passwords::new(64, 1, 1).unwrap();
        assert!(
            pw.verify("x".into(), "$argon2id$v=19$broken".into())
                .await
                .is_err()
        );
        let ok = pw.hash("secret1".into()).await.unwrap();
        assert!(pw.verify("secret1".into(), ok).await.unwrap());
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
