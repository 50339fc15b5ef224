//! `/users`: the tenant's members; owners and admins add them, change their roles and
//! deactivate them.

use poem_openapi::{ApiResponse, OpenApi, Tags, param::Path, payload::Json};
use uuid::Uuid;

use super::{
    Member, MemberList, MemberPatch, MemberPatchBody, NewMember, NewMemberBody, require_owner_for,
    store,
};
use crate::modules::identity::MODULE;
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    state::SharedState,
    tenancy::{Role, TenantContext},
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
enum MemberCreated {
    /// The person is now a member of the tenant.
    #[oai(status = 201)]
    Created(Json<Member>),
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
        if patch.may_remove_an_owner() {
            store::lock_active_owners(&mut tx).await?;
        }
        let target = store::current_role(&mut tx, id).await?;
        patch.check_allowed(context.role(), target)?;
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
    /// Not paginated: a tenant has few users.
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(&self, auth: Auth) -> Result<MemberListResponse, problems::ReadMany> {
        let items = store::list(self.state.db.tx(auth.context(), &MODULE).await?).await?;
        Ok(MemberListResponse::Ok(Json(MemberList { items })))
    }

    /// Add a member
    ///
    /// Owners and admins only; only owners may add owners. When the email has no
    /// account yet, one is created with `full_name` and `password`. When it already has
    /// one (the person belongs to another tenant), that account joins as it is: it keeps
    /// its own name and password, and `full_name` and `password` are ignored. A person
    /// who is already a member, even a deactivated one, answers 409: reactivate them
    /// with `PATCH /users/{id}` instead.
    #[oai(path = "/", method = "post", operation_id = "addUser")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewMemberBody>,
    ) -> Result<MemberCreated, problems::Write> {
        let context = auth.manager()?;
        let new = NewMember::try_from(body.into_inner()?)?;
        require_owner_for(context.role(), new.role == Role::Owner)?;
        // Hashed even for an existing account, so the answer takes the same time.
        let password_hash = self.state.hasher.hash(new.password.clone()).await?;
        let member = store::add(
            self.state.db.tx(context, &MODULE).await?,
            &new,
            &password_hash,
        )
        .await?;
        Ok(MemberCreated::Created(Json(member)))
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
