//! The SMTP transport from its settings.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, Tokio1Executor,
    transport::smtp::{
        Error,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use crate::platform::config::{SmtpConfig, SmtpTls};

/// How long one SMTP command may take. The outbox leases a claimed message for five
/// minutes; a batch's sends finish well within that.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
    let tls = match config.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(TlsParameters::new(config.host.clone())?),
        SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(config.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .tls(tls)
        .timeout(Some(COMMAND_TIMEOUT));
    if let Some(credentials) = &config.credentials {
        builder = builder.credentials(Credentials::new(
            credentials.username.clone(),
            credentials.password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}
