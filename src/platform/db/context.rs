//! The signed tenant context: what the server sends as the first statement of every
//! tenant transaction (`app.enter(claim)`, migration V8), so that the policies accept a
//! tenant, user and role only when the server made them. The key is read over the
//! owner connection at start-up (the application role cannot read it); the claim is
//! `<key id>.<tenant>.<user>.<session or empty>.<expiry>` and its HMAC-SHA256, hex.

use std::{
    fmt::Write,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_postgres::Client;

use super::SetupError;
use crate::platform::{config::Config, tenancy::TenantContext};

/// How long a claim may be entered after it was signed: it is entered at once, so this
/// only has to cover the clock difference between the server and the database.
const CLAIM_LIFETIME: Duration = Duration::from_secs(300);

/// The newest context key, which the server signs every claim with.
#[derive(Clone)]
pub struct ContextSigner {
    key_id: i32,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for ContextSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ContextSigner {
    /// Reads the newest key as the owner (`app.context_keys` is the owner's alone).
    pub async fn load(owner: &Client) -> Result<Self, SetupError> {
        let row = owner
            .query_opt(
                "SELECT id, secret FROM app.context_keys ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(|source| SetupError::Sql {
                context: "reading the context signing key",
                source,
            })?
            .ok_or(SetupError::NoContextKey)?;
        let secret: Vec<u8> = row.get("secret");
        Ok(Self {
            key_id: row.get("id"),
            mac: Hmac::new_from_slice(&secret).map_err(|_| SetupError::NoContextKey)?,
        })
    }

    /// The claim `app.enter` accepts for `context`, valid for [`CLAIM_LIFETIME`].
    pub fn claim(&self, context: &TenantContext) -> String {
        let expires = SystemTime::now()
            .checked_add(CLAIM_LIFETIME)
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_secs());
        let session = context.session().map(|s| s.to_string()).unwrap_or_default();
        let claim = format!(
            "{}.{}.{}.{session}.{expires}",
            self.key_id,
            context.tenant_id(),
            context.user_id(),
        );
        let mut mac = self.mac.clone();
        mac.update(b"enter.");
        mac.update(claim.as_bytes());
        let signature = mac.finalize().into_bytes();
        let mut signed = claim;
        signed.push('.');
        for byte in signature {
            // Writing to a String cannot fail.
            let _ = write!(signed, "{byte:02x}");
        }
        signed
    }
}

/// Connects as the owner and loads the signer.
pub async fn load_signer(config: &Config) -> Result<ContextSigner, SetupError> {
    ContextSigner::load(&owner(config).await?).await
}

/// Adds a new signing key (`crm context-key rotate`); servers sign with it once
/// restarted, and the older keys stay valid until retired. Answers the new key's id.
pub async fn rotate_context_key(config: &Config) -> Result<i32, SetupError> {
    let row = owner(config)
        .await?
        .query_one(
            "INSERT INTO app.context_keys DEFAULT VALUES RETURNING id",
            &[],
        )
        .await
        .map_err(|source| SetupError::Sql {
            context: "adding a context key",
            source,
        })?;
    Ok(row.get(0))
}

/// Deletes every key but the newest (`crm context-key retire`): contexts signed with
/// them, and servers not restarted since the rotation, are refused from now on.
/// Answers how many keys were retired.
pub async fn retire_context_keys(config: &Config) -> Result<u64, SetupError> {
    owner(config)
        .await?
        .execute(
            "DELETE FROM app.context_keys WHERE id < (SELECT max(id) FROM app.context_keys)",
            &[],
        )
        .await
        .map_err(|source| SetupError::Sql {
            context: "retiring context keys",
            source,
        })
}

async fn owner(config: &Config) -> Result<Client, SetupError> {
    let owner = config
        .database_url
        .expose()
        .parse()
        .map_err(SetupError::Url)?;
    super::owner_connect(&owner).await
}
