//! Field checks used when turning request bodies into domain values. Each returns the
//! cleaned value or pushes a [`FieldError`] naming the field, so one response can list
//! every problem at once.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use poem_openapi::types::MaybeUndefined;

use crate::platform::error::{ApiError, FieldError};

/// Collects field errors while a body is parsed.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Trimmed text of `min..=max` characters, without control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let value = value.trim();
        let length = value.chars().count();
        if length < min || length > max {
            self.error(field, format!("must be {min} to {max} characters"));
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.error(field, "must not contain control characters");
        }
        value.to_owned()
    }

    /// Like [`Self::text`], where empty or absent means "none".
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        Some(self.text(field, value, 1, max))
    }

    /// A plausible email address, lower-cased.
    pub fn email(&mut self, field: &str, value: &str) -> String {
        let rejected = self.errors.len();
        let value = self.text(field, value, 3, 320).to_lowercase();
        let plausible = value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }) && !value.chars().any(char::is_whitespace);
        if !plausible && self.errors.len() == rejected {
            self.error(field, "must be an email address");
        }
        value
    }

    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        Some(self.email(field, value))
    }

    /// A plausible host name (`example.com`), lower-cased: dot-separated labels of
    /// letters, digits and inner hyphens, at most 253 characters.
    pub fn domain(&mut self, field: &str, value: &str) -> String {
        let value = self.text(field, value, 3, 253).to_lowercase();
        if !value.is_empty() && !is_host_name(&value) {
            self.error(field, "must be a domain name such as example.com");
        }
        value
    }

    pub fn optional_domain(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        Some(self.domain(field, value))
    }

    /// An ISO 4217 code: three ASCII letters, stored upper-case.
    pub fn currency(&mut self, field: &str, value: &str) -> String {
        let value = value.trim().to_ascii_uppercase();
        if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
            self.error(field, "must be a three-letter ISO 4217 code such as USD");
        }
        value
    }

    /// An instant that stays within four-digit years (what RFC 3339 can write) for
    /// at least a day after it, so what starts there can also end there.
    pub fn instant(&mut self, field: &str, value: DateTime<Utc>) -> DateTime<Utc> {
        let last =
            NaiveDate::from_ymd_opt(9999, 12, 31).map(|day| day.and_time(NaiveTime::MIN).and_utc());
        if last.is_some_and(|last| value >= last) {
            self.error(field, "must be before 9999-12-31T00:00:00Z");
        }
        value
    }

    /// A BCP 47 locale in canonical case (`de-ch` → `de-CH`): a language of 2 or 3
    /// letters, an optional script of 4 letters, an optional region of 2 letters or 3
    /// digits. The same shape as the tables' `*_locale_format` CHECKs.
    pub fn locale(&mut self, field: &str, value: &str) -> String {
        let mut subtags = value.trim().split(['-', '_']);
        let mut canonical = Vec::new();
        let language = subtags.next().unwrap_or_default();
        let mut valid =
            (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic());
        canonical.push(language.to_ascii_lowercase());
        let mut rest: Vec<&str> = subtags.collect();
        if valid
            && rest
                .first()
                .is_some_and(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            let script = rest.remove(0).to_ascii_lowercase();
            let mut chars = script.chars();
            let first = chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_default();
            canonical.push(std::iter::once(first).chain(chars).collect());
        }
        match rest.as_slice() {
            [] => {}
            [region] if region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()) => {
                canonical.push(region.to_ascii_uppercase());
            }
            [region] if region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit()) => {
                canonical.push((*region).to_owned());
            }
            _ => valid = false,
        }
        if !valid {
            self.error(
                field,
                "must be a BCP 47 locale: a language, an optional script and region (`en`, `de-CH`)",
            );
        }
        canonical.join("-")
    }

    /// An IANA time zone name (`Europe/Zurich`) that the time-zone database knows.
    pub fn time_zone(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.error(field, "must be an IANA time zone such as Europe/Zurich");
        }
        value.to_owned()
    }

    /// Ok when no field was rejected, else a 422 listing every rejected field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

fn is_host_name(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A PATCH field: `None` when absent, `Some(None)` when null, `Some(check(v))` when set.
pub fn patch_value<T, U>(
    value: MaybeUndefined<T>,
    check: impl FnOnce(T) -> Option<U>,
) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(check(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(value: &str) -> Result<String, ApiError> {
        let mut fields = Fields::new();
        let canonical = fields.locale("locale", value);
        fields.finish().map(|()| canonical)
    }

    #[test]
    fn locales_are_bcp_47_in_canonical_case() {
        for (given, canonical) in [
            ("en", "en"),
            ("de-ch", "de-CH"),
            ("DE_CH", "de-CH"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sr-Latn", "sr-Latn"),
        ] {
            assert_eq!(locale(given).expect(given), canonical);
        }
        for refused in [
            "", "e", "english", "de-CHE", "de-CH-x", "1e", "de--CH", "de-C1",
        ] {
            assert!(locale(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn collects_every_field_error() {
        let mut fields = Fields::new();
        fields.text("name", "  ", 1, 10);
        fields.email("email", "not-an-email");
        fields.text("note", "bell\u{7}", 1, 10);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("expected validation errors")
        };
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["name", "email", "note"]);
    }

    #[test]
    fn trims_and_accepts_good_values() {
        let mut fields = Fields::new();
        assert_eq!(fields.text("name", "  Ada ", 1, 10), "Ada");
        assert_eq!(fields.email("email", "Ada@Example.COM"), "ada@example.com");
        assert_eq!(fields.optional_text("phone", Some("   "), 10), None);
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn accepts_host_names_only() {
        let mut fields = Fields::new();
        assert_eq!(fields.domain("domain", " Example.CO.uk "), "example.co.uk");
        assert_eq!(fields.domain("domain", "my-shop.io"), "my-shop.io");
        assert!(fields.finish().is_ok());
        for bad in [
            "localhost",
            "-a.com",
            "a-.com",
            "a..com",
            "https://a.com",
            "a.com/",
            "a b.com",
            "1.2.3.4",
        ] {
            let mut fields = Fields::new();
            fields.domain("domain", bad);
            assert!(fields.finish().is_err(), "{bad} was accepted");
        }
    }
}
