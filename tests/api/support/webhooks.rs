//! A webhook receiver on loopback that records every request (when it arrived, when it
//! was done with) and answers the status the test sets, started at once or on a port
//! that refused connections until then; a receiver that accepts connections and never
//! answers, and a port that never completes one; the servers that deliver to them and
//! a helper that subscribes an endpoint; the Standard Webhooks project's own verifier
//! (`standardwebhooks` from PyPI, installed by tests/setup) to check signatures; and
//! the served document's message schemas to hold deliveries against.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crm::platform::contract::Contract;
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    web::Data,
};
use poem_openapi::registry::MetaSchemaRef;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};

use super::{TestApp, TestUser, expect_json, id_of, spawn_app, start_server};

/// A server without a worker (whose mail the sign-up reads), a signed-up tenant, and a
/// second instance on the same database running the worker, allowed to reach loopback.
/// Tests talk to the second one.
pub async fn with_worker() -> (TestApp, TestApp, TestUser) {
    with_worker_configured(&[]).await
}

/// A burst of one tenant's requests waits for the tenant's share of the pool rather
/// than being refused (429) after the default 250 ms, which a loaded machine exceeds.
pub const PATIENT_TENANTS: (&str, &str) = ("CRM_TENANT_QUEUE_MS", "20000");

/// [`with_worker`] whose worker also has the environment variables `extra`.
pub async fn with_worker_configured(extra: &[(&str, &str)]) -> (TestApp, TestApp, TestUser) {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let (address, db) = start_server(&app.database, |vars| {
        vars.push(("CRM_RUN_WORKER".into(), "true".into()));
        vars.push(("CRM_WEBHOOK_ALLOWED_NETWORKS".into(), "127.0.0.1/32".into()));
        vars.extend(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
    })
    .await;
    let hooks = app.other_instance(address, db);
    (app, hooks, user)
}

/// Where a receiver on loopback `port` is reached.
fn hook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hook")
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: String,
    /// When the request arrived.
    pub arrived: Instant,
    /// When the receiver was done with it: answered, or dropped because the sender went
    /// away; `None` while it is in hand.
    pub finished: Option<Instant>,
}

impl Delivery {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// What the served `/openapi.json` says each kind of message is.
pub struct Documented {
    document: Value,
    contract: Contract,
}

impl Documented {
    pub async fn of(app: &TestApp) -> Self {
        let text = app
            .get_raw("/openapi.json")
            .await
            .text()
            .await
            .expect("the document");
        Self {
            document: serde_json::from_str(&text).expect("JSON"),
            contract: Contract::new(&text, &[], &[]).expect("the served document finishes again"),
        }
    }

    /// The kinds of message the document describes (`x-webhooks`).
    pub fn kinds(&self) -> Vec<&str> {
        let deliveries = self.document["x-webhooks"].as_object();
        deliveries
            .into_iter()
            .flatten()
            .map(|(kind, _)| kind.as_str())
            .collect()
    }

    /// Panics unless the document describes the message `body`, as generated types
    /// read it: its `type` is documented, it passes the schema of its kind as the
    /// server checks request bodies, and it has no field the schema leaves out.
    pub fn assert_describes(&self, body: &Value) {
        let kind = body["type"].as_str().expect("a type");
        let schema = &self.document["x-webhooks"][kind]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = schema
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("{kind} is not in the document's x-webhooks"));
        let verdict = self
            .contract
            .check(&MetaSchemaRef::Reference(name.to_owned()), body);
        assert!(verdict.is_ok(), "{kind} breaks {name}: {verdict:?}\n{body}");
        let mut undocumented = Vec::new();
        self.undocumented(&json!({ "$ref": schema }), body, kind, &mut undocumented);
        assert!(
            undocumented.is_empty(),
            "{name} does not describe {undocumented:?}\n{body}"
        );
    }

