//! `/notifications`: queue a message to a contact (writers), and read the tenant's
//! messages with their status (every member).

use chrono::Utc;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{Filters, Message, MessageList, NewMessage, NewMessageBody, ReviewBody, Status, store};
use crate::modules::integrations::notifications::{MODULE, NotificationTags, keys::Channel};
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    state::SharedState,
};

/// Why a member who is neither an owner nor an admin gets a 403.
const MANAGERS_ONLY: &str = "Only owners and admins resolve notifications under review.";

#[derive(ApiResponse)]
enum MessageQueued {
    /// Queued (or, by the consent rules, suppressed: see `status` and `reason`).
    #[oai(status = 201)]
    Created(Json<Message>),
    /// The message first queued with this `idempotency_key`; nothing new was queued.
    #[oai(status = 200)]
    Replayed(Json<Message>),
}

#[derive(ApiResponse)]
enum MessageResponse {
    #[oai(status = 200)]
    Ok(Json<Message>),
}

#[derive(ApiResponse)]
enum MessageListResponse {
    #[oai(status = 200)]
    Ok(Json<MessageList>),
}

pub struct MessagesApi {
    state: SharedState,
}

impl MessagesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(
    prefix_path = "/notifications",
    tag = "NotificationTags::Notifications"
)]
impl MessagesApi {
    /// Send a notification
    ///
    /// Queues a message to a contact on a channel, sent by the worker at `send_at`
    /// (now by default): a template (`template_key` and the values of its variables;
    /// the contact's and the tenant's are filled in, and the tenant's wording in force
    /// for `locale` is rendered when it is sent) or content as it is (`subject`,
    /// `text`, `html`). It goes to the address or number on the contact's record. An
    /// opted-out contact, a marketing message to a contact who did not opt in, or a
    /// contact without an address gives a message `suppressed` with the reason,
    /// recorded and never sent. Writers only.
    #[oai(path = "/", method = "post", operation_id = "sendNotification")]
    async fn send(
        &self,
        auth: Auth,
        body: Body<NewMessageBody>,
    ) -> Result<MessageQueued, problems::Write> {
        let context = auth.writer()?;
        let new = NewMessage::check(body.into_inner()?, Utc::now())?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(match store::queue(tx, &new).await? {
            store::Queued::Created(message) => MessageQueued::Created(Json(message)),
            store::Queued::Replayed(message) => MessageQueued::Replayed(Json(message)),
        })
    }

    /// List notifications
    ///
    /// The tenant's messages, newest first, whatever queued them (the API, an event, a
    /// reminder); keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listNotifications")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        /// Only messages in this status.
        status: Query<Option<Status>>,
        /// Only messages on this channel.
        channel: Query<Option<Channel>>,
        /// Only messages to this contact.
        contact_id: Query<Option<Uuid>>,
        /// Only messages about this record (a viewing's id).
        record_id: Query<Option<Uuid>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<MessageListResponse, problems::ReadMany> {
        let filters = Filters {
            status: status.0,
            channel: channel.0,
            contact_id: contact_id.0,
            record_id: record_id.0,
        };
        let query = store::list_query(filters, cursor.0, limit.0)?;
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(MessageListResponse::Ok(Json(MessageList {
            items,
            next_cursor,
        })))
    }

    /// Resolve a notification under review
    ///
    /// A message is under review (`review`) when the worker stopped after handing it to
    /// the provider and before hearing back. Check with the provider, then say
    /// `sent` (it has it: the message is `sent`, with `provider_id` if given) or
    /// `send_again` (it does not: the message is queued again, due now, consent checked
    /// again). A message in any other status is a 409. Owners and admins only.
    #[oai(
        path = "/:id/resolve",
        method = "post",
        operation_id = "resolveNotification"
    )]
    async fn resolve(
        &self,
        auth: Auth,
        /// The message's id.
        id: Path<Uuid>,
        body: Body<ReviewBody>,
    ) -> Result<MessageResponse, problems::Write> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let body = body.into_inner()?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        let message = store::resolve(tx, id.0, body.outcome, body.provider_id.as_deref())
            .await?
            .ok_or_else(|| {
                ApiError::Conflict(
                    "Only a message under review (status `review`) is resolved.".to_owned(),
                )
            })?;
        Ok(MessageResponse::Ok(Json(message)))
    }

    /// Get a notification
    #[oai(path = "/:id", method = "get", operation_id = "getNotification")]
    async fn get(
        &self,
        auth: Auth,
        /// The message's id.
        id: Path<Uuid>,
    ) -> Result<MessageResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(MessageResponse::Ok(Json(store::get(tx, id.0).await?)))
    }
}
