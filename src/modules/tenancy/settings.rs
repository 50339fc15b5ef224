//! `/tenant/settings`: the caller's tenant as its members see it, and the time zone and
//! locale its owners and admins set (`tenants.time_zone`, which notification templates
//! format instants in; `tenants.locale`, which messages are worded in when neither they
//! nor their contact name one). The database lets the API change those two columns, of
//! the context tenant's row, for owners and admins only (V22, V30).

use chrono_tz::Tz;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{MODULE, api::TenantTags};
use crate::platform::{
    auth::Auth,
    contract::Body,
    error::{ApiError, problems},
    state::SharedState,
    validation::Fields,
};

const MANAGERS_ONLY: &str = "Only owners and admins change the tenant's settings.";

/// The tenant's settings.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantSettings {
    /// The tenant's name, as given at signup (read-only).
    pub name: String,
    /// The IANA time zone (`Europe/Zurich`) that messages to people, such as
    /// notification templates, show instants in; `UTC` until set. The API itself
    /// answers in UTC.
    pub time_zone: String,
    /// The BCP 47 locale (`de-CH`) messages are worded in when neither the message
    /// nor its contact names one; `en` until set.
    pub locale: String,
}

/// Settings to change; settings not given keep their values.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TenantSettingsPatchBody {
    /// An IANA time zone such as `Europe/Zurich` (names are case-sensitive).
    pub time_zone: Option<String>,
    /// A BCP 47 locale: a language, an optional script and region (`en`, `de-CH`),
    /// stored in canonical case.
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: Option<String>,
}

/// A validated change to the settings: `None` keeps a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettingsPatch {
    pub time_zone: Option<Tz>,
    pub locale: Option<String>,
}

impl TryFrom<TenantSettingsPatchBody> for TenantSettingsPatch {
    type Error = ApiError;

    fn try_from(body: TenantSettingsPatchBody) -> Result<Self, ApiError> {
        if body.time_zone.is_none() && body.locale.is_none() {
            return Err(ApiError::invalid("body", "give `time_zone` or `locale`"));
        }
        let mut fields = Fields::new();
        let time_zone = body.time_zone.and_then(|zone| {
            let parsed = zone.parse::<Tz>().ok();
            if parsed.is_none() {
                fields.error(
                    "time_zone",
                    "must be an IANA time zone such as Europe/Zurich",
                );
            }
            parsed
        });
        let locale = body.locale.map(|locale| fields.locale("locale", &locale));
        fields.finish()?;
        Ok(Self { time_zone, locale })
    }
}

#[derive(ApiResponse)]
enum TenantSettingsResponse {
    #[oai(status = 200)]
    Ok(Json<TenantSettings>),
}

fn settings(row: &tokio_postgres::Row) -> TenantSettingsResponse {
    TenantSettingsResponse::Ok(Json(TenantSettings {
        name: row.get("name"),
        time_zone: row.get("time_zone"),
        locale: row.get("locale"),
    }))
}

pub struct TenantSettingsApi {
    state: SharedState,
}

impl TenantSettingsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/tenant/settings", tag = "TenantTags::Tenant")]
impl TenantSettingsApi {
    /// Get the tenant's settings
    ///
    /// The tenant's name, time zone and locale. Any member may read them.
    #[oai(path = "/", method = "get", operation_id = "getTenantSettings")]
    async fn get(&self, auth: Auth) -> Result<TenantSettingsResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let row = tx
            .query_opt_and_commit("SELECT name, time_zone, locale FROM tenants", &[])
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(settings(&row))
    }

    /// Change the tenant's settings
    ///
    /// Owners and admins only; settings not given keep their values. `time_zone`
    /// must be an IANA time zone (`Europe/Zurich`): messages formatted from then on,
    /// notification template previews among them, show instants in it. `locale`, a
    /// BCP 47 locale (`de-CH`), words the messages queued from then on that neither
    /// name a locale nor go to a contact with one. Answers the settings afterwards.
    #[oai(path = "/", method = "patch", operation_id = "updateTenantSettings")]
    async fn update(
        &self,
        auth: Auth,
        body: Body<TenantSettingsPatchBody>,
    ) -> Result<TenantSettingsResponse, problems::Configure> {
        let context = auth.manager_or(MANAGERS_ONLY)?;
        let patch = TenantSettingsPatch::try_from(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        // RLS keeps this to the context tenant's row, and to owners and admins.
        let row = tx
            .query_opt_and_commit(
                "UPDATE tenants \
                 SET time_zone = coalesce($1, time_zone), locale = coalesce($2, locale) \
                 RETURNING name, time_zone, locale",
                &[&patch.time_zone.map(|zone| zone.name()), &patch.locale],
            )
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(settings(&row))
    }
}

impl poem_openapi::types::Example for TenantSettingsPatchBody {
    fn example() -> Self {
        Self {
            time_zone: Some("Europe/Zurich".into()),
            locale: Some("de-CH".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(time_zone: Option<&str>) -> Result<TenantSettingsPatch, ApiError> {
        TenantSettingsPatch::try_from(TenantSettingsPatchBody {
            time_zone: time_zone.map(str::to_owned),
            locale: None,
        })
    }

    #[test]
    fn takes_iana_zones_and_names_the_field_otherwise() {
        assert_eq!(
            patch(Some("Europe/Zurich")).ok().and_then(|p| p.time_zone),
            Some(chrono_tz::Europe::Zurich)
        );
        for wrong in [
            "Mars/Olympus_Mons",
            "europe/zurich",
            "",
            "+01:00",
            "UTC; DROP",
        ] {
            let Err(ApiError::Validation(errors)) = patch(Some(wrong)) else {
                panic!("{wrong:?} was accepted");
            };
            assert_eq!(errors[0].field, "time_zone", "{wrong:?}");
        }
        assert!(matches!(patch(None), Err(ApiError::Validation(_))));
    }

    #[test]
    fn takes_a_locale_beside_or_instead_of_the_zone() {
        let locale = |value: &str| {
            TenantSettingsPatch::try_from(TenantSettingsPatchBody {
                time_zone: None,
                locale: Some(value.to_owned()),
            })
        };
        assert_eq!(
            locale("de-ch").ok().and_then(|p| p.locale),
            Some("de-CH".to_owned())
        );
        let Err(ApiError::Validation(errors)) = locale("german") else {
            panic!("`german` was accepted");
        };
        assert_eq!(errors[0].field, "locale");
    }
}
