//! The Redis replay store (RFC 9449 §11.1) against real `redis-server` processes, one per
//! test, started and killed by the test. `redis-server` must be on PATH: without it these
//! tests fail rather than pass silently.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcp_warden::dpop::{
    DegradingReplayStore, NormalizedUri, ProofContext, ProofError, ProofSigner, ProofValidator,
    RedisReplayError, RedisReplayStore, ReplayKey, ReplayStore, ReplayStoreError, Seen,
};
use mcp_warden::jose::Algorithm;
use mcp_warden::token::PresentedToken;

#[path = "support/redis.rs"]
mod redis_server;

use redis_server::{RedisServer, free_port};

async fn store(url: &str) -> RedisReplayStore {
    RedisReplayStore::builder(url).connect().await.unwrap()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

fn hex(key: &ReplayKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn key(jti: &str) -> ReplayKey {
    ReplayKey::new("jkt-thumbprint", jti)
}

/// Retries `check_and_record` with fresh keys until it answers, up to `limit`.
async fn recovers(store: &dyn ReplayStore, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    for i in 0.. {
        if store
            .check_and_record(key(&format!("probe-{i}")), 0, 60)
            .await
            .is_ok()
        {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_then_replay_across_two_replicas() {
    let redis = RedisServer::start();
    let (a, b) = (store(&redis.url()).await, store(&redis.url()).await);
    let k = key("jti-1");
    assert_eq!(a.check_and_record(k, 0, 60).await, Ok(Seen::First));
    assert_eq!(a.check_and_record(k, 0, 60).await, Ok(Seen::Replay));
    // Recorded by replica A: a replay on replica B (RFC 9449 §11.1 across replicas).
    assert_eq!(b.check_and_record(k, 0, 60).await, Ok(Seen::Replay));
    assert_eq!(
        b.check_and_record(key("jti-2"), 0, 60).await,
        Ok(Seen::First)
    );
    let stats = a.stats();
    assert_eq!((stats.checks, stats.replays, stats.errors), (2, 1, 0));
    assert_eq!(a.ping().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefix_and_px_ttl_are_set() {
    let redis = RedisServer::start();
    let store = RedisReplayStore::builder(&redis.url())
        .key_prefix("test-warden:")
        .connect()
        .await
        .unwrap();
    assert_eq!(store.key_prefix(), "test-warden:");
    let k = key("jti-ttl");
    assert_eq!(store.check_and_record(k, 0, 60).await, Ok(Seen::First));
    let mut conn = raw(&redis.url()).await;
    let name = format!("test-warden:{}", hex(&k));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("test-warden:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, std::slice::from_ref(&name));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&name)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&pttl), "PTTL {pttl}");
    // A TTL that would overflow in milliseconds saturates; Redis still accepts it.
    let huge = store.check_and_record(key("jti-huge"), 0, u64::MAX).await;
    assert_eq!(huge, Ok(Seen::First));
    // Zero becomes PX 1 rather than an error.
    let zero = store.check_and_record(key("jti-zero"), 0, 0).await;
    assert_eq!(zero, Ok(Seen::First));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_expires_after_ttl() {
    let redis = RedisServer::start();
    let store = store(&redis.url()).await;
    let k = key("jti-expiry");
    assert_eq!(store.check_and_record(k, 0, 1).await, Ok(Seen::First));
    assert_eq!(store.check_and_record(k, 0, 1).await, Ok(Seen::Replay));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.check_and_record(k, 0, 1).await, Ok(Seen::First));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_replicas_accept_exactly_once() {
    let redis = RedisServer::start();
    let stores = [
        Arc::new(store(&redis.url()).await),
        Arc::new(store(&redis.url()).await),
    ];
    let k = key("jti-race");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.check_and_record(k, 0, 60).await })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Seen::First) => firsts += 1,
            Ok(Seen::Replay) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(firsts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_then_recovers_without_rebuild() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let store = Arc::new(
        RedisReplayStore::builder(&redis.url())
            .timeout(Duration::from_millis(200))
            .connect()
            .await
            .unwrap(),
    );
    let validator = ProofValidator::builder()
        .replay_store(store.clone())
        .build();
    let signer = ProofSigner::generate(Algorithm::ES256).unwrap();
    let uri = NormalizedUri::parse("https://mcp.example.com/mcp").unwrap();
    let context = ProofContext {
        method: "POST",
        uri: &uri,
        access_token: Some(PresentedToken::new("token")),
        bound_jkt: Some(signer.thumbprint().as_str()),
    };
    let validate = |now| {
        let proof = signer
            .proof("POST", uri.as_str(), Some("token"), None, now)
            .unwrap();
        let (validator, context) = (validator.clone(), context);
        async move { validator.validate(&proof, &context, now).await }
    };
    assert!(validate(unix_now()).await.is_ok());

    redis.kill();
    let start = Instant::now();
    let down = store.check_and_record(key("jti-down"), 0, 60).await;
    assert!(
        matches!(down, Err(ReplayStoreError::Unavailable { .. })),
        "{down:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Fail closed: the validator refuses a valid proof it cannot record.
    let refused = validate(unix_now()).await;
    assert!(
        matches!(refused, Err(ProofError::ReplayStore(_))),
        "{refused:?}"
    );
    assert!(store.ping().await.is_err());
    assert!(store.stats().errors >= 2);

    let _redis = RedisServer::start_on(port, &[]);
    let took = recovers(store.as_ref(), Duration::from_secs(3)).await;
    eprintln!("reconnected {took:?} after the restart");
    assert!(took.is_some(), "the store did not reconnect within 3 s");
    assert!(validate(unix_now()).await.is_ok());
    assert_eq!(store.ping().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_while_idle_costs_no_refusal() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let store = store(&redis.url()).await;
    assert_eq!(store.ping().await, Ok(()));
    redis.kill();
    let _redis = RedisServer::start_on(port, &[]);
    // The dead connection fails the first try; the store retries once on the new one.
    let k = key("jti-after-restart");
    assert_eq!(store.check_and_record(k, 0, 60).await, Ok(Seen::First));
    assert_eq!(store.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_times_out_quickly() {
    let redis = RedisServer::start();
    let store = RedisReplayStore::builder(&redis.url())
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    // Redis runs one command at a time: while it sleeps, the store's SET waits.
    let mut sleeper = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    sleeper.write_all(b"DEBUG SLEEP 1\r\n").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let slow = store.check_and_record(key("jti-slow"), 0, 60).await;
    assert!(
        matches!(slow, Err(ReplayStoreError::Unavailable { .. })),
        "{slow:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    // Once Redis is responsive again the same store answers.
    let took = recovers(&store, Duration::from_secs(3)).await;
    assert!(took.is_some(), "the store did not answer after DEBUG SLEEP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degrading_store_answers_from_memory_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let primary = Arc::new(store(&redis.url()).await);
    let store = DegradingReplayStore::new(primary);
    let (before, during) = (key("jti-before"), key("jti-during"));
    assert_eq!(store.check_and_record(before, 0, 60).await, Ok(Seen::First));
    assert_eq!(store.fallbacks(), 0);

    redis.kill();
    assert_eq!(store.check_and_record(during, 0, 60).await, Ok(Seen::First));
    assert_eq!(
        store.check_and_record(during, 0, 60).await,
        Ok(Seen::Replay)
    );
    // Recorded in memory too while Redis answered: still caught on this replica.
    assert_eq!(
        store.check_and_record(before, 0, 60).await,
        Ok(Seen::Replay)
    );
    assert!(store.is_degraded());
    assert_eq!(store.fallbacks(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_not_ready_when_redis_is_down_then_becomes_ready() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let store = RedisReplayStore::builder(&url)
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .expect("an unreachable Redis is not a startup error");
    assert!(store.ping().await.is_err());
    let down = store.check_and_record(key("jti-early"), 0, 60).await;
    assert!(matches!(down, Err(ReplayStoreError::Unavailable { .. })));

    let _redis = RedisServer::start_on(port, &[]);
    let took = recovers(&store, Duration::from_secs(3)).await;
    eprintln!("connected {took:?} after Redis started");
    assert!(took.is_some(), "the store did not connect within 3 s");
    assert_eq!(store.ping().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_at_startup_without_leaking() {
    let port = free_port();
    let _redis = RedisServer::start_on(port, &["--requirepass", "right-pw-1"]);
    for url in [
        format!("redis://:hunter2-xyz@127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}/"),
    ] {
        let err = RedisReplayStore::builder(&url).connect().await.err();
        let Some(err @ RedisReplayError::Rejected { .. }) = err else {
            panic!("{url}: expected Rejected, got {err:?}");
        };
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    }
    let ok = store(&format!("redis://:right-pw-1@127.0.0.1:{port}/")).await;
    assert_eq!(
        ok.check_and_record(key("jti-auth"), 0, 60).await,
        Ok(Seen::First)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_errors_never_show_the_password() {
    let url = "redis://:s3cret@127.0.0.1:1/";
    let builder = RedisReplayStore::builder(url).timeout(Duration::from_millis(100));
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains(":redacted@"),
        "{shown}"
    );
    let store = builder.connect().await.unwrap();
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("s3cret") && shown.contains(":redacted@"),
        "{shown}"
    );
    let err = store.check_and_record(key("jti"), 0, 60).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
}

#[tokio::test]
async fn builder_checks_its_fields_before_connecting() {
    let builder = || RedisReplayStore::builder("redis://127.0.0.1:1/");
    let checks = [
        (builder().key_prefix(""), "prefix"),
        (builder().key_prefix("a b"), "prefix"),
        (builder().key_prefix("x".repeat(129)), "prefix"),
        (builder().timeout(Duration::ZERO), "timeout"),
        (builder().connect_timeout(Duration::ZERO), "connect_timeout"),
        (RedisReplayStore::builder("http://127.0.0.1:1/"), "url"),
        (RedisReplayStore::builder("not a url"), "url"),
    ];
    for (builder, what) in checks {
        let shown = format!("{builder:?}");
        match (builder.connect().await.err(), what) {
            (Some(RedisReplayError::InvalidKeyPrefix { .. }), "prefix")
            | (Some(RedisReplayError::InvalidUrl { .. }), "url") => {}
            (Some(RedisReplayError::ZeroTimeout { field }), _) if field == what => {}
            (other, _) => panic!("{shown}: expected a {what} error, got {other:?}"),
        }
    }
}

/// A `redis-server` that also listens with TLS (`--tls-port`) on a certificate for
/// `localhost` that no platform trusts; returns it, the TLS port and the certificate PEM.
fn tls_redis(dir: &std::path::Path) -> (RedisServer, u16, String) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = pair.cert.pem();
    let cert = dir.join("redis.crt");
    let key = dir.join("redis.key");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let tls_port = free_port();
    let tls_port_text = tls_port.to_string();
    let redis = RedisServer::start_on(
        free_port(),
        &[
            "--tls-port",
            &tls_port_text,
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ],
    );
    (redis, tls_port, cert_pem)
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-warden-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_its_ca_records_and_refuses_replays() {
    let dir = temp_dir("rediss-ok");
    let (_redis, tls_port, ca) = tls_redis(&dir);
    let store = RedisReplayStore::builder(&format!("rediss://localhost:{tls_port}/"))
        .tls_roots_pem(ca)
        .connect()
        .await
        .unwrap();
    store.ping().await.unwrap();
    let k = key("jti-over-tls");
    assert_eq!(store.check_and_record(k, 0, 60).await, Ok(Seen::First));
    assert_eq!(store.check_and_record(k, 0, 60).await, Ok(Seen::Replay));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_an_untrusted_certificate_fails_closed() {
    let dir = temp_dir("rediss-untrusted");
    let (_redis, tls_port, _ca) = tls_redis(&dir);
    let url = format!("rediss://localhost:{tls_port}/");
    // The platform's roots do not hold the self-signed certificate: no connection, so
    // either the builder refuses or the store is built not ready and refuses every proof.
    match RedisReplayStore::builder(&url)
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
    {
        Err(error) => assert!(!error.to_string().is_empty()),
        Ok(store) => {
            assert!(store.ping().await.is_err(), "an untrusted Redis answered");
            assert!(store.check_and_record(key("jti"), 0, 60).await.is_err());
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tls_roots_without_tls_are_refused() {
    let error = RedisReplayStore::builder("redis://127.0.0.1:6379/")
        .tls_roots_pem("-----BEGIN CERTIFICATE-----\n")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisReplayError::InvalidUrl { .. }),
        "{error}"
    );
}
