//! Every resource vector of `test-vectors/` again, this time through the real tower layer over HTTP:
//! an axum server on loopback with the guard in front of a handler, requests written byte
//! for byte on a TCP socket, and the verdict read back from the status line and the
//! `WWW-Authenticate` field. The pure runner (`tests/vectors.rs`) and this test must agree.
//!
//! The vectors address `https://mcp.example.com/...`; the socket is plain loopback. The
//! test client plays the TLS-terminating proxy: it sends the vector's scheme and authority
//! as `X-Forwarded-Proto` / `X-Forwarded-Host`, which the guard believes from 127.0.0.1
//! only because the test configures that peer as a trusted proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use mcp_warden::guard::{Guard, PeerAddr, TrustedProxy};
use mcp_warden::testing::FixedClock;
use mcp_warden::vectors::{
    AnyVectorFile, Observed, Vector, build_verifier, expand_paths, load_any_file,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REACHED: &str = "reached the protected handler";

async fn serve(vector: &Vector) -> SocketAddr {
    let resource = vector
        .config
        .resource
        .clone()
        .unwrap_or_else(|| "https://mcp.example.com/mcp".into());
    let guard = Guard::builder()
        .resource(resource)
        .resource_verifier(build_verifier(&vector.config).unwrap())
        .trusted_proxy(TrustedProxy::parse("127.0.0.1").unwrap())
        .clock(std::sync::Arc::new(FixedClock(vector.now)))
        .build()
        .unwrap();
    let app = Router::new()
        .fallback(|| async { REACHED })
        .layer(guard)
        // The peer address, as a server embedding the guard would insert it.
        .layer(axum::middleware::from_fn(
            |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
             mut request: axum::extract::Request,
             next: axum::middleware::Next| async move {
                request.extensions_mut().insert(PeerAddr(peer));
                next.run(request).await
            },
        ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

/// Splits `https://Host:443/path?q#f` into ("https", "Host:443", "/path?q") without
/// normalizing anything: normalization is the guard's job.
fn split_url(url: &str) -> (String, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let target = target.split('#').next().unwrap_or("");
    let target = if target.is_empty() { "/" } else { target };
    (scheme.to_ascii_lowercase(), authority, target)
}

async fn send(
    address: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> Observed {
    let (scheme, authority, target) = split_url(url);
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nhost: {address}\r\nx-forwarded-proto: {scheme}\r\nx-forwarded-host: {authority}\r\nconnection: close\r\ncontent-length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let status: u16 = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if status == 200 {
        assert!(
            body.contains(REACHED),
            "200 without reaching the handler: {body}"
        );
        return Observed {
            accept: true,
            status: None,
            error: None,
            reason: None,
        };
    }
    let error = head
        .lines()
        .filter(|line| line.to_ascii_lowercase().starts_with("www-authenticate:"))
        .find_map(|line| line.split("error=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    Observed {
        accept: false,
        status: Some(status),
        error,
        reason: Some(head.lines().next().unwrap_or("").to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_passes_through_the_layer_over_http() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors");
    let mut passed = 0;
    let mut failures = Vec::new();
    for path in expand_paths(&[dir]).unwrap() {
        // Workload vectors address the token endpoint, not the guard: tests/workload_vectors.rs
        // runs them.
        let AnyVectorFile::Resource(file) = load_any_file(&path).unwrap() else {
            continue;
        };
        for vector in &file.vectors {
            let address = serve(vector).await;
            for (index, request) in vector.requests.iter().enumerate() {
                let got = send(address, &request.method, &request.url, &request.headers).await;
                if let Err(why) = got.check(request) {
                    failures.push(format!("{}: requests[{index}]: {why}", vector.id));
                }
            }
            passed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed >= 100, "only {passed} vectors ran");
}
