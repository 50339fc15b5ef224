//! `/users`: the tenant's members; owners and admins invite them, change their roles
//! and deactivate them.

use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{Member, MemberList, MemberPatch, MemberPatchBody, store};
use crate::modules::identity::{
    MODULE,
    invitations::{self, Invitation, NewInvitationBody},
};
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    state::SharedState,
    tenancy::TenantContext,
};

#[derive(Tags)]
enum UserTags {
    /// The people who can log in to the tenant, and their roles.
    Users,
}

#[derive(ApiResponse)]
enum MemberResponse {
    #[oai(status = 200)]
    Ok(Json<Member>),
}

#[derive(ApiResponse)]
enum InvitationSent {
    /// The invitation exists and its link is on its way; nobody has joined yet.
    #[oai(status = 202)]
    Accepted(Json<Invitation>),
}

#[derive(ApiResponse)]
enum MemberListResponse {
    #[oai(status = 200)]
    Ok(Json<MemberList>),
}

pub struct UsersApi {
    state: SharedState,
}

impl UsersApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// Applies `patch` to a member, provided the caller may, and the tenant still has
    /// an active owner afterwards (else nothing changes: 409).
    async fn update_member(
        &self,
        context: TenantContext,
        id: Uuid,
        patch: MemberPatch,
    ) -> Result<Member, ApiError> {
        let mut tx = self.state.db.tx(context, &MODULE).await?;
        // The caller's role as the membership says, read after the owners' lock: a
        // token issued before a demotion, or a demotion committed while this request
        // waited for the lock, is not trusted.
        let caller = if patch.may_remove_an_owner() {
            store::lock_active_owners(&mut tx).await?;
            store::caller_role(&mut tx).await?
        } else {
            tx.role()
        };
        let target = store::current_role(&mut tx, id).await?;
        patch.check_allowed(caller, target)?;
        let updated = store::apply(&mut tx, id, patch).await?;
        if store::active_owners(&mut tx).await? == 0 {
            return Err(ApiError::Conflict(
                "A tenant must keep at least one active owner.".to_owned(),
            ));
        }
        tx.commit().await?;
        Ok(updated)
    }
}

#[OpenApi(prefix_path = "/users", tag = "UserTags::Users")]
impl UsersApi {
    /// List the tenant's members
    ///
    /// Every member, active or not, oldest membership first; any role may read it.
    /// Keyset-paginated with `cursor`, like every list.
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<MemberListResponse, problems::ReadMany> {
        let query = store::list_query(cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::list(self.state.db.tx(auth.context(), &MODULE).await?, query).await?;
        Ok(MemberListResponse::Ok(Json(MemberList {
            items,
            next_cursor,
        })))
    }

    /// Invite a member
    ///
    /// Owners and admins only; only owners may invite owners. Creates an invitation and
    /// emails its link; the person joins only by accepting it
    /// (`POST /auth/invitations/accept`). The answer is the same whether or not the
    /// email has an account anywhere, and names no account. A person who is already a
    /// member here, even a deactivated one, answers 409: reactivate them with
    /// `PATCH /users/{id}` instead. Manage invitations under `/invitations`.
    #[oai(path = "/", method = "post", operation_id = "inviteUser")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewInvitationBody>,
    ) -> Result<InvitationSent, problems::Write> {
        let invitation = invitations::invite(&self.state, &auth, body.into_inner()?).await?;
        Ok(InvitationSent::Accepted(Json(invitation)))
    }

    /// Get a member
    ///
    /// Any role may read it. An id that is not a member of this tenant is 404.
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        auth: Auth,
        /// The member's user id.
        id: Path<Uuid>,
    ) -> Result<MemberResponse, problems::ReadOne> {
        let member = store::get(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?;
        Ok(MemberResponse::Ok(Json(member)))
    }

    /// Change a member's role, or deactivate or reactivate them
    ///
    /// Owners and admins only. Only an owner may grant the owner role or change an
    /// owner's membership, and a change that would leave the tenant without an active
    /// owner is refused with 409.
    ///
    /// There is no delete: set `active` to `false`. A deactivated member cannot log in,
    /// and their refresh tokens are refused at once; an access token they already hold
    /// keeps working until it expires (its lifetime, 15 minutes by default). The same
    /// holds for a role change: it applies to tokens issued from then on.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        auth: Auth,
        /// The member's user id.
        id: Path<Uuid>,
        body: Body<MemberPatchBody>,
    ) -> Result<MemberResponse, problems::Write> {
        let context = auth.manager()?;
        let patch = MemberPatch::try_from(body.into_inner()?)?;
        let member = self.update_member(context, id.0, patch).await?;
        Ok(MemberResponse::Ok(Json(member)))
    }
}
