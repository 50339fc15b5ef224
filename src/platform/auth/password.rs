//! argon2id hashing on the blocking pool, with bounded concurrency so logins never
//! stall the async workers or starve other requests of CPU.
//!
//! - **Fair share**: each caller (a client address: every password is hashed before a
//!   tenant is known) holds at most half of the slots, so one address's login, signup
//!   or invitation-acceptance storm cannot starve everyone else's logins. Adding a
//!   member hashes nothing any more (it sends an invitation).
//! - **Pepper**: the password is keyed with HMAC-SHA256 under a secret that lives
//!   outside the database (`CRM_PASSWORD_PEPPER`) before argon2 sees it, so hashes read
//!   from the database (a dump, or the app role's login lookup) cannot be cracked
//!   offline without it. The stored hash names its pepper (`p<id>$argon2id$…`), so the
//!   pepper can be rotated: retired peppers still verify (`CRM_PASSWORD_PEPPERS_RETIRED`),
//!   new hashes use the current one. Hashes stored before peppers existed (plain PHC
//!   strings) still verify as they are.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use argon2::{
    Argon2, PasswordHash, PasswordVerifier,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use hmac::{Hmac, Mac};
use prometheus::IntCounter;
use sha2::Sha256;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::platform::{config::Pepper, error::ApiError, validation::Fields};

const MIN_PASSWORD: usize = 10;
/// argon2 cost grows with input; cap it so a huge password cannot be a DoS.
const MAX_PASSWORD: usize = 1024;

/// The password rule of every form that sets one: 10 to 1024 characters.
pub fn check_password(fields: &mut Fields, password: &str) {
    let length = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        fields.error(
            "password",
            format!("must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        );
    }
}

/// Longer than any password [`check_password`] accepts (counted the same way, in
/// characters), so login can refuse it without paying for a hash.
pub fn password_too_long(password: &str) -> bool {
    password.chars().count() > MAX_PASSWORD
}

/// Who a hash is computed for: the unit of the fair share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashingFor {
    /// A request of this tenant, made by one of its members.
    Tenant(uuid::Uuid),
    /// A request before any tenant is known (signup, login, accepting an invitation),
    /// by client address.
    Client(String),
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Per caller: at most `share` of the slots.
    shares: Arc<Mutex<HashMap<HashingFor, Arc<Semaphore>>>>,
    share: usize,
    /// How long a request waits for a permit before it is refused with a 503.
    wait: Duration,
    /// Verified against when the email is unknown, so both cases cost the same.
    decoy_hash: Arc<str>,
    peppers: Arc<Peppers>,
    /// Counts every argon2 computation (`crm_password_hashes_total`).
    hashes: IntCounter,
}

/// The current pepper and the retired ones that still verify.
pub struct Peppers {
    current: Pepper,
    retired: Vec<Pepper>,
}

impl Peppers {
    pub fn new(current: Pepper, retired: Vec<Pepper>) -> Self {
        Self { current, retired }
    }

    fn find(&self, id: &str) -> Option<&Pepper> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|pepper| pepper.id == id)
    }
}

/// The argon2 input: the password keyed with the pepper.
fn peppered(pepper: &Pepper, password: &str) -> Result<Vec<u8>, ApiError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper.key.expose().as_bytes())
        .map_err(ApiError::internal)?;
    mac.update(password.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Splits a stored hash into its pepper id (none for a hash stored before peppers)
/// and its PHC string.
fn split_stored(stored: &str) -> (Option<&str>, &str) {
    match stored
        .strip_prefix('p')
        .and_then(|rest| rest.split_once('$'))
    {
        Some((id, phc)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            // The PHC string begins with `$`; `split_once` took it.
            (Some(id), &stored[stored.len() - phc.len() - 1..])
        }
        _ => (None, stored),
    }
}

/// A slot of the whole pool and of the caller's share; released together.
struct Permits {
    _share: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl PasswordHasher {
    /// argon2id with the crate defaults (m=19 MiB, t=2, p=1: OWASP's minimum).
    pub fn new(
        concurrency: usize,
        wait: Duration,
        peppers: Peppers,
        hashes: IntCounter,
    ) -> Result<Self, ApiError> {
        let concurrency = concurrency.max(1);
        let decoy = peppered(&peppers.current, "decoy password that matches nothing")?;
        let decoy_hash = hash_blocking(&decoy)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            shares: Arc::default(),
            share: (concurrency / 2).max(1),
            wait,
            decoy_hash: format!("p{}{decoy_hash}", peppers.current.id).into(),
            peppers: Arc::new(peppers),
            hashes,
        })
    }

    fn share_of(&self, caller: &HashingFor) -> Arc<Semaphore> {
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        if shares.len() > 10_000 {
            // Forget idle callers (nobody else holds their semaphore).
            shares.retain(|_, share| Arc::strong_count(share) > 1);
        }
        shares
            .entry(caller.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
            .clone()
    }

    /// A slot of the caller's share and of the pool, or 503 once `wait` has passed:
    /// under a storm requests fail fast instead of queueing without bound.
    async fn permit(&self, caller: &HashingFor) -> Result<Permits, ApiError> {
        let share = self.share_of(caller);
        let both = async {
            let share = share.acquire_owned().await?;
            let global = self.permits.clone().acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(Permits {
                _share: share,
                _global: global,
            })
        };
        match tokio::time::timeout(self.wait, both).await {
            Ok(permits) => permits.map_err(ApiError::internal),
            Err(_) => Err(ApiError::Unavailable(
                "Too many sign-ins are in progress; retry shortly.",
            )),
        }
    }

    /// The stored form of `password`: peppered with the current pepper, then argon2id.
    pub async fn hash(&self, password: String, caller: &HashingFor) -> Result<String, ApiError> {
        let _permits = self.permit(caller).await?;
        self.hashes.inc();
        let pepper = &self.peppers.current;
        let input = peppered(pepper, &password)?;
        let phc = tokio::task::spawn_blocking(move || hash_blocking(&input))
            .await
            .map_err(ApiError::internal)??;
        Ok(format!("p{}{phc}", pepper.id))
    }

    /// True when `password` matches the stored `hash`; with no hash, burns the same
    /// time and fails.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
        caller: &HashingFor,
    ) -> Result<bool, ApiError> {
        let _permits = self.permit(caller).await?;
        self.hashes.inc();
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| self.decoy_hash.to_string());
        let (pepper, phc) = split_stored(&stored);
        let input = match pepper {
            None => password.into_bytes(),
            Some(id) => match self.peppers.find(id) {
                Some(pepper) => peppered(pepper, &password)?,
                None => {
                    tracing::error!(pepper = id, "a stored hash names an unknown pepper");
                    return Ok(false);
                }
            },
        };
        let phc = phc.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|parsed| Argon2::default().verify_password(&input, &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(known && matches)
    }
}

