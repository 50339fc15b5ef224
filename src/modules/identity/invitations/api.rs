//! `/invitations`: the tenant's invitations; managers list, resend and revoke them.
//! Inviting is `POST /users` ([`invite`]), accepting `POST /auth/invitations/accept`.

use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{Invitation, InvitationList, NewInvitation, NewInvitationBody, store};
use crate::modules::identity::{MODULE, messages, users::require_owner_for};
use crate::platform::{
    auth::Auth,
    db::TenantTx,
    error::{ApiError, problems},
    state::SharedState,
    tenancy::{Role, TenantContext},
};

#[derive(Tags)]
enum InvitationTags {
    /// Invitations to join the tenant, until the invitee accepts them.
    Invitations,
}

#[derive(ApiResponse)]
enum InvitationSent {
    /// The link is on its way to the address.
    #[oai(status = 202)]
    Accepted(Json<Invitation>),
}

#[derive(ApiResponse)]
enum InvitationListResponse {
    #[oai(status = 200)]
    Ok(Json<InvitationList>),
}

#[derive(ApiResponse)]
enum InvitationRevoked {
    /// The link no longer works.
    #[oai(status = 204)]
    Revoked,
}

/// Invites `body.email` to the caller's tenant (managers only; only owners invite
/// owners) and queues the link. The answer is the same whether or not the email has
/// an account anywhere; a member of this tenant already answers 409.
pub async fn invite(
    state: &SharedState,
    auth: &Auth,
    body: NewInvitationBody,
) -> Result<Invitation, ApiError> {
    let context = auth.manager()?;
    let new = NewInvitation::try_from(body)?;
    require_owner_for(context.role(), new.role == Role::Owner)?;
    let mut tx = state.db.tx(context, &MODULE).await?;
    // The membership's role, not the token's (read in the first flight).
    require_owner_for(tx.role(), new.role == Role::Owner)?;
    if store::has_member_with_email(&mut tx, &new.email).await? {
        return Err(ApiError::Conflict(
            "This person is already a member of the tenant.".to_owned(),
        ));
    }
    let message = messages::invitation(&state.public_url, new.role);
    Ok(store::create(tx, &new, &message).await?)
}

pub struct InvitationsApi {
    state: SharedState,
}

impl InvitationsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// Opens a manager's transaction on invitation `id`, provided the caller may touch
    /// it (only owners touch an owner's invitation); with the invitation's role.
    /// `NotFound` for no such invitation of the tenant.
    async fn managed(
        &self,
        context: TenantContext,
        id: Uuid,
    ) -> Result<(TenantTx, Role), ApiError> {
        let mut tx = self.state.db.tx(context, &MODULE).await?;
        let role = store::role_of(&mut tx, id).await?;
        require_owner_for(tx.role(), role == Role::Owner)?;
        Ok((tx, role))
    }
}

#[OpenApi(prefix_path = "/invitations", tag = "InvitationTags::Invitations")]
impl InvitationsApi {
    /// List the tenant's invitations
    ///
    /// Owners and admins only; oldest first, whatever their status. Keyset-paginated
    /// with `cursor`, like every list.
    #[oai(path = "/", method = "get", operation_id = "listInvitations")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<InvitationListResponse, problems::ReadManaged> {
        let context = auth.manager()?;
        let query = store::list_query(cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::list(self.state.db.tx(context, &MODULE).await?, query).await?;
        Ok(InvitationListResponse::Ok(Json(InvitationList {
            items,
            next_cursor,
        })))
    }

    /// Resend an invitation
    ///
    /// Owners and admins only (owners for an owner's invitation). Sends a fresh link,
    /// valid for 7 more days; the previous link stops working. An accepted or revoked
    /// invitation, or one of another tenant, is 404.
    #[oai(
        path = "/:id/resend",
        method = "post",
        operation_id = "resendInvitation"
    )]
    async fn resend(
        &self,
        auth: Auth,
        /// The invitation's id.
        id: Path<Uuid>,
    ) -> Result<InvitationSent, problems::Remove> {
        let context = auth.manager()?;
        let (tx, role) = self.managed(context, id.0).await?;
        let message = messages::invitation(&self.state.public_url, role);
        let invitation = store::send_and_commit(tx, id.0, &message).await?;
        Ok(InvitationSent::Accepted(Json(invitation)))
    }

    /// Revoke an invitation
    ///
    /// Owners and admins only (owners for an owner's invitation). Its link stops
    /// working. An accepted or already revoked invitation, or one of another tenant,
    /// is 404.
    #[oai(path = "/:id", method = "delete", operation_id = "revokeInvitation")]
    async fn revoke(
        &self,
        auth: Auth,
        /// The invitation's id.
        id: Path<Uuid>,
    ) -> Result<InvitationRevoked, problems::Remove> {
        let context = auth.manager()?;
        let (tx, _) = self.managed(context, id.0).await?;
        store::revoke(tx, id.0).await?;
        Ok(InvitationRevoked::Revoked)
    }
}
