//! The security scheme: a bearer JWT, described as OAuth2 password flow so the docs'
//! Authorize button can log in.
//!
//! The token is verified once per request: the HTTP host's first middleware (the rate
//! limiter, which needs the caller) verifies it and leaves a [`VerifiedCaller`] in the
//! request; the scheme's checker reads that, and verifies only when no middleware did.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{
    SecurityScheme,
    auth::{Bearer, BearerAuthorization},
};

use super::JwtKeys;
use crate::platform::{error::ApiError, tenancy::TenantContext};

/// A verified caller: the tenant, user and role from a valid access token.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "oauth2",
    flows(password(token_url = "/api/v1/auth/login")),
    checker = "authenticate"
)]
pub struct Auth(TenantContext);

/// The outcome of verifying a request's bearer token, kept in the request so nothing
/// verifies it twice. `None`: the request carried no bearer token, or a bad one.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedCaller(pub Option<TenantContext>);

impl VerifiedCaller {
    /// Reads and verifies the bearer token of `req`, parsed exactly as the scheme
    /// parses it.
    pub fn of(req: &Request, keys: &JwtKeys) -> Self {
        Self(
            Bearer::from_request(req)
                .ok()
                .and_then(|bearer| keys.verify(&bearer.token).ok()),
        )
    }
}

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<TenantContext> {
    if let Some(VerifiedCaller(verified)) = req.data::<VerifiedCaller>() {
        return verified.ok_or_else(|| {
            ApiError::Unauthorized("The access token is invalid or expired.").into()
        });
    }
    let keys = req
        .data::<Arc<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("JWT keys missing from the app"))?;
    Ok(keys.verify(&bearer.token)?)
}

impl Auth {
    /// The caller, whatever their role.
    pub fn context(&self) -> TenantContext {
        self.0
    }

    /// The context, provided the caller's role may change tenant data.
    pub fn writer(&self) -> Result<TenantContext, ApiError> {
        if self.0.role().can_write() {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden("Read-only members cannot change data."))
        }
    }

    /// The context, provided the caller may manage the tenant's users.
    pub fn manager(&self) -> Result<TenantContext, ApiError> {
        self.manager_or("Only owners and admins manage users.")
    }

    /// The context, provided the caller is an owner or an admin; a 403 saying
    /// `refusal` otherwise.
    pub fn manager_or(&self, refusal: &'static str) -> Result<TenantContext, ApiError> {
        if self.0.role().can_manage_users() {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden(refusal))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::platform::{
        config::{JwtConfig, Secret},
        tenancy::Role,
    };

    fn keys() -> Arc<JwtKeys> {
        Arc::new(JwtKeys::new(&JwtConfig {
            secret: Secret::new("unit-test-secret-3b9e1f0c7a2d4e6f8a1b3c5d"),
            generated: false,
            issuer: "crm".to_owned(),
            audience: "crm-api".to_owned(),
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(60),
        }))
    }

    fn request(token: &str, keys: &Arc<JwtKeys>, verified: Option<VerifiedCaller>) -> Request {
        let mut req = Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .finish();
        req.set_data(keys.clone());
        if let Some(verified) = verified {
            req.set_data(verified);
        }
        req
    }

    fn bearer(token: &str) -> Bearer {
        Bearer {
            token: token.to_owned(),
        }
    }

    /// The scheme takes the middleware's verdict as it is: it does not verify again.
    #[tokio::test]
    async fn the_scheme_uses_the_verification_the_middleware_made() {
        let keys = keys();
        let session = Uuid::now_v7();
        let context =
            TenantContext::vouched(Uuid::now_v7(), Uuid::now_v7(), Role::Member, Some(session));
        let token = keys.issue(context, session).expect("signs");

        let refused = request(&token, &keys, Some(VerifiedCaller(None)));
        assert!(authenticate(&refused, bearer(&token)).await.is_err());

        let trusted = request("not-a-jwt", &keys, Some(VerifiedCaller(Some(context))));
        assert_eq!(
            authenticate(&trusted, bearer("not-a-jwt")).await.ok(),
            Some(context)
        );

        let unverified = request(&token, &keys, None);
        assert_eq!(
            authenticate(&unverified, bearer(&token)).await.ok(),
            Some(context),
            "without the middleware, the scheme verifies itself"
        );
        let middleware = VerifiedCaller::of(&request(&token, &keys, None), &keys);
        assert_eq!(middleware.0, Some(context));
    }
}