fn hash_blocking(input: &[u8]) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(input, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| ApiError::internal(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::config::Secret;

    fn pepper(id: &str) -> Pepper {
        Pepper {
            id: id.to_owned(),
            key: Secret::new(format!("unit-test-pepper-{id}-5c1e9a7b3d2f4e6a")),
        }
    }

    fn hasher(concurrency: usize, wait_ms: u64, current: &str, retired: &[&str]) -> PasswordHasher {
        let peppers = Peppers::new(
            pepper(current),
            retired.iter().map(|id| pepper(id)).collect(),
        );
        let hashes = IntCounter::new("unit_hashes", "unit").expect("counter");
        PasswordHasher::new(concurrency, Duration::from_millis(wait_ms), peppers, hashes)
            .expect("hasher")
    }

    fn client(name: &str) -> HashingFor {
        HashingFor::Client(name.to_owned())
    }

    #[tokio::test]
    async fn a_full_hasher_refuses_after_its_wait() {
        let hasher = hasher(1, 10, "1", &[]);
        let held = hasher.permit(&client("a")).await.expect("permit");
        let refused = hasher
            .verify("password".to_owned(), None, &client("b"))
            .await;
        assert!(matches!(refused, Err(ApiError::Unavailable(_))));
        drop(held);
        assert!(
            !hasher
                .verify("password".to_owned(), None, &client("b"))
                .await
                .expect("runs")
        );
    }

    /// Finding 5: one caller's burst holds at most its share; another caller still
    /// gets a slot at once.
    #[tokio::test]
    async fn one_caller_cannot_take_every_slot() {
        let hasher = hasher(2, 50, "1", &[]);
        let tenant = client("198.51.100.4");
        let held = hasher.permit(&tenant).await.expect("the tenant's share");
        assert!(
            matches!(hasher.permit(&tenant).await, Err(ApiError::Unavailable(_))),
            "the same caller waits for its own share"
        );
        let other = hasher.permit(&client("203.0.113.9")).await;
        assert!(other.is_ok(), "someone else is served meanwhile");
        drop(held);
    }

    #[tokio::test]
    async fn hashes_are_peppered_and_survive_a_pepper_rotation() {
        let before = hasher(2, 1000, "1", &[]);
        let stored = before
            .hash("correct horse battery".to_owned(), &client("a"))
            .await
            .expect("hash");
        assert!(stored.starts_with("p1$argon2id$"), "{stored}");
        let plain = PasswordHash::new(split_stored(&stored).1).expect("phc");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &plain)
                .is_err(),
            "without the pepper the stored hash is useless"
        );

        let rotated = hasher(2, 1000, "2", &["1"]);
        let caller = client("a");
        let check = async |hasher: &PasswordHasher, password: &str| {
            hasher
                .verify(password.to_owned(), Some(stored.clone()), &caller)
                .await
                .expect("runs")
        };
        assert!(check(&rotated, "correct horse battery").await);
        assert!(!check(&rotated, "wrong horse battery").await);
        let forgotten = hasher(2, 1000, "3", &[]);
        assert!(!check(&forgotten, "correct horse battery").await);
    }

    #[tokio::test]
    async fn hashes_stored_before_peppers_still_verify() {
        let legacy = hash_blocking(b"correct horse battery").expect("hash");
        let hasher = hasher(2, 1000, "1", &[]);
        let ok = hasher
            .verify(
                "correct horse battery".to_owned(),
                Some(legacy),
                &client("a"),
            )
            .await
            .expect("runs");
        assert!(ok);
    }
}
