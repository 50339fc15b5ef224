//! `/notifications/rules`: what the tenant's records send by themselves (every member
//! reads, owners and admins add and delete).

use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{MAX_RULES, NewRule, NewRuleBody, Rule, RuleList, store};
use crate::modules::integrations::notifications::{MODULE, NotificationTags};
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    state::SharedState,
};

#[derive(ApiResponse)]
enum RuleCreated {
    /// Added: it applies to every change from now on.
    #[oai(status = 201)]
    Created(Json<Rule>),
}

#[derive(ApiResponse)]
enum RuleResponse {
    #[oai(status = 200)]
    Ok(Json<Rule>),
}

#[derive(ApiResponse)]
enum RuleListResponse {
    #[oai(status = 200)]
    Ok(Json<RuleList>),
}

#[derive(ApiResponse)]
enum RuleDeleted {
    /// Deleted, and what it queued that has not gone out is cancelled.
    #[oai(status = 204)]
    Deleted,
}

/// Why a member who is neither an owner nor an admin gets a 403 (the policy checks the
/// role again against the membership).
const MANAGERS_ONLY: &str = "Only owners and admins change notification rules.";

pub struct RulesApi {
    state: SharedState,
}

impl RulesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(
    prefix_path = "/notifications/rules",
    tag = "NotificationTags::Notifications"
)]
impl RulesApi {
    /// Add a notification rule
    ///
    /// From now on, every viewing of the tenant sends by this rule, in the
    /// transaction that changes it: a `viewing_confirmation` when it is booked (and
    /// again when it moves), a `viewing_reminder` `offset_minutes` before it starts
    /// (moved with it, cancelled with it), a `viewing_feedback_request` with `link`
    /// `offset_minutes` after it is completed; and every clinic appointment an
    /// `appointment_reminder` `offset_minutes` before it starts (moved with it,
    /// cancelled with it). Each message follows the contact's
    /// consent like any other. At most 50 rules, one per key, channel and offset (409).
    /// Owners and admins only.
    #[oai(path = "/", method = "post", operation_id = "createNotificationRule")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewRuleBody>,
    ) -> Result<RuleCreated, problems::Write> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let new = NewRule::check(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        let rule = store::add(tx, Uuid::now_v7(), &new).await?.ok_or_else(|| {
            ApiError::Conflict(format!(
                "The tenant has {MAX_RULES} notification rules already; delete one first."
            ))
        })?;
        Ok(RuleCreated::Created(Json(rule)))
    }

    /// List the notification rules
    ///
    /// Every rule of the tenant, oldest first.
    #[oai(path = "/", method = "get", operation_id = "listNotificationRules")]
    async fn list(&self, auth: Auth) -> Result<RuleListResponse, problems::ReadOne> {
        let items = store::list(self.state.db.tx(auth.context(), &MODULE).await?).await?;
        Ok(RuleListResponse::Ok(Json(RuleList { items })))
    }

    /// Get a notification rule
    #[oai(path = "/:id", method = "get", operation_id = "getNotificationRule")]
    async fn get(
        &self,
        auth: Auth,
        /// The rule's id.
        id: Path<Uuid>,
    ) -> Result<RuleResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(RuleResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Delete a notification rule
    ///
    /// Its messages that no provider has been handed yet are cancelled (status
    /// `cancelled`, reason `rule_deleted`). Owners and admins only.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "deleteNotificationRule"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The rule's id.
        id: Path<Uuid>,
    ) -> Result<RuleDeleted, problems::Remove> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(RuleDeleted::Deleted)
    }
}
