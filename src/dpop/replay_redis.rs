//! The replay store shared by replicas: RFC 9449 §11.1 on Redis.
//!
//! Owns the record of accepted proofs when several replicas serve the same resource, so a
//! proof accepted by one replica is a replay on every other.
//!
//! - **One atomic command per check.** `SET <prefix><hex key> 1 NX PX <ttl_ms>` inserts only
//!   if absent and sets the expiry in the same step: `OK` means first use, nil means replay.
//!   A `GET`-then-`SET` pair would let two replicas racing on the same proof both accept it.
//! - **Redis's clock governs expiry.** `PX` is relative, so the caller's `now` is not sent;
//!   replicas with skewed clocks still agree on when a record lapses.
//! - **Per-operation timeout** (default 200 ms). Every request waits on this store; a slow
//!   or partitioned Redis must cost a bounded refusal, not a pile of held connections.
//! - **Failure policy: fail closed.** A timeout or connection error is
//!   [`ReplayStoreError::Unavailable`], which the validator turns into a refusal (503).
//!   [`DegradingReplayStore`](super::DegradingReplayStore) is the documented opt-in for
//!   answering from memory instead.
//! - **Startup when Redis is down: start not-ready.** [`RedisReplayStoreBuilder::connect`]
//!   fails only for problems that waiting cannot fix (a bad URL, a rejected password). If
//!   Redis is merely unreachable it returns a store that refuses proofs until Redis answers
//!   and reconnects by itself; [`RedisReplayStore::ping`] tells the readiness probe. A
//!   sidecar that exits instead would crash-loop through every Redis restart.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use super::replay::{ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError, Seen};
use crate::secret::Secret;

/// Why [`RedisReplayStoreBuilder::connect`] refused to build a store. Never contains the
/// URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisReplayError {
    /// The URL does not parse or is not `redis://` / `rediss://`.
    #[error("invalid Redis URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// The key prefix is empty, too long, or holds whitespace or control characters.
    #[error("invalid replay key prefix: {reason}")]
    InvalidKeyPrefix {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A timeout was configured as zero.
    #[error("`{field}` must be greater than zero")]
    ZeroTimeout {
        /// The builder method that set it.
        field: &'static str,
    },
    /// Redis answered but refused us (wrong password, missing permission): waiting will not
    /// fix it, so startup fails.
    #[error("Redis rejected the connection: {reason}")]
    Rejected {
        /// Redis's answer, with any password removed.
        reason: String,
    },
}

/// Counters since the store was built, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisReplayStats {
    /// Calls to [`ReplayStore::check_and_record`].
    pub checks: u64,
    /// Checks answered [`Seen::Replay`].
    pub replays: u64,
    /// Checks that failed (timeout, connection, unexpected reply).
    pub errors: u64,
}

/// Configures a [`RedisReplayStore`]; see [`RedisReplayStore::builder`].
#[derive(Clone)]
pub struct RedisReplayStoreBuilder {
    url: Secret,
    key_prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    tls_roots_pem: Option<Vec<u8>>,
}

/// [`ReplayStore`] on Redis, shared by every replica pointing at the same Redis.
///
/// Reconnects by itself (`redis::aio::ConnectionManager`) after Redis restarts; the store
/// never needs rebuilding. `Debug` shows the URL with its password replaced.
pub struct RedisReplayStore {
    conn: ConnectionManager,
    key_prefix: String,
    timeout: Duration,
    url: RedactedUrl,
    checks: AtomicU64,
    replays: AtomicU64,
    errors: AtomicU64,
    /// Whether the last operation succeeded; only transitions are logged.
    healthy: AtomicBool,
}

impl RedisReplayStore {
    /// Default key prefix.
    pub const DEFAULT_KEY_PREFIX: &'static str = "mcp-warden:replay:";
    /// Default bound on one operation, connection wait included.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);
    /// Default bound on one connection attempt.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Longest key prefix accepted.
    pub const MAX_KEY_PREFIX_LEN: usize = 128;
    /// Cap on `PX`: Redis refuses an expiry that overflows when added to its clock, and a
    /// refusal would fail every check. 2^62 ms is about 146 million years.
    const MAX_TTL_MS: u64 = 1 << 62;

