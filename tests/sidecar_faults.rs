#![cfg(all(feature = "sidecar", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

//! The sidecar binary (`mcp-warden serve`, running the guard role) when what it depends on
//! fails, and when clients misbehave: replicas sharing one Redis (replays and nonces across
//! replicas), Redis dying and coming back (fail closed, or the memory fallback), the
//! upstream dying or stalling (502, 504), the issuer's JWKS endpoint going down (stale keys
//! for `max_stale_s`, then 503), and raw TCP clients sending oversized heads, garbage, slow
//! heads, oversized bodies, or more connections than `max_connections`.
//!
//! Every process runs on loopback: real `redis-server` children (which must be on PATH),
//! the sidecar binary, and axum upstreams that the test can stop outright. Every wait is
//! bounded.

mod support;

#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/sidecar.rs"]
mod sidecar;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, get};
use http::HeaderMap;
use redis_server::RedisServer;
use serde_json::{Value, json};
use sidecar::{Caller, Sidecar, SidecarConfig, TempDir, Upstream, http, jwks};
use support::AuthorizationServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

/// `/echo` reads the whole body (so that an aborted body is noticed before the answer)
/// and answers 200; `/slow` answers after 5 s.
fn upstream_app() -> Router {
    Router::new()
        .route(
            "/echo",
            any(|body: axum::body::Bytes| async move {
                axum::Json(json!({"ok": true, "received": body.len()}))
            }),
        )
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
}

/// POST `/echo` at `sidecar` with `headers`.
async fn post_echo(sidecar: &Sidecar, headers: HeaderMap) -> reqwest::Response {
    http()
        .post(sidecar.url("/echo"))
        .headers(headers)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap()
}

/// The `error` parameter of the DPoP challenge, if any.
fn challenge_error(response: &reqwest::Response) -> Option<String> {
    let challenge = response.headers().get("www-authenticate")?.to_str().ok()?;
    let rest = challenge.split("error=\"").nth(1)?;
    Some(rest.split('"').next()?.to_owned())
}

fn redis_replay(redis: &RedisServer, extra: &str) -> String {
    format!(
        "[replay]\nstore = \"redis\"\nredis_url = \"{}\"\n{extra}",
        redis.url()
    )
}

