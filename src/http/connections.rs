//! The HTTP connection host: accepts TCP connections and serves the poem endpoint on
//! each with hyper, bounding how long a client may hold a connection without using it.
//!
//! poem's own `Server` has no header-read timeout (hyper's needs a timer it does not
//! set), so a slowloris client trickling a request line kept a connection, and a task,
//! for as long as it liked. Here:
//! - **header-read timeout**: a request's head must arrive whole within it, counted
//!   from when the connection starts waiting for a request, so it also closes a
//!   keep-alive connection left without a next request (hyper's timer), and a new
//!   connection that sends nothing at all (here: before its first byte, hyper is
//!   still detecting HTTP/1 or HTTP/2 and its timer has not started);
//! - **idle timeout**: a connection on which nothing is read or written for this long
//!   is closed (a stalled body, a client that stopped reading the response, HTTP/2).
//!
//! On shutdown it stops accepting, asks every connection to finish its request in
//! flight, and waits for them at most the grace period.

use std::{
    convert::Infallible,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{
    Endpoint, EndpointExt, Response,
    endpoint::BoxEndpoint,
    listener::{Acceptor, TcpAcceptor},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::watch,
    task::JoinSet,
    time::Instant,
};

/// How long a connection may go unused.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `endpoint` on the connections `acceptor` accepts until `signal` completes,
/// then lets requests in flight finish for at most `grace`.
pub async fn serve(
    mut acceptor: TcpAcceptor,
    endpoint: impl Endpoint + 'static,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()> + Send,
    grace: Duration,
) -> io::Result<()> {
    let endpoint: Arc<BoxEndpoint<'static, Response>> =
        Arc::new(endpoint.map_to_response().boxed());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = acceptor.accept() => match accepted {
                Ok((socket, local, remote, scheme)) => {
                    let addresses = (local, remote, scheme);
                    connections.spawn(connection(
                        socket,
                        addresses,
                        Arc::clone(&endpoint),
                        limits,
                        stopping.clone(),
                    ));
                }
                Err(err) => tracing::warn!(error = %err, "accepting a connection failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(acceptor);
    // Receivers see the change even if they subscribed after it; nobody listening is fine.
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over: closing the connections still open");
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends, goes idle, or the server stops.
async fn connection(
    socket: TcpStream,
    (local, remote, scheme): (LocalAddr, RemoteAddr, poem::http::uri::Scheme),
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let remote_for_log = remote.clone();
    let service = hyper::service::service_fn(move |request| {
        let endpoint = Arc::clone(&endpoint);
        let request = poem::Request::from((request, local.clone(), remote.clone(), scheme.clone()));
        async move {
            let response: hyper::Response<_> = endpoint.get_response(request).await.into();
            Ok::<_, Infallible>(response)
        }
    });
    let activity = Activity::new();
    let socket = Watched {
        inner: socket,
        activity: Arc::clone(&activity),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(socket), service);
    tokio::pin!(conn);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    let first_byte_deadline = Instant::now() + limits.header_read_timeout;
    loop {
        let idle_deadline = activity.last() + limits.idle_timeout;
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(first_byte_deadline), if !activity.has_read() => {
                if !activity.has_read() {
                    tracing::info!(remote_addr = %remote_for_log, "closing a connection that sent nothing");
                    return;
                }
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::info!(remote_addr = %remote_for_log, "closing an idle connection");
                    return;
                }
            }
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_err() || *stopping.borrow() {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// When a connection last read or wrote a byte, and whether it ever read one.
struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last_ms: AtomicU64,
    read_any: AtomicBool,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            read_any: AtomicBool::new(false),
        })
    }

    fn has_read(&self) -> bool {
        self.read_any.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that records its activity.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn record<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if matches!(poll, Poll::Ready(Ok(_))) {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_any.store(true, Ordering::Relaxed);
        }
        self.record(poll)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.record(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.record(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
