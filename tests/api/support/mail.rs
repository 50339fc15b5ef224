//! A real SMTP server for the mail tests: Debian's `python3-aiosmtpd` on a free
//! loopback port, writing every message it accepts into a maildir, and helpers that
//! read and parse those messages.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use uuid::Uuid;

/// The interpreter Debian's `python3-aiosmtpd` is installed for (tests/setup).
const PYTHON: &str = "/usr/bin/python3";

/// A port on loopback with nothing listening (yet): where an SMTP server is down.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// An aiosmtpd process; killed, and its maildir removed, when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    child: tokio::process::Child,
}

/// One message as the SMTP server received it.
#[derive(Debug)]
pub struct ReceivedMail {
    headers: Vec<(String, String)>,
    /// The body after the header block, with CRLF line ends turned into LF.
    pub body: String,
}

impl ReceivedMail {
    /// The first header of this name (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((key, value)) = line.split_once(':') {
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Self {
            headers,
            body: body.to_owned(),
        }
    }
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts a server on `port` and waits until it accepts connections.
    pub async fn start_on(port: u16) -> Self {
        let maildir = std::env::temp_dir().join(format!("crm-mail-{}", Uuid::new_v4().simple()));
        let child = tokio::process::Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd (tests/setup installs python3-aiosmtpd)");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            port,
            maildir,
            child,
        }
    }

    /// The settings that send the server's mail here.
    pub fn env(&self) -> Vec<(String, String)> {
        smtp_env(self.port)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .map(|raw| ReceivedMail::parse(&raw))
            .collect()
    }

    /// The messages received for `to` so far.
    pub fn messages_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|mail| mail.header("To").is_some_and(|value| value.contains(to)))
            .collect()
    }

    /// The first message for `to`, waiting for it up to `timeout`.
    pub async fn wait_for_message(&self, to: &str, timeout: Duration) -> ReceivedMail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.messages_to(to).into_iter().next() {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no message for {to} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Settings that send mail to plain SMTP on loopback `port`, with the in-process
/// worker on (the test default is off).
pub fn smtp_env(port: u16) -> Vec<(String, String)> {
    vec![
        ("CRM_RUN_WORKER".into(), "true".into()),
        ("CRM_SMTP_HOST".into(), "127.0.0.1".into()),
        ("CRM_SMTP_PORT".into(), port.to_string()),
        ("CRM_SMTP_TLS".into(), "none".into()),
        ("CRM_MAIL_FROM".into(), "Test CRM <crm@example.test>".into()),
    ]
}