/// The value of the first sample of `metric` whose labels contain `label`.
fn sample(metrics: &str, metric: &str, label: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")) && line.contains(label))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

// ---------------------------------------------------------------------------------------
// 1. Replicas sharing one Redis
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_accepted_by_one_replica_is_a_replay_at_another_sharing_redis() {
    let redis = RedisServer::start();
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let replica = || {
        SidecarConfig::new(&upstream.url(), jwks(&issuer))
            .section(&redis_replay(&redis, ""))
            .start()
    };
    let (a, b) = (replica().await, replica().await);
    let caller = Caller::new(&issuer);

    let headers = caller.headers("POST", "/echo", None);
    assert_eq!(post_echo(&a, headers.clone()).await.status(), 200);
    // RFC 9449 §11.1: the (jkt, jti) recorded by replica A is a replay at replica B.
    let replayed = post_echo(&b, headers).await;
    assert_eq!(replayed.status(), 401);
    assert_eq!(
        challenge_error(&replayed).as_deref(),
        Some("invalid_dpop_proof")
    );
    assert!(
        b.metrics().await.contains("reason=\"proof_replayed\""),
        "replica B should count the replay"
    );
    // B itself works: a fresh proof passes.
    let fresh = post_echo(&b, caller.headers("POST", "/echo", None)).await;
    assert_eq!(fresh.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_from_one_replica_is_accepted_by_another_with_the_same_key_file() {
    let redis = RedisServer::start();
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let keys = TempDir::new("nonce-keys");
    // Base64 of 32 bytes, as `openssl rand -base64 32` writes it (with its newline).
    let shared = keys.write(
        "nonce-key",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
    );
    let other = keys.write(
        "other-key",
        "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=\n",
    );
    let replica = |key: &std::path::Path| {
        SidecarConfig::new(&upstream.url(), jwks(&issuer))
            .section(&redis_replay(&redis, ""))
            .section(&format!(
                "[nonce]\nenabled = true\nkey_file = {:?}",
                key.display().to_string()
            ))
            .start()
    };
    let (a, b) = (replica(&shared).await, replica(&shared).await);
    let stranger = replica(&other).await;
    let caller = Caller::new(&issuer);

    // RFC 9449 §9: without a nonce, A asks for one.
    let asked = post_echo(&a, caller.headers("POST", "/echo", None)).await;
    assert_eq!(asked.status(), 401);
    assert_eq!(challenge_error(&asked).as_deref(), Some("use_dpop_nonce"));
    let nonce = asked.headers()["dpop-nonce"].to_str().unwrap().to_owned();

    // B holds the same key: A's nonce is good there.
    let accepted = post_echo(&b, caller.headers("POST", "/echo", Some(&nonce))).await;
    assert_eq!(accepted.status(), 200);
    // A replica with another key refuses it (the key is what makes nonces portable).
    let refused = post_echo(&stranger, caller.headers("POST", "/echo", Some(&nonce))).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(challenge_error(&refused).as_deref(), Some("use_dpop_nonce"));
}

// ---------------------------------------------------------------------------------------
// 2. Redis stopped mid-run
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_with_503_then_recovers_without_a_restart() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .section(&redis_replay(&redis, ""))
        .start()
        .await;
    let caller = Caller::new(&issuer);
    assert_eq!(
        post_echo(&sidecar, caller.headers("POST", "/echo", None))
            .await
            .status(),
        200
    );

    redis.kill();
    let started = Instant::now();
    let refused = post_echo(&sidecar, caller.headers("POST", "/echo", None)).await;
    assert_eq!(
        refused.status(),
        503,
        "a proof that cannot be recorded must not pass"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the refusal took {:?}",
        started.elapsed()
    );
    assert_eq!(refused.headers()["retry-after"], "5");
    let (status, problems) = sidecar.readyz().await;
    assert_eq!(status, 503, "{problems}");
    assert!(problems.contains("replay store"), "{problems}");
    let metrics = sidecar.metrics().await;
    assert!(
        metrics.contains("reason=\"proof_replay_store\""),
        "{metrics}"
    );

    let _redis = RedisServer::start_on(port, &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = post_echo(&sidecar, caller.headers("POST", "/echo", None))
            .await
            .status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "the sidecar did not use the restarted Redis within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sidecar.readyz().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_with_the_memory_fallback_still_serves_and_still_refuses_replays() {
    let mut redis = RedisServer::start();
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .section(&redis_replay(&redis, "on_redis_error = \"memory\""))
        .start()
        .await;
    let caller = Caller::new(&issuer);
    let before = caller.headers("POST", "/echo", None);
    assert_eq!(post_echo(&sidecar, before.clone()).await.status(), 200);

    redis.kill();
    let during = caller.headers("POST", "/echo", None);
    assert_eq!(post_echo(&sidecar, during.clone()).await.status(), 200);
    for (when, headers) in [("during", during), ("before", before)] {
        let replayed = post_echo(&sidecar, headers).await;
        assert_eq!(
            replayed.status(),
            401,
            "replay of a proof first seen {when}"
        );
        assert_eq!(
            challenge_error(&replayed).as_deref(),
            Some("invalid_dpop_proof")
        );
    }
    // With the fallback on, Redis being down does not stop traffic, so it does not make
    // the sidecar unready either (`replay_probe` in src/sidecar/run.rs).
    assert_eq!(sidecar.readyz().await.0, 200);
}

/// docs/configuration.md (security notes, `on_redis_error = "memory"`): "alert on the
/// degraded state (`/metrics`)": `mcp_warden_replay_store_degraded` is 1 while answers come
/// from memory, and the fallbacks are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_with_the_memory_fallback_shows_as_degraded_in_metrics() {
    let mut redis = RedisServer::start();
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .section(&redis_replay(&redis, "on_redis_error = \"memory\""))
        .start()
        .await;
    let caller = Caller::new(&issuer);
    redis.kill();
    assert_eq!(
        post_echo(&sidecar, caller.headers("POST", "/echo", None))
            .await
            .status(),
        200
    );
    let metrics = sidecar.metrics().await;
    let sample = |name: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
    };
    assert_eq!(
        sample("mcp_warden_replay_store_degraded "),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample("mcp_warden_replay_store_fallbacks ").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Upstream dead or slow
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_gets_502_with_a_json_rpc_error_body() {
    let issuer = AuthorizationServer::new();
    let mut upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);
    // A first request leaves a pooled connection, which the upstream's death must close.
    assert_eq!(
        post_echo(&sidecar, caller.headers("POST", "/echo", None))
            .await
            .status(),
        200
    );

    upstream.stop();
    let response = post_echo(&sidecar, caller.headers("POST", "/echo", None)).await;
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert_eq!(body["error"]["data"]["status"], 502, "{body}");
    let metrics = sidecar.metrics().await;
    assert!(
        sample(
            &metrics,
            "mcp_warden_upstream_errors_total",
            "status=\"502\""
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_slower_than_first_byte_timeout_gets_504() {
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .upstream("first_byte_timeout_s = 1")
        .start()
        .await;
    let caller = Caller::new(&issuer);
    let started = Instant::now();
    let response = http()
        .post(sidecar.url("/slow"))
        .headers(caller.headers("POST", "/slow", None))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 504);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered after {took:?}, expected about first_byte_timeout_s = 1"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert_eq!(body["error"]["data"]["status"], 504, "{body}");
}

// ---------------------------------------------------------------------------------------
// 4. The issuer's JWKS endpoint goes down
// ---------------------------------------------------------------------------------------

/// The sidecar clamps a JWK Set's lifetime to at least 30 s (`min_ttl`, docs/guard.md; not
/// configurable from `warden.toml`), so `Cache-Control: max-age=1` still means 30 s: the
/// keys go stale 30 s after the fetch and are refused `max_stale_s` later. This test
/// therefore runs for about 33 s; its name sorts first so that it starts first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_issuer_keys_serve_stale_until_max_stale_then_503() {
    const TTL: Duration = Duration::from_secs(30);
    const MAX_STALE: Duration = Duration::from_secs(2);
    let issuer = AuthorizationServer::new();
    let healthy = Arc::new(AtomicBool::new(true));
    let keys = jwks(&issuer);
    let serving = healthy.clone();
    let jwks_server = Upstream::start(Router::new().route(
        "/jwks",
        get(move || {
            let (healthy, keys) = (serving.load(Ordering::SeqCst), keys.clone());
            async move {
                if healthy {
                    (
                        http::StatusCode::OK,
                        [
                            ("content-type", "application/json"),
                            ("cache-control", "max-age=1"),
                        ],
                        keys,
                    )
                } else {
                    (
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        [
                            ("content-type", "text/plain"),
                            ("cache-control", "no-store"),
                        ],
                        "down".to_owned(),
                    )
                }
            }
        }),
    ));
    let upstream = Upstream::start(upstream_app());
    let spawned = Instant::now();
    // `/readyz` loads the keys: once it answers 200 they were fetched, at some instant
    // between `spawned` and `ready`.
    let sidecar = SidecarConfig::new(&upstream.url(), String::new())
        .issuer_keys(&format!(
            "jwks_uri = \"{}/jwks\"\ndangerous_allow_plain_http = true\n\
             max_stale_s = {}\nmin_refetch_interval_s = 1",
            jwks_server.url(),
            MAX_STALE.as_secs()
        ))
        .start()
        .await;
    let ready = Instant::now();
    assert!(
        ready - spawned < Duration::from_millis(1500),
        "start-up took {:?}: too long to place a request in the stale window",
        ready - spawned
    );
    // A new token for every request: a token verified once is remembered by the token
    // cache (for at most `token_cache_ttl_s`), so only new tokens show whether the
    // sidecar can still verify with the issuer's keys.
    let status = |sidecar: &Sidecar| {
        let headers = Caller::new(&issuer).headers("POST", "/echo", None);
        let sidecar_url = sidecar.url("/echo");
        async move {
            http()
                .post(sidecar_url)
                .headers(headers)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(&sidecar).await, 200);

    healthy.store(false, Ordering::SeqCst);
    // Fresh keys, issuer down: nothing changes for clients.
    while Instant::now() < ready + TTL - Duration::from_secs(1) {
        assert_eq!(
            status(&sidecar).await,
            200,
            "{:?} after the fetch",
            spawned.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // Past the keys' lifetime (age > 30 s) and within max_stale: served stale.
    tokio::time::sleep_until((ready + TTL + Duration::from_millis(300)).into()).await;
    assert_eq!(
        status(&sidecar).await,
        200,
        "stale keys should still be served"
    );
    let metrics = sidecar.metrics().await;
    assert!(
        sample(&metrics, "mcp_warden_jwks_fetch_failures", "as.example.com")
            .is_some_and(|n| n >= 1.0),
        "the background refresh should have tried and failed: {metrics}"
    );

    // Past lifetime + max_stale: fail closed.
    let deadline = ready + TTL + MAX_STALE + Duration::from_secs(3);
    let refused_at = loop {
        let answer = status(&sidecar).await;
        if answer == 503 {
            break Instant::now();
        }
        assert_eq!(answer, 200);
        assert!(
            Instant::now() < deadline,
            "still accepted {:?} after the fetch",
            spawned.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        refused_at >= spawned + TTL + MAX_STALE,
        "refused {:?} after start, before lifetime + max_stale",
        refused_at - spawned
    );
    let (ready_status, problems) = sidecar.readyz().await;
    assert_eq!(ready_status, 503, "{problems}");
    assert!(
        problems.contains("https://as.example.com"),
        "/readyz should name the issuer: {problems}"
    );
    assert!(
        sidecar
            .metrics()
            .await
            .contains("reason=\"token_unavailable\"")
    );

    // The issuer returns: traffic brings the keys back (min_refetch_interval_s = 1).
    healthy.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&sidecar).await != 200 {
        assert!(
            Instant::now() < deadline,
            "keys not refetched after the issuer returned"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(sidecar.readyz().await.0, 200);
}

// ---------------------------------------------------------------------------------------
// 5. and 6. Hostile clients over raw TCP
// ---------------------------------------------------------------------------------------

/// What a raw connection got back.
#[derive(Debug, PartialEq)]
enum Raw {
    /// The response head's status line.
    Answer(String),
    /// Closed (EOF or reset) without a response.
    Closed,
    /// Nothing within the wait.
    Silent,
}

/// Reads a response head from `stream`, waiting at most `wait`.
async fn read_head(stream: &mut TcpStream, wait: Duration) -> Raw {
    let mut buffer = Vec::new();
    let outcome = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    match (outcome, buffer.is_empty()) {
        (_, false) => Raw::Answer(
            String::from_utf8_lossy(&buffer)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
        (Ok(()), true) => Raw::Closed,
        (Err(_), true) => Raw::Silent,
    }
}

async fn connect(address: SocketAddr) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(address))
        .await
        .expect("connect timed out")
        .unwrap()
}

/// Sends `request` on a new connection and reads the response head (up to 3 s).
async fn exchange(address: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = connect(address).await;
    stream.write_all(request).await.unwrap();
    read_head(&mut stream, Duration::from_secs(3)).await
}

/// A complete request without credentials: the guard answers 401.
const UNAUTHENTICATED: &[u8] = b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n";

fn is_status(raw: &Raw, status: u16) -> bool {
    matches!(raw, Raw::Answer(line) if line.starts_with(&format!("HTTP/1.1 {status} ")))
}

async fn raw_sidecar(listen: &str) -> (Sidecar, Upstream, AuthorizationServer) {
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(upstream_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .listen(listen)
        .start()
        .await;
    (sidecar, upstream, issuer)
}

fn head_with_header(bytes: usize) -> Vec<u8> {
    format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nx-padding: {}\r\n\r\n",
        "a".repeat(bytes)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_max_header_bytes_gets_431() {
    let (sidecar, _upstream, _issuer) = raw_sidecar("max_header_bytes = 16384").await;
    let oversized = exchange(sidecar.address, &head_with_header(20_000)).await;
    assert!(is_status(&oversized, 431), "{oversized:?}");
    // Just under the limit is read and judged by the guard.
    let under = exchange(sidecar.address, &head_with_header(12_000)).await;
    assert!(is_status(&under, 401), "{under:?}");
}

/// hyper cannot buffer a request head in less than 8 KiB, so a smaller `max_header_bytes`
/// could not be enforced: the configuration refuses it instead of silently raising it.
#[test]
fn a_max_header_bytes_below_8_kib_is_refused_by_the_configuration() {
    let config = mcp_warden::sidecar::config::Config::parse(
        "[listen]\nmax_header_bytes = 2048\n[guard]\nresource = \"https://mcp.example.com/mcp\"\n[[guard.issuers]]\nissuer = \"https://as.example.com\"\ndiscovery = true\n",
    )
    .unwrap();
    let errors = config.validate().unwrap_err();
    assert!(
        errors
            .iter()
            .any(|error| error.field == "listen.max_header_bytes"),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_line_gets_400_or_a_close_never_a_hang() {
    let (sidecar, _upstream, _issuer) = raw_sidecar("").await;
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /echo HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    ] {
        let outcome = exchange(sidecar.address, garbage).await;
        assert!(
            is_status(&outcome, 400) || outcome == Raw::Closed,
            "{:?}: {outcome:?}",
            String::from_utf8_lossy(garbage)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_after_header_read_timeout_and_block_no_one() {
    let (sidecar, _upstream, _issuer) = raw_sidecar("header_read_timeout_s = 1").await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut stream = connect(sidecar.address).await;
        stream
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // While they hang, a new client is served.
    let served = exchange(sidecar.address, UNAUTHENTICATED).await;
    assert!(is_status(&served, 401), "{served:?}");
    assert!(
        opened.elapsed() < Duration::from_millis(900),
        "the normal request should have been answered while the slow ones were open"
    );
    for mut stream in slow {
        let left = Duration::from_secs(3).saturating_sub(opened.elapsed());
        let outcome = read_head(&mut stream, left).await;
        // hyper closes without an answer; a 408 would do as well.
        assert!(
            outcome == Raw::Closed || is_status(&outcome, 408),
            "{outcome:?} after {:?}",
            opened.elapsed()
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before header_read_timeout_s = 1",
        opened.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_gets_413() {
    let (sidecar, _upstream, issuer) = raw_sidecar("max_body_bytes = 1024").await;
    let caller = Caller::new(&issuer);

    // Declared too large: refused from the head, before any body byte is sent.
    let mut request = String::from("POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 2048\r\n");
    for (name, value) in &caller.headers("POST", "/echo", None) {
        request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    request.push_str("\r\n");
    let declared = exchange(sidecar.address, request.as_bytes()).await;
    assert!(is_status(&declared, 413), "{declared:?}");

    // Chunked, no length: refused once the streamed body passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![b'x'; 800])).collect();
    let streamed = http()
        .post(sidecar.url("/echo"))
        .headers(caller.headers("POST", "/echo", None))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    let body: Value = streamed.json().await.unwrap();
    assert_eq!(body["error"]["data"]["status"], 413, "{body}");

    // At the limit: forwarded whole.
    let at_limit = http()
        .post(sidecar.url("/echo"))
        .headers(caller.headers("POST", "/echo", None))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(at_limit.status(), 200);
    let body: Value = at_limit.json().await.unwrap();
    assert_eq!(body["received"], 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_max_connections_waits_until_one_closes() {
    // A long header timeout: the idle connections must outlive the test's waits.
    let (sidecar, _upstream, _issuer) =
        raw_sidecar("max_connections = 2\nheader_read_timeout_s = 30").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(sidecar.address).await;
        stream.write_all(UNAUTHENTICATED).await.unwrap();
        let answer = read_head(&mut stream, Duration::from_secs(3)).await;
        assert!(is_status(&answer, 401), "{answer:?}");
        held.push(stream); // kept alive, idle
    }

    // The kernel completes the handshake; the sidecar does not accept it yet.
    let mut third = connect(sidecar.address).await;
    third.write_all(UNAUTHENTICATED).await.unwrap();
    let early = read_head(&mut third, Duration::from_secs(1)).await;
    assert_eq!(
        early,
        Raw::Silent,
        "a third connection was served with max_connections = 2"
    );

    drop(held.remove(0));
    let later = read_head(&mut third, Duration::from_secs(3)).await;
    assert!(is_status(&later, 401), "{later:?}");
}

/// hyper's header-read timer also runs while a keep-alive connection waits for its next
/// request, so `header_read_timeout_s` bounds idle connections too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_header_read_timeout() {
    let (sidecar, _upstream, _issuer) = raw_sidecar("header_read_timeout_s = 1").await;
    let mut stream = connect(sidecar.address).await;
    stream.write_all(UNAUTHENTICATED).await.unwrap();
    let answer = read_head(&mut stream, Duration::from_secs(3)).await;
    assert!(is_status(&answer, 401), "{answer:?}");
    // Drain the rest of the response, then expect the close.
    let idle = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(4), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "an idle connection was still open {:?} after its response, with header_read_timeout_s = 1",
        idle.elapsed()
    );
}
