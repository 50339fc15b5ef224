//! `/webhooks`: the tenant's endpoints (owners and admins only) and the catalogue of
//! event types.

use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    AttemptList, CreatedEndpoint, Endpoint, EndpointList, EndpointPatch, EndpointPatchBody,
    EventType, EventTypeList, MODULE, NewEndpoint, NewEndpointBody, Ping, Redelivered, Redelivery,
    RotatedSecret, store,
};
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    events::Catalogue,
    state::SharedState,
    webhooks::new_secret,
};

#[derive(Tags)]
enum WebhookTags {
    /// Endpoints that receive the tenant's events, signed the Standard Webhooks way.
    Webhooks,
}

#[derive(ApiResponse)]
enum EndpointCreated {
    /// The endpoint receives events from now on; `secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<CreatedEndpoint>),
}

#[derive(ApiResponse)]
enum EndpointResponse {
    #[oai(status = 200)]
    Ok(Json<Endpoint>),
}

#[derive(ApiResponse)]
enum SecretRotated {
    /// Deliveries are signed with the new secret, and with the previous ones until
    /// `previous_valid_until`.
    #[oai(status = 201)]
    Created(Json<RotatedSecret>),
}

#[derive(ApiResponse)]
enum EndpointListResponse {
    #[oai(status = 200)]
    Ok(Json<EndpointList>),
}

#[derive(ApiResponse)]
enum EndpointDeleted {
    /// Deleted, with its secrets and the messages not yet delivered to it.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum AttemptListResponse {
    #[oai(status = 200)]
    Ok(Json<AttemptList>),
}

#[derive(ApiResponse)]
enum RedeliveryAccepted {
    /// Queued again; the worker sends them soon, signed and logged like any message.
    #[oai(status = 202)]
    Accepted(Json<Redelivered>),
}

#[derive(ApiResponse)]
enum PingAccepted {
    /// Queued; the worker sends it soon.
    #[oai(status = 202)]
    Accepted(Json<Ping>),
}

#[derive(ApiResponse)]
enum EventTypesResponse {
    #[oai(status = 200)]
    Ok(Json<EventTypeList>),
}

/// Why a member who is neither an owner nor an admin gets a 403 (the policies check the
/// role again against the membership).
const MANAGERS_ONLY: &str = "Only owners and admins manage webhooks.";

pub struct WebhooksApi {
    state: SharedState,
    /// What endpoints may subscribe to.
    events: Catalogue,
}

impl WebhooksApi {
    pub fn new(state: SharedState, events: Catalogue) -> Self {
        Self { state, events }
    }

    async fn redeliver(
        &self,
        auth: Auth,
        endpoint_id: Uuid,
        what: Redelivery,
    ) -> Result<RedeliveryAccepted, ApiError> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        let requeued = store::redeliver(tx, endpoint_id, what).await?;
        Ok(RedeliveryAccepted::Accepted(Json(Redelivered { requeued })))
    }
}

