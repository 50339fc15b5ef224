//! JWT access tokens: HS256 only, with `iss`, `aud`, `exp`, `nbf` and `iat` set and
//! validated. The tenant in a token is the only tenant a request can act for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::platform::{
    config::JwtConfig,
    error::ApiError,
    tenancy::{Role, TenantContext},
};

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The tenant the token acts for.
    pub tid: Uuid,
    /// The user's role in that tenant when the token was issued (informative: every
    /// request reads the current role from the membership).
    pub role: Role,
    /// The session: the refresh-token family this token was issued with. Every request
    /// checks it is still alive, so logout ends the access token too.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

impl JwtKeys {
    pub fn new(config: &JwtConfig) -> Self {
        let secret = config.secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_ttl,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Signs an access token for `context` in `session` (its refresh-token family).
    pub fn issue(&self, context: TenantContext, session: Uuid) -> Result<String, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(ApiError::internal)?
            .as_secs();
        let claims = Claims {
            sub: context.user_id(),
            tid: context.tenant_id(),
            role: context.role(),
            sid: session,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.access_ttl.as_secs(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Verifies signature, algorithm and time and audience claims; yields the context.
    pub fn verify(&self, token: &str) -> Result<TenantContext, ApiError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized("The access token is invalid or expired."))?
            .claims;
        Ok(TenantContext::vouched(
            claims.tid,
            claims.sub,
            claims.role,
            Some(claims.sid),
        ))
    }
}
