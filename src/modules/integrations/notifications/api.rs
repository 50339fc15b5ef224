//! `/notifications`: the tenant's templates (every member reads and previews, owners and
//! admins save versions), the keys and their variables, and the wording in force.

use std::collections::BTreeMap;

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    CONTACT_RECORD, EffectiveTemplateList, MODULE, NewTemplate, NewTemplateBody, NotificationTags,
    Preview, PreviewBody, PreviewRecord, PreviewRequest, PreviewSource, Template, TemplateKeyInfo,
    TemplateKeyList, TemplateList, check_variables,
    keys::{self, Channel, TemplateKey},
    render::{self, Parts},
    store,
};
use crate::platform::{
    auth::Auth,
    contract::Body,
    db::DbError,
    error::{ApiError, problems},
    module::ModuleInfo,
    state::SharedState,
    validation::Fields,
};

#[derive(ApiResponse)]
enum TemplateCreated {
    /// Saved as the newest version, now in force.
    #[oai(status = 201)]
    Created(Json<Template>),
}

#[derive(ApiResponse)]
enum TemplateResponse {
    #[oai(status = 200)]
    Ok(Json<Template>),
}

#[derive(ApiResponse)]
enum TemplateListResponse {
    #[oai(status = 200)]
    Ok(Json<TemplateList>),
}

#[derive(ApiResponse)]
enum PreviewResponse {
    /// What the template renders to.
    #[oai(status = 200)]
    Ok(Json<Preview>),
}

#[derive(ApiResponse)]
enum TemplateKeysResponse {
    #[oai(status = 200)]
    Ok(Json<TemplateKeyList>),
}

#[derive(ApiResponse)]
enum EffectiveTemplatesResponse {
    #[oai(status = 200)]
    Ok(Json<EffectiveTemplateList>),
}

/// Why a member who is neither an owner nor an admin gets a 403 (the policy checks the
/// role again against the membership).
const MANAGERS_ONLY: &str = "Only owners and admins save notification templates.";

pub struct NotificationsApi {
    state: SharedState,
}

impl NotificationsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

/// A locale query parameter, checked.
fn locale_param(locale: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(locale) = locale else {
        return Ok(None);
    };
    let mut fields = Fields::new();
    let canonical = fields.locale("locale", &locale);
    fields.finish()?;
    Ok(Some(canonical))
}

impl NotificationsApi {
    /// The values `record` gives templates, read through the door of the module it
    /// belongs to (so a vertical the tenant switched off gives none). A type no served
    /// module declares, and an id the tenant has no record of, are 422s on the field.
    async fn record_values(
        &self,
        auth: &Auth,
        record: &PreviewRecord,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let (module, sql) = if record.record_type == CONTACT_RECORD {
            (&MODULE, None)
        } else {
            self.state
                .modules
                .iter()
                .find_map(|module| {
                    module
                        .notified_records
                        .iter()
                        .find(|notified| notified.record_type == record.record_type)
                        .map(|notified| (*module, Some(notified.variables_sql)))
                })
                .ok_or_else(|| unknown_record_type(&self.state.modules))?
        };
        let tx = self.state.db.tx(auth.context(), module).await?;
        match store::record_values(tx, sql, record.id).await {
            Err(DbError::NotFound) => Err(ApiError::invalid(
                "record.id",
                format!("the tenant has no {} with this id", record.record_type),
            )),
            Err(DbError::ModuleOff) => Err(ApiError::invalid(
                "record.type",
                format!("the tenant has switched off {}", module.title),
            )),
            values => Ok(values?),
        }
    }
}

/// The types a preview's record may have in this deployment, named in the 422.
fn unknown_record_type(modules: &[&ModuleInfo]) -> ApiError {
    let served = modules
        .iter()
        .flat_map(|module| module.notified_records)
        .map(|notified| notified.record_type);
    let known: Vec<&str> = std::iter::once(CONTACT_RECORD).chain(served).collect();
    ApiError::invalid(
        "record.type",
        format!("must be one of: {}", known.join(", ")),
    )
}

