//! `/patients/{id}/access-log` and `/clinic/access-log/verify`: owners and admins only.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{AccessLogPage, AccessLogVerification, ChainHead, store};
use crate::modules::verticals::clinic::{ClinicTags, begin};
use crate::platform::{auth::Auth, error::problems, state::SharedState};

/// Who may read and verify the access log.
const AUDITING: &str = "Only owners and admins read the access log.";

#[derive(ApiResponse)]
enum AccessLogResponse {
    #[oai(status = 200)]
    Ok(Json<AccessLogPage>),
}

#[derive(ApiResponse)]
enum VerificationResponse {
    #[oai(status = 200)]
    Ok(Json<AccessLogVerification>),
}

pub struct AccessLogApi {
    state: SharedState,
}

impl AccessLogApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ClinicTags::Clinic")]
impl AccessLogApi {
    /// A patient's access log
    ///
    /// Who read the patient's record, notes and appointments, when, from where and
    /// why; newest first. Owners and admins only.
    #[oai(
        path = "/patients/:id/access-log",
        method = "get",
        operation_id = "listPatientAccessLog"
    )]
    async fn list(
        &self,
        auth: Auth,
        /// The patient's id.
        id: Path<Uuid>,
        /// Only entries before this place in the chain (`next_before` of the previous page).
        #[oai(validator(minimum(value = "1")))]
        before: Query<Option<i64>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
    ) -> Result<AccessLogResponse, problems::ReadManaged> {
        let (tx, _) = begin(&self.state, auth.context(), auth.manager_or(AUDITING)).await?;
        let limit = limit.0.unwrap_or(50);
        let mut items = store::list(tx, id.0, before.0, limit + 1).await?;
        let more = usize::try_from(limit).is_ok_and(|limit| items.len() > limit);
        items.truncate(
            items
                .len()
                .min(usize::try_from(limit).unwrap_or(usize::MAX)),
        );
        let next_before = items.last().filter(|_| more).map(|last| last.seq);
        Ok(AccessLogResponse::Ok(Json(AccessLogPage {
            items,
            next_before,
        })))
    }

    /// Verify the access log
    ///
    /// Recomputes the tenant's whole hash chain: a row changed, added or removed by
    /// hand, or the tail cut off, is found and named. A valid chain's `head` is the
    /// anchor to keep elsewhere; given back as `anchor_seq` and `anchor_hash`, it
    /// catches even a rewrite whose author recomputed every later hash. Owners and
    /// admins only.
    #[oai(
        path = "/clinic/access-log/verify",
        method = "get",
        operation_id = "verifyAccessLog"
    )]
    async fn verify(
        &self,
        auth: Auth,
        /// The `seq` of a head kept from an earlier verification.
        #[oai(validator(minimum(value = "1")))]
        anchor_seq: Query<Option<i64>>,
        /// The `hash` of that head (64 lowercase hex digits).
        #[oai(validator(pattern = "^[0-9a-f]{64}$"))]
        anchor_hash: Query<Option<String>>,
    ) -> Result<VerificationResponse, problems::ReadManaged> {
        let anchor = auth
            .manager_or(AUDITING)
            .and_then(|_| ChainHead::anchor(anchor_seq.0, anchor_hash.0));
        let (tx, anchor) = begin(&self.state, auth.context(), anchor).await?;
        Ok(VerificationResponse::Ok(Json(
            store::verify(tx, anchor.as_ref()).await?,
        )))
    }
}