    /// The fields of `value` (under `path`) that `schema` does not describe.
    fn undocumented(&self, schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
        let schema = match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                &self.document["components"]["schemas"][name]
            }
            None => schema,
        };
        if let Some(part) = schema["allOf"].get(0) {
            return self.undocumented(part, value, path, found);
        }
        match value {
            Value::Object(fields) => {
                for (field, value) in fields {
                    let path = format!("{path}.{field}");
                    match schema["properties"].get(field) {
                        Some(property) => self.undocumented(property, value, &path, found),
                        None => found.push(path),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.undocumented(&schema["items"], item, &format!("{path}[{index}]"), found);
                }
            }
            _ => {}
        }
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
    let _in_hand = InHand::of(&record, headers, body);
    let delay = Duration::from_millis(record.delay_ms.load(Ordering::SeqCst));
    tokio::time::sleep(delay).await;
    let status = StatusCode::from_u16(record.status.load(Ordering::SeqCst)).expect("a status");
    Response::builder()
        .status(status)
        .header("retry-after", "0")
        .body("noted")
}

/// A delivery being handled: recorded when it arrives, marked finished when the handler
/// ends, whether it answered or was dropped with its connection.
struct InHand {
    record: Arc<Record>,
    index: usize,
}

impl InHand {
    fn of(record: &Arc<Record>, headers: HashMap<String, String>, body: String) -> Self {
        let mut deliveries = record.deliveries.lock().expect("record");
        deliveries.push(Delivery {
            headers,
            body,
            arrived: Instant::now(),
            finished: None,
        });
        Self {
            record: record.clone(),
            index: deliveries.len() - 1,
        }
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        if let Ok(mut deliveries) = self.record.deliveries.lock() {
            deliveries[self.index].finished = Some(Instant::now());
        }
    }
}

