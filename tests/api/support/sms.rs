//! A stand-in for an SMS provider on loopback, in the widely used shape the server
//! speaks: it records every form POST (its fields, basic credentials and headers) and
//! answers the status the test sets, with `{"sid": "SM<n>"}` when it accepts.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};

/// The account the server is configured with, and where it posts.
pub const ACCOUNT: &str = "AC0123456789";
pub const TOKEN: &str = "provider-token-0123";
pub const FROM: &str = "+15005550006";

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct SmsRequest {
    pub path: String,
    /// The form's fields (`To`, `From`, `Body`).
    pub form: HashMap<String, String>,
    /// The basic credentials, decoded (`user:password`).
    pub credentials: Option<String>,
    pub idempotency_key: Option<String>,
    /// The id it answered with, when it accepted.
    pub sid: Option<String>,
}

#[derive(Default)]
struct Record {
    requests: Mutex<Vec<SmsRequest>>,
    status: AtomicU16,
}

/// The stand-in: `env()` points a server at it.
pub struct SmsProvider {
    port: u16,
    record: Arc<Record>,
}

#[handler]
async fn receive(req: &Request, body: String, record: Data<&Arc<Record>>) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let credentials = header("authorization")
        .and_then(|value| value.strip_prefix("Basic ").map(str::to_owned))
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let form = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let status = StatusCode::from_u16(record.status.load(Ordering::SeqCst)).expect("a status");
    let mut requests = record.requests.lock().expect("record");
    let sid = status
        .is_success()
        .then(|| format!("SM{:04}", requests.len() + 1));
    requests.push(SmsRequest {
        path: req.uri().path().to_owned(),
        form,
        credentials,
        idempotency_key: header("idempotency-key"),
        sid: sid.clone(),
    });
    let answer = match sid {
        Some(sid) => serde_json::json!({ "sid": sid, "status": "queued" }),
        None => serde_json::json!({ "code": 21211, "message": "refused by the stand-in" }),
    };
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(answer.to_string())
}

impl SmsProvider {
    /// Starts accepting (201) on a free loopback port.
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("a free port");
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a TCP address")
            .port();
        let record = Arc::new(Record::default());
        record.status.store(201, Ordering::SeqCst);
        let app = Route::new().at("/*path", receive).data(record.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self { port, record }
    }

    /// The settings that send a server's text messages here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CRM_SMS_URL".into(),
                format!(
                    "http://127.0.0.1:{}/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                    self.port
                ),
            ),
            ("CRM_SMS_FROM".into(), FROM.into()),
            ("CRM_SMS_USERNAME".into(), ACCOUNT.into()),
            ("CRM_SMS_PASSWORD".into(), TOKEN.into()),
        ]
    }

    /// The status every later request is answered with.
    pub fn answer(&self, status: u16) {
        self.record.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<SmsRequest> {
        self.record.requests.lock().expect("record").clone()
    }

    /// Waits until at least `count` requests arrived; answers them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<SmsRequest> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} requests arrived: {requests:?}",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
