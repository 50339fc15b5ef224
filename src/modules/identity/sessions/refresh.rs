//! Refresh tokens: 256 random bits handed to the client once; only the SHA-256 hash is
//! stored.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub struct NewRefreshToken {
    pub id: Uuid,
    /// What the client keeps.
    pub token: String,
    /// What the database keeps.
    pub hash: Vec<u8>,
}

impl NewRefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        Self {
            id: Uuid::now_v7(),
            hash: hash(&token),
            token,
        }
    }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
