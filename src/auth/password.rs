//! argon2id hashing on the blocking pool, with bounded concurrency so logins never
//! stall the async workers or starve other requests of CPU.

use std::sync::Arc;

use argon2::{
    Argon2, PasswordHash, PasswordVerifier,
    password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng},
};
use tokio::sync::Semaphore;

use crate::{error::ApiError, validation::Fields};

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
    /// Verified against when the email is unknown, so both cases cost the same.
    decoy_hash: Arc<str>,
}

impl PasswordHasher {
    /// argon2id with the crate defaults (m=19 MiB, t=2, p=1: OWASP's minimum).
    pub fn new(concurrency: usize) -> Result<Self, ApiError> {
        let decoy_hash = hash_blocking("decoy password that matches nothing")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy_hash: decoy_hash.into(),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(ApiError::internal)?
    }

    /// True when `password` matches `hash`; with no hash, burns the same time and fails.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
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
