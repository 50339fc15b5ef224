//! argon2id hashing on the blocking pool, with bounded concurrency so logins never
//! stall the async workers or starve other requests of CPU.

use std::{sync::Arc, time::Duration};

use argon2::{
    Argon2, PasswordHash, PasswordVerifier,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::platform::{error::ApiError, validation::Fields};

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

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// How long a request waits for a permit before it is refused with a 503.
    wait: Duration,
    /// Verified against when the email is unknown, so both cases cost the same.
    decoy_hash: Arc<str>,
}

impl PasswordHasher {
    /// argon2id with the crate defaults (m=19 MiB, t=2, p=1: OWASP's minimum).
    pub fn new(concurrency: usize, wait: Duration) -> Result<Self, ApiError> {
        let decoy_hash = hash_blocking("decoy password that matches nothing")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
            decoy_hash: decoy_hash.into(),
        })
    }

    /// A hashing slot, or 503 once `wait` has passed: under a login storm requests
    /// fail fast instead of queueing without bound.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(permit) => permit.map_err(ApiError::internal),
            Err(_) => Err(ApiError::Unavailable(
                "Too many sign-ins are in progress; retry shortly.",
            )),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permit().await?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(ApiError::internal)?
    }

    /// True when `password` matches `hash`; with no hash, burns the same time and fails.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permit().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| ApiError::internal(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_hasher_refuses_after_its_wait() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(10)).expect("hasher");
        let held = hasher
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("permit");
        let refused = hasher.verify("password".to_owned(), None).await;
        assert!(matches!(refused, Err(ApiError::Unavailable(_))));
        drop(held);
        assert!(
            !hasher
                .verify("password".to_owned(), None)
                .await
                .expect("runs")
        );
    }
}
