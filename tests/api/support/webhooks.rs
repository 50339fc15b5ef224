//! A webhook receiver on loopback that records every request and answers the status
//! the test sets, and the Standard Webhooks project's own verifier (`standardwebhooks`
//! from PyPI, installed by tests/setup) to check a delivery's signature.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Delivery {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Record {
    deliveries: Mutex<Vec<Delivery>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

/// The receiver: `url()` is where to point an endpoint.
pub struct Receiver {
    port: u16,
    record: Arc<Record>,
}

#[handler]
async fn receive(req: &Request, body: String, record: Data<&Arc<Record>>) -> Response {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    record
        .deliveries
        .lock()
        .expect("record")
        .push(Delivery { headers, body });
    let delay = Duration::from_millis(record.delay_ms.load(Ordering::SeqCst));
    tokio::time::sleep(delay).await;
    let status = StatusCode::from_u16(record.status.load(Ordering::SeqCst)).expect("a status");
    Response::builder()
        .status(status)
        .header("retry-after", "0")
        .body("noted")
}

impl Receiver {
    /// Starts answering 200 on a free loopback port.
    pub async fn start() -> Self {
        let record = Arc::new(Record::default());
        record.status.store(200, Ordering::SeqCst);
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("a free port");
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a TCP address")
            .port();
        let app = Route::new().at("/*path", receive).data(record.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self { port, record }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The status every later request is answered with.
    pub fn answer(&self, status: u16) {
        self.record.status.store(status, Ordering::SeqCst);
    }

    /// How long every later request waits before it is answered.
    pub fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.record.delay_ms.store(millis, Ordering::SeqCst);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.record.deliveries.lock().expect("record").clone()
    }

    /// Waits until at least `count` requests arrived; answers them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries arrived: {deliveries:?}",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Whether `standardwebhooks`' `Webhook(secret).verify(body, headers)` accepts the
/// delivery (it checks the signature and that the timestamp is recent).
pub async fn verified_by_the_reference_library(secret: &str, delivery: &Delivery) -> bool {
    let python = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned())
        + "/webhooks-venv/bin/python";
    let script = "import json, sys\n\
                  from standardwebhooks.webhooks import Webhook\n\
                  Webhook(sys.argv[1]).verify(sys.stdin.read(), json.loads(sys.argv[2]))\n";
    let headers = serde_json::to_string(&delivery.headers).expect("headers");
    let mut child = tokio::process::Command::new(&python)
        .args(["-c", script, secret, &headers])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{python} (run tests/setup): {err}"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(delivery.body.as_bytes())
        .await
        .expect("the body");
    drop(stdin);
    child.wait().await.expect("the verifier ran").success()
}