    /// A builder for a store at `url` (`redis://[user][:password@]host[:port][/db]`, or
    /// `rediss://` for TLS).
    ///
    /// ```no_run
    /// use std::{sync::Arc, time::Duration};
    /// use mcp_warden::dpop::{ProofValidator, RedisReplayStore};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisReplayStore::builder("redis://:password@redis.internal:6379/0")
    ///     .key_prefix("mcp-warden:replay:")
    ///     .timeout(Duration::from_millis(200))
    ///     .connect_timeout(Duration::from_secs(1))
    ///     .connect()
    ///     .await?;
    /// let store = Arc::new(store);
    /// // Readiness: refuse traffic until Redis answers.
    /// let ready = store.ping().await.is_ok();
    /// let validator = ProofValidator::builder().replay_store(store.clone()).build();
    /// # let _ = (ready, validator);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(url: &str) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            url: Secret::new(url),
            key_prefix: Self::DEFAULT_KEY_PREFIX.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            tls_roots_pem: None,
        }
    }

    /// Sends `PING` within the operation timeout: `Ok` when Redis answers, for readiness
    /// probes.
    pub async fn ping(&self) -> Result<(), ReplayStoreError> {
        let result = self.query(&redis::cmd("PING")).await;
        self.observe(result).map(|_| ())
    }

    /// Counters since the store was built.
    pub fn stats(&self) -> RedisReplayStats {
        RedisReplayStats {
            checks: self.checks.load(Ordering::Relaxed),
            replays: self.replays.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// The configured key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    async fn record(&self, key: ReplayKey, ttl_s: u64) -> Result<Seen, ReplayStoreError> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let mut name = String::with_capacity(self.key_prefix.len() + 32);
        name.push_str(&self.key_prefix);
        for b in key.as_bytes() {
            // Writing to a String cannot fail.
            let _ = fmt::Write::write_fmt(&mut name, format_args!("{b:02x}"));
        }
        // RFC 9449 §11.1: insert-if-absent and expiry in one atomic command.
        let mut set = redis::cmd("SET");
        set.arg(name).arg(1).arg("NX").arg("PX").arg(ttl_ms(ttl_s));
        let result = self.query(&set).await.and_then(|reply| match reply {
            Value::Okay => Ok(Seen::First),
            Value::Nil => Ok(Seen::Replay),
            _ => Err(unavailable("unexpected reply to SET NX PX")),
        });
        let counter = match &result {
            Ok(Seen::First) => None,
            Ok(Seen::Replay) => Some(&self.replays),
            Err(_) => Some(&self.errors),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.observe(result)
    }

    /// Runs `cmd` within the operation timeout.
    ///
    /// A command that fails because the connection dropped is sent once more, on the
    /// connection the manager is already re-establishing, so the first request after a
    /// Redis restart is not refused needlessly. Retrying `SET NX` is safe: if the first try
    /// did land, the retry answers `Replay` — a false refusal, never a false acceptance.
    async fn query(&self, cmd: &Cmd) -> Result<Value, ReplayStoreError> {
        let mut conn = self.conn.clone();
        let attempt = async {
            match cmd.query_async::<Value>(&mut conn).await {
                Err(e) if e.is_unrecoverable_error() => cmd.query_async::<Value>(&mut conn).await,
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(&self.url.reason(&e))),
            Err(_) => Err(unavailable(&format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Logs health transitions (not every request).
    fn observe<T>(&self, result: Result<T, ReplayStoreError>) -> Result<T, ReplayStoreError> {
        match &result {
            Ok(_) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!(redis = %self.url.shown, "replay store: Redis answers again");
                }
            }
            Err(error) => {
                if self.healthy.swap(false, Ordering::Relaxed) {
                    tracing::warn!(redis = %self.url.shown, %error, "replay store: Redis unavailable; refusing proofs until it answers");
                }
            }
        }
        result
    }
}

impl RedisReplayStoreBuilder {
    /// The prefix of every key written (default `mcp-warden:replay:`); 1 to 128 bytes, no
    /// whitespace or control characters.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The bound on one operation, waiting for a connection included (default 200 ms).
    /// When it passes, the check fails with [`ReplayStoreError::Unavailable`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound on one connection attempt (default 1 s), at startup and on reconnect.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// For a `rediss://` URL: trust these PEM certificates (a private CA) instead of the
    /// platform's roots. The server's name is still checked against its certificate.
    pub fn tls_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots_pem = Some(pem.into());
        self
    }

    /// Checks the configuration, tries one connection, and builds the store.
    ///
    /// Fails on a bad URL or prefix, a zero timeout, or a Redis that answers but refuses us
    /// (e.g. a wrong password). If Redis cannot be reached within the connect timeout, the
    /// store is still returned (with a warning logged): it refuses proofs until Redis
    /// answers, and [`RedisReplayStore::ping`] reports not-ready meanwhile.
    pub async fn connect(self) -> Result<RedisReplayStore, RedisReplayError> {
        self.check()?;
        let url = RedactedUrl::new(self.url.expose())?;
        // `rediss://` is TLS on rustls, whose process-wide provider is aws-lc-rs.
        let client = match &self.tls_roots_pem {
            None => Client::open(self.url.expose()),
            Some(pem) => Client::build_with_tls(
                self.url.expose(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(|e| RedisReplayError::InvalidUrl {
            reason: url.reason(&e),
        })?;
        let reachable = match tokio::time::timeout(self.connect_timeout, probe(&client, &self))
            .await
        {
            Ok(Ok(())) => true,
            Ok(Err(e)) if !is_transient(&e) => {
                return Err(RedisReplayError::Rejected {
                    reason: url.reason(&e),
                });
            }
            Ok(Err(e)) => {
                let reason = url.reason(&e);
                tracing::warn!(redis = %url.shown, %reason, "replay store: Redis unreachable at startup; not ready until it answers");
                false
            }
            Err(_) => {
                tracing::warn!(redis = %url.shown, "replay store: Redis did not answer at startup; not ready until it does");
                false
            }
        };
        // Reconnect backoff capped at 500 ms (doubled at most by jitter): recovery within
        // about a second of Redis returning, at a bounded attempt rate per replica.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(6);
        // Lazy: nothing is awaited here; the first command establishes the connection.
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            RedisReplayError::InvalidUrl {
                reason: url.reason(&e),
            }
        })?;
        let store = RedisReplayStore {
            conn,
            key_prefix: self.key_prefix,
            timeout: self.timeout,
            url,
            checks: AtomicU64::new(0),
            replays: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            healthy: AtomicBool::new(reachable),
        };
        if reachable {
            // Warm the managed connection so the first proof does not pay for it.
            let _ = store.query(&redis::cmd("PING")).await;
        }
        Ok(store)
    }

    fn check(&self) -> Result<(), RedisReplayError> {
        let prefix = &self.key_prefix;
        let invalid = |reason| Err(RedisReplayError::InvalidKeyPrefix { reason });
        let zero = |field| Err(RedisReplayError::ZeroTimeout { field });
        if prefix.is_empty() {
            invalid("empty (keys would mix with other data)")
        } else if prefix.len() > RedisReplayStore::MAX_KEY_PREFIX_LEN {
            invalid("longer than 128 bytes")
        } else if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            invalid("holds whitespace or control characters")
        } else if self.timeout.is_zero() {
            zero("timeout")
        } else if self.connect_timeout.is_zero() {
            zero("connect_timeout")
        } else if self.tls_roots_pem.is_some() && !self.url.expose().starts_with("rediss://") {
            Err(RedisReplayError::InvalidUrl {
                reason: "TLS roots given for a URL without TLS; use rediss://".into(),
            })
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = RedactedUrl::new(self.url.expose())
            .map_or_else(|_| "[unparsable]".to_owned(), |u| u.shown);
        f.debug_struct("RedisReplayStoreBuilder")
            .field("url", &url)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("url", &self.url.shown)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ReplayStore for RedisReplayStore {
    /// `now` is not used: `PX` is relative and Redis's clock decides expiry.
    fn check_and_record(&self, key: ReplayKey, _now: u64, ttl_s: u64) -> ReplayFuture<'_> {
        Box::pin(self.record(key, ttl_s))
    }
}

/// The URL as it may be shown, plus the password, kept only to scrub it from error text.
struct RedactedUrl {
    shown: String,
    password: Option<Secret>,
}

impl RedactedUrl {
    fn new(raw: &str) -> Result<Self, RedisReplayError> {
        // Deliberately not echoing `raw` or the parser's error: either may hold the password.
        let invalid = |reason: &str| RedisReplayError::InvalidUrl {
            reason: reason.into(),
        };
        let mut url = url::Url::parse(raw).map_err(|_| invalid("does not parse as a URL"))?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(invalid("the scheme must be redis:// or rediss://"));
        }
        let password = url.password().map(Secret::new);
        if password.is_some() {
            // Cannot fail: a URL with a password has a host. Plain letters: brackets would
            // be percent-encoded.
            let _ = url.set_password(Some("redacted"));
        }
        Ok(Self {
            shown: url.into(),
            password,
        })
    }

    /// `e` as text for an error or a log line, without the password.
    fn reason(&self, e: &RedisError) -> String {
        self.scrub(&format!("redis: {e}"))
    }

    fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() => text.replace(p.expose(), "[redacted]"),
            _ => text.to_owned(),
        }
    }
}

/// One connection and `PING`, no retries: tells "unreachable" from "refused".
async fn probe(client: &Client, builder: &RedisReplayStoreBuilder) -> Result<(), RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(builder.connect_timeout))
        .set_response_timeout(Some(builder.connect_timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    // Without a password the handshake sends nothing that fails; PING surfaces NOAUTH.
    redis::cmd("PING").query_async::<Value>(&mut conn).await?;
    Ok(())
}

/// Whether waiting could fix `e`: network trouble, or a Redis still starting or failing over.
fn is_transient(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Io
            | ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
            )
    )
}