#[OpenApi(
    prefix_path = "/notifications",
    tag = "NotificationTags::Notifications"
)]
impl NotificationsApi {
    /// Save a template version
    ///
    /// Owners and admins only. Saves the template for its key, channel and locale as a
    /// new version (1 for the first), which is then the one in force; earlier versions
    /// stay readable. Checked before anything is written: each part's size (up to
    /// 20,000 characters) and syntax (a 422 naming the part and the line), every
    /// variable it uses against those its key offers (a 422 naming each unknown one,
    /// see `GET /notifications/template-keys`), and a trial render with the key's
    /// sample values in the sandbox (strict undefined variables, no includes, a work
    /// budget that stops runaway loops and recursion, capped output).
    #[oai(
        path = "/templates",
        method = "post",
        operation_id = "createNotificationTemplate"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewTemplateBody>,
    ) -> Result<TemplateCreated, problems::Write> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let new = NewTemplate::check(body.into_inner()?)?;
        let saved = store::create(self.state.db.tx(context, &MODULE).await?, &new).await?;
        Ok(TemplateCreated::Created(Json(saved)))
    }

    /// List the templates in force
    ///
    /// The tenant's newest version of each key, channel and locale it saved, oldest
    /// first; keyset-paginated with `cursor`, like every list. Keys the tenant has not
    /// written use the defaults: see `GET /notifications/effective-templates`.
    #[oai(
        path = "/templates",
        method = "get",
        operation_id = "listNotificationTemplates"
    )]
    async fn list(
        &self,
        auth: Auth,
        /// Only templates of this key.
        key: Query<Option<TemplateKey>>,
        /// Only templates of this channel.
        channel: Query<Option<Channel>>,
        /// Only templates of this BCP 47 locale (exactly; no fallback).
        #[oai(validator(min_length = 2, max_length = 35))]
        locale: Query<Option<String>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<TemplateListResponse, problems::ReadMany> {
        let filters = store::Filters {
            key: key.0,
            channel: channel.0,
            locale: locale_param(locale.0)?,
        };
        let query = store::list_query(filters, cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::list(self.state.db.tx(auth.context(), &MODULE).await?, query).await?;
        Ok(TemplateListResponse::Ok(Json(TemplateList {
            items,
            next_cursor,
        })))
    }

    /// Get a template version
    ///
    /// Any version, in force or not (`in_force` says which).
    #[oai(
        path = "/templates/:id",
        method = "get",
        operation_id = "getNotificationTemplate"
    )]
    async fn get(
        &self,
        auth: Auth,
        /// The version's id.
        id: Path<Uuid>,
    ) -> Result<TemplateResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(TemplateResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// List a template's versions
    ///
    /// Every version of the key, channel and locale the version `id` belongs to,
    /// newest (the one in force) first; keyset-paginated with `cursor`.
    #[oai(
        path = "/templates/:id/versions",
        method = "get",
        operation_id = "listNotificationTemplateVersions"
    )]
    async fn versions(
        &self,
        auth: Auth,
        /// The id of any of its versions.
        id: Path<Uuid>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<TemplateListResponse, problems::ReadMany> {
        let query = store::versions_query(id.0, cursor.0, limit.0)?;
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let (items, next_cursor) = store::versions(tx, id.0, query).await?;
        Ok(TemplateListResponse::Ok(Json(TemplateList {
            items,
            next_cursor,
        })))
    }

    /// Preview a template
    ///
    /// Renders a saved version (`template_id`) or a template given inline
    /// (`template`, checked as a save would check it) with the key's sample values,
    /// overridden by the values of a real `record` of the tenant (a `viewing`, with
    /// its property, agent and contact; an `appointment`, with its type, practitioner,
    /// location and patient; or a `contact`), overridden in turn by
    /// `variables`, and `tz` set to `time_zone` (default: the tenant's). A record the
    /// tenant does not have, another tenant's included, is a 422 on `record.id`.
    /// Any member may preview; nothing is saved or sent. A render that fails (an
    /// undefined value, the work budget spent, output over its cap) is a 422 naming
    /// the part and the line.
    #[oai(
        path = "/templates/preview",
        method = "post",
        operation_id = "previewNotificationTemplate"
    )]
    async fn preview(
        &self,
        auth: Auth,
        body: Body<PreviewBody>,
    ) -> Result<PreviewResponse, problems::Compute> {
        let request = PreviewRequest::check(body.into_inner()?)?;
        let record_values = match &request.record {
            Some(record) => self.record_values(&auth, record).await?,
            None => BTreeMap::new(),
        };
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let (key, channel, parts, tenant_zone, prefix) = match &request.source {
            PreviewSource::Saved(id) => {
                let (saved, zone) = store::get_with_time_zone(tx, *id).await?;
                let mut fields = Fields::new();
                check_variables(&mut fields, saved.key, &request.variables);
                fields.finish()?;
                let content = (saved.subject, saved.text, saved.html);
                (saved.key, saved.channel, content, zone, "")
            }
            PreviewSource::Inline(template) => {
                let zone = store::time_zone(tx).await?;
                let content = (
                    template.subject.clone(),
                    template.text.clone(),
                    template.html.clone(),
                );
                (template.key, template.channel, content, zone, "template.")
            }
        };
        let time_zone = request.time_zone.clone().unwrap_or(tenant_zone);
        let mut variables = render::sample_variables(key.spec(), &time_zone);
        let offered = |path: &String| key.spec().variables().any(|v| v.path == path);
        variables.extend(record_values.into_iter().filter(|(path, _)| offered(path)));
        variables.extend(request.variables);
        let rendered = render::render(
            channel,
            Parts {
                subject: parts.0.as_deref(),
                text: &parts.1,
                html: parts.2.as_deref(),
            },
            &variables,
        )
        .map_err(|errors| super::prefixed(errors, prefix))?;
        Ok(PreviewResponse::Ok(Json(Preview {
            key,
            channel,
            time_zone,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        })))
    }

    /// List the template keys
    ///
    /// Every key a template may be written for: what it is for, its channels, and the
    /// variables its templates may use, each with the sample value previews use.
    /// Besides these, templates may use the `datetime` filter
    /// (`{{ viewing.scheduled_at | datetime(tz, "short") }}`: formats `long`, the
    /// default, `short`, `date`, `time` or a chrono strftime pattern; the zone defaults
    /// to `tz`), minijinja's built-in filters, `range`, `dict` and `namespace`.
    #[oai(
        path = "/template-keys",
        method = "get",
        operation_id = "listNotificationTemplateKeys"
    )]
    async fn template_keys(&self, _auth: Auth) -> Result<TemplateKeysResponse, problems::ReadOne> {
        Ok(TemplateKeysResponse::Ok(Json(TemplateKeyList {
            items: keys::KEYS.iter().map(TemplateKeyInfo::from).collect(),
        })))
    }

    /// List the wording in force
    ///
    /// For every key and channel (or those `key` and `channel` name), what a message
    /// in `locale` (default `en`) would use: the tenant's version in force for that
    /// locale, else for its language (`de` for `de-CH`), else for `en`, else the
    /// default that ships with the CRM (`source: default`, in English).
    #[oai(
        path = "/effective-templates",
        method = "get",
        operation_id = "listEffectiveNotificationTemplates"
    )]
    async fn effective(
        &self,
        auth: Auth,
        /// The recipient's BCP 47 locale (default `en`).
        #[oai(validator(min_length = 2, max_length = 35))]
        locale: Query<Option<String>>,
        /// Only this key.
        key: Query<Option<TemplateKey>>,
        /// Only this channel.
        channel: Query<Option<Channel>>,
    ) -> Result<EffectiveTemplatesResponse, problems::ReadMany> {
        let locale = locale_param(locale.0)?.unwrap_or_else(|| keys::DEFAULT_LOCALE.to_owned());
        let wanted = |k: TemplateKey, c: Channel| {
            key.0.is_none_or(|wanted| wanted == k) && channel.0.is_none_or(|wanted| wanted == c)
        };
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let items = store::effective(tx, &locale, wanted).await?;
        Ok(EffectiveTemplatesResponse::Ok(Json(
            EffectiveTemplateList { items },
        )))
    }
}
