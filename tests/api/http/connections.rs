//! Connections a client opens and does not use: a slowloris request trickling its
//! head, or a connection opened and left silent, is closed by the server.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{TestApp, spawn_app_with};

fn short_header_timeout(vars: &mut Vec<(String, String)>) {
    vars.push(("CRM_HEADER_READ_TIMEOUT_MS".into(), "500".into()));
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// Reads until the server closes the connection; panics if it keeps it open (the
/// bound is generous: this checks that it closes, not how fast).
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server keeps the connection open");
    received
}

#[tokio::test]
async fn a_request_head_sent_in_part_is_not_waited_for_forever() {
    let app = spawn_app_with(short_header_timeout).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: crm")
        .await
        .expect("half a request");
    let received = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(!text.contains("200 OK"), "{text}");
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_a_whole_request_still_answered() {
    let app = spawn_app_with(short_header_timeout).await;
    let mut silent = connect(&app).await;
    read_until_closed(&mut silent).await;

    let mut polite = connect(&app).await;
    polite
        .write_all(b"GET /health HTTP/1.1\r\nHost: crm\r\n\r\n")
        .await
        .expect("a whole request");
    let received = read_until_closed(&mut polite).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