fn unavailable(reason: &str) -> ReplayStoreError {
    ReplayStoreError::Unavailable {
        reason: reason.into(),
    }
}

/// `ttl_s` in milliseconds: at least 1 (`PX 0` is an error), saturating, capped.
fn ttl_ms(ttl_s: u64) -> u64 {
    ttl_s
        .saturating_mul(1000)
        .clamp(1, RedisReplayStore::MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_positive_and_saturates() {
        assert_eq!(ttl_ms(0), 1);
        assert_eq!(ttl_ms(1), 1000);
        assert_eq!(ttl_ms(301), 301_000);
        assert_eq!(ttl_ms(u64::MAX), RedisReplayStore::MAX_TTL_MS);
        // Redis adds PX to its clock in i64 milliseconds: fits well past the year 2100.
        let year_2100_ms = 4_102_444_800_000;
        assert!(RedisReplayStore::MAX_TTL_MS + year_2100_ms < i64::MAX as u64);
    }

    #[test]
    fn url_is_redacted_and_checked() {
        let url = RedactedUrl::new("redis://user:s3cret@host:6379/1").map_err(|e| e.to_string());
        let url = url
            .as_ref()
            .map(|u| (u.shown.as_str(), u.scrub("x s3cret y")));
        assert_eq!(
            url,
            Ok(("redis://user:redacted@host:6379/1", "x [redacted] y".into()))
        );
        for bad in ["http://h/", "redis//:s3cret@h", ""] {
            let err = RedactedUrl::new(bad).err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| !e.contains("s3cret")), "{bad}");
        }
    }
}
