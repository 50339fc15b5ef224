//! Every setting, read once from environment variables, with defaults that work on a
//! developer machine. Production mode (`CRM_ENV=production`) refuses the defaults that
//! are only safe locally.

use std::{fmt, net::SocketAddr, time::Duration};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// A value that must never reach a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the server runs: development tolerates local defaults, production does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Log output: readable text for people, JSON lines for log pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub bind: SocketAddr,
    /// Owner connection: creates the database, runs migrations, manages the app role.
    pub database_url: Secret,
    /// The login role requests run as (never the owner, never a superuser).
    pub app_role: String,
    pub app_password: Secret,
    pub pool_size: usize,
    pub pool_wait_timeout: Duration,
    pub statement_timeout: Duration,
    pub jwt: JwtConfig,
    pub log_format: LogFormat,
    /// Concurrent argon2 computations; the rest wait their turn.
    pub password_hashing_concurrency: usize,
    /// The verticals served (`CRM_MODULES`: comma-separated names, `none`; default all).
    pub modules: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub secret: Secret,
    /// True when no secret was configured and one was generated for this process.
    pub generated: bool,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} must be set when CRM_ENV=production")]
    RequiredInProduction { name: &'static str },
}

const MIN_SECRET_BYTES: usize = 32;
const WELL_KNOWN_SECRETS: &[&str] = &["secret", "changeme", "change-me", "password", "jwt-secret"];

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let environment = match var("CRM_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "CRM_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let production = environment == Environment::Production;
        let required = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match var(name) {
                None if production => Err(ConfigError::RequiredInProduction { name }),
                value => Ok(value),
            }
        };

        let database_url = required("DATABASE_URL")?
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/crm".to_owned());
        let app_password = required("CRM_APP_PASSWORD")?.unwrap_or_else(|| "crm_app".to_owned());
        let jwt_secret = required("CRM_JWT_SECRET")?;

        Ok(Self {
            environment,
            bind: parse(&var, "CRM_BIND", "127.0.0.1:8000")?,
            database_url: Secret::new(database_url),
            app_role: role_name(var("CRM_APP_ROLE").unwrap_or_else(|| "crm_app".to_owned()))?,
            app_password: Secret::new(app_password),
            pool_size: parse(&var, "CRM_POOL_SIZE", "16")?,
            pool_wait_timeout: Duration::from_millis(parse(&var, "CRM_POOL_TIMEOUT_MS", "5000")?),
            statement_timeout: Duration::from_millis(parse(
                &var,
                "CRM_STATEMENT_TIMEOUT_MS",
                "5000",
            )?),
            jwt: JwtConfig {
                generated: jwt_secret.is_none(),
                secret: jwt_secret.map_or_else(|| Ok(generated_secret()), checked_secret)?,
                issuer: var("CRM_JWT_ISSUER").unwrap_or_else(|| "crm".to_owned()),
                audience: var("CRM_JWT_AUDIENCE").unwrap_or_else(|| "crm-api".to_owned()),
                access_ttl: Duration::from_secs(parse(&var, "CRM_ACCESS_TOKEN_TTL_SECS", "900")?),
                refresh_ttl: Duration::from_secs(parse(
                    &var,
                    "CRM_REFRESH_TOKEN_TTL_SECS",
                    "2592000",
                )?),
            },
            log_format: match var("CRM_LOG_FORMAT").as_deref() {
                None if production => LogFormat::Json,
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(invalid(
                        "CRM_LOG_FORMAT",
                        format!("expected text or json, got {other:?}"),
                    ));
                }
            },
            password_hashing_concurrency: parse(&var, "CRM_PASSWORD_HASHING_CONCURRENCY", "2")?,
            modules: crate::modules::from_setting(var("CRM_MODULES").as_deref())
                .map_err(|reason| invalid("CRM_MODULES", reason))?,
        })
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

fn parse<T: std::str::FromStr>(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|e| invalid(name, format!("{raw:?}: {e}")))
}

/// Role names are interpolated into DDL (quoted), so only plain identifiers are accepted.
fn role_name(name: String) -> Result<String, ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(invalid(
            "CRM_APP_ROLE",
            "use lowercase letters, digits and _ (at most 63)",
        ))
    }
}

fn checked_secret(secret: String) -> Result<Secret, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(invalid(
            "CRM_JWT_SECRET",
            format!("use at least {MIN_SECRET_BYTES} bytes of random data"),
        ));
    }
    let lowered = secret.to_ascii_lowercase();
    let first = secret.chars().next();
    let repetitive = secret.chars().all(|c| Some(c) == first);
    if repetitive
        || WELL_KNOWN_SECRETS
            .iter()
            .any(|known| lowered.contains(known))
    {
        return Err(invalid(
            "CRM_JWT_SECRET",
            "this value is well known or trivially guessable",
        ));
    }
    Ok(Secret::new(secret))
}

fn generated_secret() -> Secret {
    let mut bytes = [0u8; 48];
    OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_work_locally_and_generate_a_jwt_secret() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.app_role, "crm_app");
        assert!(config.jwt.generated);
        assert!(config.jwt.secret.expose().len() >= MIN_SECRET_BYTES);
    }

    #[test]
    fn short_or_well_known_jwt_secrets_are_refused() {
        for secret in [
            "short",
            "changeme-changeme-changeme-changeme",
            &"a".repeat(40),
        ] {
            let err = config(&[("CRM_JWT_SECRET", secret)]).expect_err(secret);
            assert!(err.to_string().contains("CRM_JWT_SECRET"), "{err}");
        }
    }

    #[test]
    fn production_requires_explicit_secrets() {
        let err = config(&[("CRM_ENV", "production")]).expect_err("defaults refused");
        assert!(matches!(
            err,
            ConfigError::RequiredInProduction {
                name: "DATABASE_URL"
            }
        ));
    }

    #[test]
    fn role_names_must_be_plain_identifiers() {
        assert!(config(&[("CRM_APP_ROLE", "crm_app; DROP TABLE x")]).is_err());
        assert!(config(&[("CRM_APP_ROLE", "tenant_app2")]).is_ok());
    }

    #[test]
    fn secrets_do_not_print() {
        let config = config(&[]).expect("defaults are valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains(config.jwt.secret.expose()));
        assert!(!printed.contains("crm_app@") && printed.contains("Secret(***)"));
    }
}