impl Receiver {
    /// Starts answering 200 on a free loopback port.
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("a free port");
        Self::serve(acceptor)
    }

    /// Answers 200 to every connection `acceptor` takes.
    fn serve(acceptor: TcpAcceptor) -> Self {
        let record = Arc::new(Record::default());
        record.status.store(200, Ordering::SeqCst);
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .expect("a TCP address")
            .port();
        let app = Route::new().at("/*path", receive).data(record.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self { port, record }
    }

    pub fn url(&self) -> String {
        hook_url(self.port)
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

/// A loopback port bound with nothing listening on it: every connection to it is
/// refused, and no other socket can take the port (the bound socket does not share
/// it), until [`ClosedPort::listen`] starts a [`Receiver`] there.
pub struct ClosedPort(TcpSocket);

impl ClosedPort {
    pub fn reserve() -> Self {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("a free port");
        Self(socket)
    }

    pub fn url(&self) -> String {
        hook_url(self.0.local_addr().expect("a bound port").port())
    }

    /// A [`Receiver`] on this port, answering 200 from now on.
    pub fn listen(self) -> Receiver {
        let listener = self.0.listen(1024).expect("listen on the reserved port");
        Receiver::serve(TcpAcceptor::from_tokio(listener).expect("an acceptor"))
    }
}

/// A receiver that accepts every connection, reads whatever is sent, and never
/// answers; it notes which connections the sender has not yet given up on.
pub struct Silent {
    port: u16,
    /// One per connection taken: whether it is still open.
    open: Arc<Mutex<Vec<bool>>>,
}

impl Silent {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("a TCP address").port();
        let open = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(Self::hold(listener, open.clone()));
        Self { port, open }
    }

    async fn hold(listener: tokio::net::TcpListener, open: Arc<Mutex<Vec<bool>>>) {
        while let Ok((mut stream, _)) = listener.accept().await {
            let index = {
                let mut open = open.lock().expect("connections");
                open.push(true);
                open.len() - 1
            };
            let open = open.clone();
            tokio::spawn(async move {
                let mut discarded = [0; 4096];
                while stream.read(&mut discarded).await.is_ok_and(|read| read > 0) {}
                open.lock().expect("connections")[index] = false;
            });
        }
    }

    pub fn url(&self) -> String {
        hook_url(self.port)
    }

    /// How many connections it has taken.
    pub fn connections(&self) -> usize {
        self.open.lock().expect("connections").len()
    }

    /// Waits until a connection is open (a delivery hangs on it).
    pub async fn until_holding(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.open.lock().expect("connections").contains(&true) {
            assert!(Instant::now() < deadline, "no delivery hangs");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A loopback port whose listener never accepts and whose queue (of one) is full: the
/// kernel drops every further connection's SYN, so a connect hangs, as it does to a
/// host behind a firewall that drops packets, until the sender gives up.
pub struct FullQueue {
    port: u16,
    _listener: tokio::net::TcpListener,
    _queued: tokio::net::TcpStream,
}

impl FullQueue {
    pub async fn start() -> Self {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("a free port");
        let listener = socket.listen(0).expect("listen");
        let address = listener.local_addr().expect("a TCP address");
        let queued = tokio::net::TcpStream::connect(address)
            .await
            .expect("the one connection the queue holds");
        Self {
            port: address.port(),
            _listener: listener,
            _queued: queued,
        }
    }

    pub fn url(&self) -> String {
        hook_url(self.port)
    }
}

/// Makes every message that failed its second attempt due now, on `owner` (a superuser
/// connection): its third is 5 minutes on, too long for a test to wait for on a loaded
/// machine where the receiver came up only after the second.
pub async fn bring_late_retries_forward(owner: &tokio_postgres::Client) {
    owner
        .execute(
            "UPDATE webhook_messages SET next_attempt_at = now() \
             WHERE delivered_at IS NULL AND attempts >= 2 AND claim IS NULL",
            &[],
        )
        .await
        .expect("bring a late retry forward");
}

/// Creates an endpoint for `url` and `types`; answers its id and secret.
pub async fn subscribe(
    app: &TestApp,
    user: &TestUser,
    url: &str,
    types: &[&str],
) -> (String, String) {
    let created = expect_json(
        app.post(
            "/webhooks/endpoints",
            user,
            json!({ "url": url, "event_types": types, "description": "test receiver" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    (id_of(&created), secret)
}

/// Whether `standardwebhooks`' `Webhook(secret).verify(body, headers)` accepts the
/// delivery (it checks the signature and that the timestamp is recent).
pub async fn verified_by_the_reference_library(secret: &str, delivery: &Delivery) -> bool {
    verdicts_of_the_reference_library(secret, std::slice::from_ref(delivery)).await[0]
}

/// Whether the reference verifier accepts every one of `deliveries` (in one run of it).
pub async fn all_verified_by_the_reference_library(secret: &str, deliveries: &[Delivery]) -> bool {
    verdicts_of_the_reference_library(secret, deliveries)
        .await
        .into_iter()
        .all(|verified| verified)
}

/// For each of `deliveries`, whether the reference verifier accepts it, as
/// [`verified_by_the_reference_library`] says, in one run of it for them all. Any
/// failure but a refused verification fails the test, so a broken verifier cannot
/// pass for one that accepts.
pub async fn verdicts_of_the_reference_library(secret: &str, deliveries: &[Delivery]) -> Vec<bool> {
    let python = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned())
        + "/webhooks-venv/bin/python";
    let script = "import json, sys\n\
                  from standardwebhooks.webhooks import Webhook, WebhookVerificationError\n\
                  hook = Webhook(sys.argv[1])\n\
                  for line in sys.stdin:\n\
                  \x20   item = json.loads(line)\n\
                  \x20   try:\n\
                  \x20       hook.verify(item['body'], item['headers'])\n\
                  \x20       print('accepted')\n\
                  \x20   except WebhookVerificationError:\n\
                  \x20       print('refused')\n";
    let mut child = tokio::process::Command::new(&python)
        .args(["-c", script, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("{python} (run tests/setup): {err}"));
    let mut stdin = child.stdin.take().expect("stdin");
    for delivery in deliveries {
        let line = serde_json::json!({ "body": delivery.body, "headers": delivery.headers });
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("a delivery");
    }
    drop(stdin);
    let output = child.wait_with_output().await.expect("the verifier ran");
    assert!(output.status.success(), "the verifier failed");
    let verdicts: Vec<bool> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|verdict| verdict == "accepted")
        .collect();
    assert_eq!(verdicts.len(), deliveries.len(), "one verdict per delivery");
    verdicts
}
