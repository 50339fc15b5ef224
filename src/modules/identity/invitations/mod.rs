//! Invitations: how a person joins a tenant. A manager invites an email with a role
//! (`POST /users`); the invitee accepts from the emailed link
//! (`POST /auth/invitations/accept`), which proves the address. Until then nothing is
//! joined, and nothing about the email's account (if any) is revealed to the tenant.

mod api;
mod store;

pub use api::{InvitationsApi, invite};

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::platform::{error::ApiError, tenancy::Role, validation::Fields};

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Sent; its link works until `expires_at`.
    Pending,
    /// The invitee joined the tenant.
    Accepted,
    /// A manager revoked it; its link no longer works.
    Revoked,
    /// Not accepted in time; resend it for a fresh link.
    Expired,
}

impl InvitationStatus {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "revoked" => Some(Self::Revoked),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// An invitation to join the tenant. It names no account: whether the email has one
/// anywhere is not the tenant's to know.
#[derive(Debug, Clone, Object)]
pub struct Invitation {
    /// The invitation's id.
    pub id: Uuid,
    /// The address the link was sent to.
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// Pending, accepted, revoked or expired.
    pub status: InvitationStatus,
    /// When the current link stops working.
    pub expires_at: DateTime<Utc>,
    /// When the invitation was made.
    pub created_at: DateTime<Utc>,
}

/// One page of the tenant's invitations.
#[derive(Debug, Object)]
pub struct InvitationList {
    /// Oldest first.
    pub items: Vec<Invitation>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An invitation to make. Unknown fields (such as `full_name` or `password`, which the
/// invitee chooses) are ignored.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewInvitationBody {
    /// The address to send the invitation to.
    #[oai(validator(
        min_length = 3,
        max_length = 320,
        pattern = r"^\s*[^\s@\x00-\x1F\x7F-\x9F]+@[^\s.\x00-\x1F\x7F-\x9F][^\s\x00-\x1F\x7F-\x9F]*\.[^\s\x00-\x1F\x7F-\x9F]*\s*$"
    ))]
    pub email: String,
    /// The role on accepting; only owners may invite owners.
    pub role: Role,
}

impl poem_openapi::types::Example for NewInvitationBody {
    fn example() -> Self {
        Self {
            email: "grace@example.com".into(),
            role: Role::Member,
        }
    }
}

/// A validated invitation to make.
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
}

impl TryFrom<NewInvitationBody> for NewInvitation {
    type Error = ApiError;

    fn try_from(body: NewInvitationBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let email = fields.email("email", &body.email);
        fields.finish()?;
        Ok(Self {
            email,
            role: body.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_email_is_rejected() {
        let body = NewInvitationBody {
            email: "not an address".into(),
            role: Role::Member,
        };
        let Err(ApiError::Validation(errors)) = NewInvitation::try_from(body) else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "email");
    }

    #[test]
    fn every_status_parses() {
        for status in ["pending", "accepted", "revoked", "expired"] {
            assert!(InvitationStatus::parse(status).is_some());
        }
        assert!(InvitationStatus::parse("joined").is_none());
    }
}
