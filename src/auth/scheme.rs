//! The security scheme: a bearer JWT, described as OAuth2 password flow so the docs'
//! Authorize button can log in.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use super::JwtKeys;
use crate::{db::TenantContext, error::ApiError};

/// A verified caller: the tenant, user and role from a valid access token.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "oauth2",
    flows(password(token_url = "/api/v1/auth/login")),
    checker = "authenticate"
)]
pub struct Auth(pub TenantContext);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<TenantContext> {
    let keys = req
        .data::<Arc<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("JWT keys missing from the app"))?;
    Ok(keys.verify(&bearer.token)?)
}

impl Auth {
    /// The context, provided the caller's role may change tenant data.
    pub fn writer(&self) -> Result<TenantContext, ApiError> {
        if self.0.role.can_write() {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden("Read-only members cannot change data."))
        }
    }

    /// The context, provided the caller may manage the tenant's users.
    pub fn manager(&self) -> Result<TenantContext, ApiError> {
        if self.0.role.can_manage_users() {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden("Only owners and admins manage users."))
        }
    }
}