#[OpenApi(prefix_path = "/webhooks", tag = "WebhookTags::Webhooks")]
impl WebhooksApi {
    /// Create an endpoint
    ///
    /// Owners and admins only. The URL must be http or https, without credentials, and
    /// must not point at a loopback, private, link-local or metadata address (checked
    /// again after DNS at every delivery). The answer carries the signing secret, which
    /// is not shown again.
    #[oai(
        path = "/endpoints",
        method = "post",
        operation_id = "createWebhookEndpoint"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewEndpointBody>,
    ) -> Result<EndpointCreated, problems::Write> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let new = NewEndpoint::check(body.into_inner()?, &self.state.webhooks, &self.events)?;
        let secret = new_secret().map_err(ApiError::internal)?;
        let endpoint =
            store::create(self.state.db.tx(context, &MODULE).await?, &new, &secret).await?;
        Ok(EndpointCreated::Created(Json(CreatedEndpoint {
            endpoint,
            secret,
        })))
    }

    /// List the endpoints
    ///
    /// Owners and admins only; oldest first. Keyset-paginated with `cursor`, like every
    /// list.
    #[oai(
        path = "/endpoints",
        method = "get",
        operation_id = "listWebhookEndpoints"
    )]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<EndpointListResponse, problems::ReadManaged> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let query = store::list_query(cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::list(self.state.db.tx(context, &MODULE).await?, query).await?;
        Ok(EndpointListResponse::Ok(Json(EndpointList {
            items,
            next_cursor,
        })))
    }

    /// Get an endpoint
    ///
    /// Owners and admins only; the secret is not part of it.
    #[oai(
        path = "/endpoints/:id",
        method = "get",
        operation_id = "getWebhookEndpoint"
    )]
    async fn get(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
    ) -> Result<EndpointResponse, problems::Remove> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        Ok(EndpointResponse::Ok(Json(
            store::get(self.state.db.tx(context, &MODULE).await?, id.0).await?,
        )))
    }

    /// Change an endpoint
    ///
    /// Owners and admins only; absent fields stay as they are. The URL is checked as on
    /// creation. `enabled: false` pauses it (changes are not queued for it, what was
    /// queued waits); `enabled: true` resumes it, also after the platform disabled it on
    /// a 410.
    #[oai(
        path = "/endpoints/:id",
        method = "patch",
        operation_id = "updateWebhookEndpoint"
    )]
    async fn update(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
        body: Body<EndpointPatchBody>,
    ) -> Result<EndpointResponse, problems::Write> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let patch = EndpointPatch::check(body.into_inner()?, &self.state.webhooks, &self.events)?;
        Ok(EndpointResponse::Ok(Json(
            store::update(self.state.db.tx(context, &MODULE).await?, id.0, &patch).await?,
        )))
    }

    /// Rotate an endpoint's secret
    ///
    /// Owners and admins only. Answers a new secret, shown this once. For
    /// `overlap_hours` (0 to 168, default 24) every delivery carries a signature under
    /// the new secret and one under each previous secret, so a receiver can switch to
    /// the new one without missing a delivery; then only the new one signs.
    #[oai(
        path = "/endpoints/:id/secret",
        method = "post",
        operation_id = "rotateWebhookSecret"
    )]
    async fn rotate_secret(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
        /// How long the previous secrets stay valid, 0 to 168 hours (default 24).
        #[oai(validator(minimum(value = "0"), maximum(value = "168")))]
        overlap_hours: Query<Option<i32>>,
    ) -> Result<SecretRotated, problems::Act> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let secret = new_secret().map_err(ApiError::internal)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        let previous_valid_until =
            store::rotate(tx, id.0, &secret, overlap_hours.0.unwrap_or(24)).await?;
        Ok(SecretRotated::Created(Json(RotatedSecret {
            secret,
            previous_valid_until,
        })))
    }

    /// Delete an endpoint
    ///
    /// Owners and admins only. Messages not yet delivered to it are dropped.
    #[oai(
        path = "/endpoints/:id",
        method = "delete",
        operation_id = "deleteWebhookEndpoint"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
    ) -> Result<EndpointDeleted, problems::Remove> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(EndpointDeleted::Deleted)
    }

    /// An endpoint's delivery log
    ///
    /// Owners and admins only; newest first, keyset-paginated with `cursor`. One entry
    /// per attempt: the message (`message_id` is its `webhook-id`), the receiver's status,
    /// how long it took, the start of the answer, and what follows (`retrying` at
    /// `next_attempt_at`, `delivered`, `given_up`). Kept for `CRM_WEBHOOK_RETENTION_DAYS`.
    #[oai(
        path = "/endpoints/:id/attempts",
        method = "get",
        operation_id = "listWebhookAttempts"
    )]
    async fn attempts(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<AttemptListResponse, problems::ReadManaged> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let query = store::attempts_query(id.0, cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::attempts(self.state.db.tx(context, &MODULE).await?, id.0, query).await?;
        Ok(AttemptListResponse::Ok(Json(AttemptList {
            items,
            next_cursor,
        })))
    }

    /// Send a message again
    ///
    /// Owners and admins only. The message (`message_id` is its `webhook-id`, as the
    /// delivery log shows it) goes out again under the same id, as one more attempt,
    /// delivered or not; 404 while a worker is sending it. Nothing goes to a disabled
    /// endpoint until it is enabled.
    #[oai(
        path = "/endpoints/:id/messages/:message_id/redeliver",
        method = "post",
        operation_id = "redeliverWebhookMessage"
    )]
    async fn redeliver_one(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
        /// The message's id.
        message_id: Path<Uuid>,
    ) -> Result<RedeliveryAccepted, problems::Remove> {
        Ok(self
            .redeliver(auth, id.0, Redelivery::Message(message_id.0))
            .await?)
    }

    /// Send messages again since a time
    ///
    /// Owners and admins only. Every message written to the endpoint since `since`,
    /// delivered or not, goes out again under its own `webhook-id`, as one more attempt;
    /// those a worker is sending right now are left alone.
    #[oai(
        path = "/endpoints/:id/redeliver",
        method = "post",
        operation_id = "redeliverWebhookMessagesSince"
    )]
    async fn redeliver_since(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
        /// An RFC 3339 instant: the messages written since then.
        since: Query<DateTime<Utc>>,
    ) -> Result<RedeliveryAccepted, problems::Act> {
        Ok(self
            .redeliver(auth, id.0, Redelivery::Since(since.0))
            .await?)
    }

    /// Send a test message
    ///
    /// Owners and admins only. Queues a `webhook.test` message whose `data` is
    /// `{"endpoint_id"}`: signed, retried and logged like any other, so it shows whether
    /// the receiver gets and verifies deliveries.
    #[oai(
        path = "/endpoints/:id/test",
        method = "post",
        operation_id = "testWebhookEndpoint"
    )]
    async fn test(
        &self,
        auth: Auth,
        /// The endpoint's id.
        id: Path<Uuid>,
    ) -> Result<PingAccepted, problems::Remove> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let message_id = store::ping(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(PingAccepted::Accepted(Json(Ping { message_id })))
    }

    /// List the event types
    ///
    /// Every event an endpoint may subscribe to. Each message's body is
    /// `{"id", "type", "timestamp", "data"}`, where `data` is the resource as the API
    /// returns it; its `webhook-id` header is the event's `id`.
    #[oai(
        path = "/event-types",
        method = "get",
        operation_id = "listWebhookEventTypes"
    )]
    async fn event_types(&self, _auth: Auth) -> Result<EventTypesResponse, problems::ReadOne> {
        Ok(EventTypesResponse::Ok(Json(EventTypeList {
            items: self
                .events
                .kinds()
                .iter()
                .map(|kind| EventType {
                    name: kind.name.to_owned(),
                    description: kind.description.to_owned(),
                })
                .collect(),
        })))
    }
}
