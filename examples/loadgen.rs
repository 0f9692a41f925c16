//! A closed-loop HTTP/1.1 load generator for the sidecar (`benches/load.sh`,
//! `docs/performance.md`): N keep-alive connections, each sending an MCP `tools/call` back
//! to back, for a warm-up and then a measured interval.
//!
//! In `--mode dpop` every request carries the same DPoP-bound access token and a proof of
//! its own. The proofs are signed before the clock starts, across threads, one per request:
//! no proof is ever sent twice, since a replayed proof is refused early, which is cheaper
//! than a valid one and would flatter the figures. The pool is sized by `--proofs`; a run
//! that uses it up stops early and fails. `--reuse-proofs` cycles through the pool instead,
//! for targets that check nothing (the upstream, the proxy with `--dangerous-no-guard`),
//! so that they receive the same bytes as the guard.
//!
//! In `--mode token` the target is an issuer's token endpoint (`mcp-warden issuer`): every
//! request is a jwt-bearer token request (RFC 7523, MCP SEP-1933) with one Kubernetes-shaped
//! workload assertion, signed by the `--issuer-key` (the workload platform's key, trusted
//! with `jwks_file`), and a distinct DPoP proof for the token endpoint (RFC 9449 §5).
//!
//! The access token's issuer key is a PKCS#8 file (`--issuer-key`, created when missing),
//! and its public JWK Set is written to `--write-jwks` for the sidecar's `jwks_file`:
//!
//! ```sh
//! loadgen --issuer-key k.p8 --write-jwks jwks.json --keys-only   # before the sidecar starts
//! loadgen --issuer-key k.p8 --url http://127.0.0.1:8080/mcp --pid "$SIDECAR_PID"
//! ```
//!
//! Reports requests, errors by status, requests per second, latency percentiles (every
//! request's time is kept and sorted: exact, no histogram buckets) and, with `--pid`, the
//! CPU time the sidecar used per 1,000 requests (`/proc/PID/stat`, utime + stime, over the
//! measured interval only). A human-readable report goes to stderr; one JSON line (and,
//! with `--label`, one markdown table row) to stdout. The exit status is 1 if any request
//! failed, so that a script notices a broken setup.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark tool: a panic is the failure report.

#[cfg(feature = "sidecar")]
mod load {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use clap::{Parser, ValueEnum};
    use http_body_util::{BodyExt, Full};
    use hyper::client::conn::http1::SendRequest;
    use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
    use hyper::{Request, StatusCode, Uri};
    use hyper_util::rt::TokioIo;
    use mcp_warden::dpop::ProofSigner;
    use mcp_warden::jose::{Algorithm, SigningKey};
    use serde_json::{Value, json};

    /// What every request asks: a small `tools/call`, as an MCP client sends it.
    const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sum","arguments":{"a":1,"b":2}}}"#;
    /// The `kid` of the issuer key, in the token header and the written JWK Set.
    const KID: &str = "loadgen-1";
    /// Proofs are signed with one `iat` before the run; the guard accepts them for
    /// `guard.max_age_s` (300 s by default), so a run must end well before that.
    const MAX_RUN_S: f64 = 240.0;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
    enum Mode {
        /// A DPoP-bound access token and a fresh proof on every request.
        Dpop,
        /// No credentials (for a target that checks none: the upstream, the bare proxy).
        None,
        /// A token request to an issuer: a workload assertion and a fresh proof each.
        Token,
    }

    /// Closed-loop HTTP/1.1 load against an MCP endpoint, with or without DPoP.
    #[derive(Debug, Parser)]
    struct Args {
        /// The endpoint, e.g. `http://127.0.0.1:8080/mcp`: the proofs' `htu` and the
        /// token's `aud`, so it must be the sidecar's `guard.resource`. Plain http only.
        #[arg(long)]
        url: Option<String>,
        /// Keep-alive connections, each sending requests back to back.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// The measured interval, after the warm-up.
        #[arg(long, default_value_t = 10.0)]
        duration_s: f64,
        /// Requests sent but not counted first (connections, caches, allocator).
        #[arg(long, default_value_t = 2.0)]
        warmup_s: f64,
        /// Credentials to send.
        #[arg(long, value_enum, default_value_t = Mode::Dpop)]
        mode: Mode,
        /// The sidecar's process id: its CPU time per 1,000 requests is reported.
        #[arg(long)]
        pid: Option<u32>,
        /// Another process whose CPU time to report, as `NAME=PID` (repeatable). `NAME=`
        /// with no id keeps the column and prints a dash, so that rows line up.
        #[arg(long = "cpu-of", value_name = "NAME=PID")]
        cpu_of: Vec<String>,
        /// The issuer's ES256 key, PKCS#8 DER. Created when the file does not exist.
        /// Without it, an ephemeral key (only useful against a target that checks nothing).
        #[arg(long)]
        issuer_key: Option<std::path::PathBuf>,
        /// Write the issuer's public JWK Set here (the sidecar's `jwks_file`).
        #[arg(long)]
        write_jwks: Option<std::path::PathBuf>,
        /// Only create/load the issuer key and write the JWK Set, then exit.
        #[arg(long)]
        keys_only: bool,
        /// With `--keys-only`: also write the workload assertion of `--mode token` (a
        /// Kubernetes service-account token signed by `--issuer-key`, `aud` = `--audience`)
        /// to this file, for an agent proxy's `token_file`.
        #[arg(long)]
        write_workload_token: Option<std::path::PathBuf>,
        /// The token's `iss` (in `--mode token`, the workload assertion's).
        #[arg(long, default_value = "https://as.example.com")]
        issuer: String,
        /// `--mode token`: the assertion's `aud` (the issuer's identifier).
        #[arg(long)]
        audience: Option<String>,
        /// `--mode token`: the `resource` asked for.
        #[arg(long, default_value = "https://mcp.example.com/mcp")]
        resource: String,
        /// Pre-signed proofs: at least the requests the run will send (warm-up included).
        #[arg(long, default_value_t = 200_000)]
        proofs: usize,
        /// Cycle through the proof pool instead of stopping when it runs out. Only for a
        /// target that checks nothing (the upstream, `--dangerous-no-guard`), to send it the
        /// same bytes as the guard gets: a guard refuses a reused proof as a replay.
        #[arg(long)]
        reuse_proofs: bool,
        /// Pace the requests at this many per second in total (each connection sends at
        /// its share of the rate, catching up after a slow answer) instead of back to back.
        /// Compares two targets at the same throughput: CPU time per request depends on
        /// the rate, since fewer requests share each wake-up at a lower one.
        #[arg(long)]
        rate: Option<f64>,
        /// Tokio worker threads for the connections.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Also print a markdown table row with this first cell.
        #[arg(long)]
        label: Option<String>,
        /// Before starting, GET this URL until it answers 2xx (up to 30 s).
        #[arg(long)]
        wait_ready: Option<String>,
    }

    pub(super) fn main() -> ExitCode {
        let args = Args::parse();
        match run(&args) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("loadgen: {message}");
                ExitCode::from(2)
            }
        }
    }

    fn run(args: &Args) -> Result<ExitCode, String> {
        if args.keys_only {
            let path = args
                .issuer_key
                .as_deref()
                .ok_or("--keys-only needs --issuer-key")?;
            let key = issuer_key(Some(path))?;
            if let Some(jwks) = &args.write_jwks {
                write_jwks(&key, jwks)?;
            }
            if let Some(file) = &args.write_workload_token {
                let assertion = workload_assertion(&key, args, unix_now())?;
                std::fs::write(file, assertion).map_err(|e| format!("{}: {e}", file.display()))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let url = args.url.as_deref().ok_or("--url is required")?;
        let target = Target::parse(url)?;
        if args.warmup_s + args.duration_s > MAX_RUN_S {
            return Err(format!(
                "warm-up + duration must stay under {MAX_RUN_S} s: the proofs are signed \
                 once, and the guard accepts them for guard.max_age_s (300 s by default)"
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads.max(1))
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        if let Some(ready) = &args.wait_ready {
            runtime.block_on(wait_ready(ready))?;
        }
        let credentials = match args.mode {
            Mode::None => None,
            Mode::Dpop | Mode::Token => {
                let key = issuer_key(args.issuer_key.as_deref())?;
                if let Some(jwks) = &args.write_jwks {
                    write_jwks(&key, jwks)?;
                }
                let started = Instant::now();
                let credentials = match args.mode {
                    Mode::Token => Credentials::token_requests(&key, args, url)?,
                    _ => Credentials::new(&key, &args.issuer, url, args.proofs)?,
                };
                eprintln!(
                    "signed {} proofs in {:.1} s",
                    credentials.proofs.len(),
                    started.elapsed().as_secs_f64()
                );
                Some(credentials)
            }
        };
        let watched = watched_processes(args)?;
        let report = runtime.block_on(drive(args, target, credentials, watched));
        report.print(args, url);
        Ok(if report.healthy() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    // ---------------------------------------------------------------- keys and proofs

    fn issuer_key(path: Option<&Path>) -> Result<SigningKey, String> {
        let key = match path {
            Some(path) if path.exists() => {
                let der = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                SigningKey::from_pkcs8(Algorithm::ES256, &der)
                    .map_err(|e| format!("{}: not an ES256 PKCS#8 key: {e}", path.display()))?
            }
            _ => {
                let key = SigningKey::generate(Algorithm::ES256).map_err(|e| e.to_string())?;
                if let Some(path) = path {
                    let der = key.to_pkcs8().map_err(|e| e.to_string())?;
                    std::fs::write(path, der).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                key
            }
        };
        key.with_kid(KID).map_err(|e| e.to_string())
    }

    fn write_jwks(key: &SigningKey, path: &Path) -> Result<(), String> {
        let jwks = json!({"keys": [key.public_jwk().to_json()]}).to_string();
        std::fs::write(path, jwks).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn unix_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }

    /// One DPoP-bound token and a pool of distinct proofs for it, all signed up front; or,
    /// for a token endpoint, one token request body and a pool of proofs without a token.
    struct Credentials {
        authorization: Option<HeaderValue>,
        proofs: Vec<HeaderValue>,
        /// The form body of every token request (`--mode token`).
        form: Option<Bytes>,
    }

    impl Credentials {
        fn new(
            issuer_key: &SigningKey,
            iss: &str,
            url: &str,
            count: usize,
        ) -> Result<Self, String> {
            let client = ProofSigner::generate(Algorithm::ES256).map_err(|e| e.to_string())?;
            let now = unix_now();
            let claims = json!({
                "iss": iss, "aud": url, "sub": "loadgen", "client_id": "loadgen",
                "scope": "tools:call", "iat": now, "exp": now + 3600, "jti": format!("loadgen-{now}"),
                "cnf": {"jkt": client.thumbprint().as_str()}
            });
            let header = json!({"typ": "at+jwt", "kid": KID});
            let token = issuer_key
                .sign_compact(
                    header.as_object().expect("an object"),
                    claims.as_object().expect("an object"),
                )
                .map_err(|e| e.to_string())?;
            let authorization = HeaderValue::try_from(format!("DPoP {token}"))
                .map_err(|e| format!("token header: {e}"))?;
            Ok(Credentials {
                authorization: Some(authorization),
                proofs: sign_pool(&client, url, Some(&token), count, now),
                form: None,
            })
        }

        /// A jwt-bearer token request: a Kubernetes service-account token for
        /// `system:serviceaccount:load:agent` (no `jti`: the platform reuses it until
        /// rotated, so the issuer does not make it single-use) and proofs for `url`.
        fn token_requests(
            platform_key: &SigningKey,
            args: &Args,
            url: &str,
        ) -> Result<Self, String> {
            let client = ProofSigner::generate(Algorithm::ES256).map_err(|e| e.to_string())?;
            let now = unix_now();
            let assertion = workload_assertion(platform_key, args, now)?;
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", &assertion)
                .append_pair("resource", &args.resource)
                .append_pair("scope", "tools:call")
                .finish();
            Ok(Credentials {
                authorization: None,
                proofs: sign_pool(&client, url, None, args.proofs, now),
                form: Some(Bytes::from(form)),
            })
        }
    }

    /// A Kubernetes service-account token for `system:serviceaccount:load:agent`, `aud` =
    /// `--audience`, valid for 50 minutes: no `jti`, as the platform reuses it until rotated
    /// (so the issuer does not make it single-use).
    fn workload_assertion(
        platform_key: &SigningKey,
        args: &Args,
        now: u64,
    ) -> Result<String, String> {
        let audience = args
            .audience
            .as_deref()
            .ok_or("a workload token needs --audience (the issuer's identifier)")?;
        let claims = json!({
            "iss": args.issuer, "aud": [audience], "sub": "system:serviceaccount:load:agent",
            "iat": now, "nbf": now, "exp": now + 3000,
            "kubernetes.io": {"namespace": "load", "serviceaccount": {"name": "agent", "uid": "0"}}
        });
        let header = json!({"alg": "ES256", "kid": KID});
        platform_key
            .sign_compact(
                header.as_object().expect("an object"),
                claims.as_object().expect("an object"),
            )
            .map_err(|e| e.to_string())
    }

    /// `count` proofs with random `jti`s, signed on every core (~20 µs each for ES256).
    fn sign_pool(
        signer: &ProofSigner,
        url: &str,
        token: Option<&str>,
        count: usize,
        iat: u64,
    ) -> Vec<HeaderValue> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = count.div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|index| {
                    let n = per_thread.min(count.saturating_sub(index * per_thread));
                    scope.spawn(move || {
                        (0..n)
                            .map(|_| {
                                let proof = signer
                                    .proof("POST", url, token, None, iat)
                                    .expect("signing a proof");
                                HeaderValue::from_maybe_shared(Bytes::from(proof))
                                    .expect("a proof is a valid header value")
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("a signing thread panicked"))
                .collect()
        })
    }

    // ---------------------------------------------------------------- the run

    /// Where requests go: the address to connect to and what the request line names.
    struct Target {
        address: String,
        host: HeaderValue,
        path: Uri,
    }

    impl Target {
        fn parse(url: &str) -> Result<Self, String> {
            let uri: Uri = url.parse().map_err(|e| format!("--url {url}: {e}"))?;
            if uri.scheme_str() != Some("http") {
                return Err(format!("--url {url}: only http:// is supported"));
            }
            let authority = uri.authority().ok_or(format!("--url {url}: no host"))?;
            let address = match authority.port_u16() {
                Some(_) => authority.as_str().to_owned(),
                None => format!("{}:80", authority.host()),
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            Ok(Target {
                address,
                host: HeaderValue::try_from(authority.as_str()).map_err(|e| e.to_string())?,
                path: path.parse().map_err(|e| format!("--url {url}: {e}"))?,
            })
        }
    }

    /// What every connection reads: the target, the credentials and the clock.
    struct Shared {
        target: Target,
        credentials: Option<Credentials>,
        next_proof: AtomicUsize,
        reuse_proofs: bool,
        body: Bytes,
        measure_from: Instant,
        end: Instant,
        /// Time between two requests on one connection, with `--rate`.
        pace: Option<Duration>,
    }

    impl Shared {
        /// The next request, or `None` when the proof pool is used up.
        fn request(&self) -> Option<Request<Full<Bytes>>> {
            let form = self.credentials.as_ref().and_then(|c| c.form.clone());
            let mut request =
                Request::post(self.target.path.clone()).header(HOST, self.target.host.clone());
            request = if form.is_some() {
                request.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            } else {
                request
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2025-06-18")
            };
            if let Some(credentials) = &self.credentials {
                let mut index = self.next_proof.fetch_add(1, Ordering::Relaxed);
                if self.reuse_proofs && !credentials.proofs.is_empty() {
                    index %= credentials.proofs.len();
                }
                let proof = credentials.proofs.get(index)?;
                if let Some(authorization) = &credentials.authorization {
                    request = request.header(AUTHORIZATION, authorization.clone());
                }
                request = request.header("dpop", proof.clone());
            }
            Some(
                request
                    .body(Full::new(form.unwrap_or_else(|| self.body.clone())))
                    .expect("a valid request"),
            )
        }
    }

    /// What one connection saw.
    #[derive(Default)]
    struct Tally {
        /// Microseconds per request completed in the measured interval.
        latencies_us: Vec<u32>,
        /// Failures in the measured interval, by status code (or `io`, `connect`).
        errors: BTreeMap<String, u64>,
        /// Failures during the warm-up.
        warmup_errors: u64,
        connects: u64,
        exhausted: bool,
    }

    impl Tally {
        /// A failed connection attempt: an error, but no request, so no latency.
        fn connect_failed(&mut self, shared: &Shared) {
            let now = Instant::now();
            if now < shared.measure_from {
                self.warmup_errors += 1;
            } else if now <= shared.end {
                *self.errors.entry("connect".into()).or_default() += 1;
            }
        }

        fn record(&mut self, shared: &Shared, started: Instant, failure: Option<String>) {
            let finished = Instant::now();
            if finished < shared.measure_from {
                self.warmup_errors += u64::from(failure.is_some());
                return;
            }
            if finished > shared.end {
                return;
            }
            let micros = finished.duration_since(started).as_micros();
            self.latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
            if let Some(failure) = failure {
                *self.errors.entry(failure).or_default() += 1;
            }
        }
    }

    async fn connect(address: &str) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect {address}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn exchange(
        sender: &mut SendRequest<Full<Bytes>>,
        request: Request<Full<Bytes>>,
    ) -> Result<StatusCode, hyper::Error> {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        // Read the whole body: the connection is reused for the next request.
        response.into_body().collect().await?;
        Ok(status)
    }

    /// One keep-alive connection sending requests back to back until the end; it
    /// reconnects after a transport error (counted as `io`).
    /// `index` of `of` connections: with `--rate`, each starts its schedule `index / of` of
    /// a pace late, so the connections' requests interleave instead of arriving together
    /// (a burst of `of` at once would queue behind each other and inflate the latency).
    async fn connection(shared: Arc<Shared>, index: usize, of: usize) -> Tally {
        let mut tally = Tally::default();
        'connect: while Instant::now() < shared.end {
            let mut sender = match connect(&shared.target.address).await {
                Ok(sender) => sender,
                Err(_) => {
                    // Not a request: counted as an error, kept out of the latencies.
                    tally.connect_failed(&shared);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            tally.connects += 1;
            let offset = shared.pace.map_or(Duration::ZERO, |pace| {
                pace.mul_f64(index as f64 / of.max(1) as f64)
            });
            let mut next_send = Instant::now() + offset;
            while Instant::now() < shared.end {
                if let Some(pace) = shared.pace {
                    // Catch up after a slow answer, but never by more than one pace: a
                    // long stall must not turn into a burst.
                    if let Some(floor) = Instant::now().checked_sub(pace) {
                        next_send = next_send.max(floor);
                    }
                    tokio::time::sleep_until(next_send.into()).await;
                    next_send += pace;
                }
                let Some(request) = shared.request() else {
                    tally.exhausted = true;
                    break 'connect;
                };
                let started = Instant::now();
                match exchange(&mut sender, request).await {
                    Ok(status) if status.is_success() => tally.record(&shared, started, None),
                    Ok(status) => tally.record(&shared, started, Some(status.as_str().into())),
                    Err(_) => {
                        tally.record(&shared, started, Some("io".into()));
                        continue 'connect;
                    }
                }
            }
        }
        tally
    }

    async fn wait_ready(url: &str) -> Result<(), String> {
        let target = Target::parse(url)?;
        for _ in 0..300 {
            if let Ok(mut sender) = connect(&target.address).await {
                let request = Request::get(target.path.clone())
                    .header(HOST, target.host.clone())
                    .body(Full::default())
                    .expect("a valid request");
                if let Ok(status) = exchange(&mut sender, request).await
                    && status.is_success()
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("{url} did not answer 2xx within 30 s"))
    }

    async fn drive(
        args: &Args,
        target: Target,
        credentials: Option<Credentials>,
        watched: Vec<Watched>,
    ) -> Report {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(args.warmup_s);
        let end = measure_from + Duration::from_secs_f64(args.duration_s);
        let shared = Arc::new(Shared {
            target,
            credentials,
            next_proof: AtomicUsize::new(0),
            reuse_proofs: args.reuse_proofs,
            body: Bytes::from_static(BODY.as_bytes()),
            measure_from,
            end,
            pace: args
                .rate
                .filter(|rate| *rate > 0.0)
                .map(|rate| Duration::from_secs_f64(args.connections.max(1) as f64 / rate)),
        });
        let cpu = tokio::spawn(cpu_over(watched, measure_from, end));
        let connections: Vec<_> = (0..args.connections.max(1))
            .map(|index| tokio::spawn(connection(shared.clone(), index, args.connections)))
            .collect();
        let mut total = Tally::default();
        for connection in connections {
            let tally = connection.await.expect("a connection task panicked");
            total.latencies_us.extend(tally.latencies_us);
            for (status, count) in tally.errors {
                *total.errors.entry(status).or_default() += count;
            }
            total.warmup_errors += tally.warmup_errors;
            total.connects += tally.connects;
            total.exhausted |= tally.exhausted;
        }
        total.latencies_us.sort_unstable();
        Report {
            seconds: args.duration_s,
            connections: args.connections.max(1),
            tally: total,
            cpu: cpu.await.expect("the CPU sampler panicked"),
        }
    }

    // ---------------------------------------------------------------- CPU time

    /// A process whose CPU time is reported; `pid` is `None` for a placeholder column.
    struct Watched {
        name: String,
        pid: Option<u32>,
    }

    fn watched_processes(args: &Args) -> Result<Vec<Watched>, String> {
        let mut watched = vec![Watched {
            name: "sidecar".into(),
            pid: args.pid,
        }];
        for entry in &args.cpu_of {
            let (name, pid) = entry
                .split_once('=')
                .ok_or(format!("--cpu-of {entry}: expected NAME=PID"))?;
            let pid = match pid {
                "" => None,
                pid => Some(
                    pid.parse()
                        .map_err(|_| format!("--cpu-of {entry}: bad pid"))?,
                ),
            };
            watched.push(Watched {
                name: name.into(),
                pid,
            });
        }
        watched.push(Watched {
            name: "loadgen".into(),
            pid: Some(std::process::id()),
        });
        Ok(watched)
    }

    /// User + system CPU time of a whole process (every thread), in clock ticks:
    /// fields 14 and 15 of `/proc/PID/stat` (proc(5)).
    fn cpu_ticks(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        let rest = stat.get(stat.rfind(')')? + 1..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3, so field N is at index N - 3.
        let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
        let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
        Some(utime + stime)
    }

    /// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
    fn ticks_per_second() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    }

    /// CPU milliseconds each watched process used between `from` and `to`.
    async fn cpu_over(
        watched: Vec<Watched>,
        from: Instant,
        to: Instant,
    ) -> Vec<(String, Option<f64>)> {
        let tick_ms = 1000.0 / ticks_per_second();
        tokio::time::sleep_until(from.into()).await;
        let before: Vec<_> = watched.iter().map(|w| w.pid.and_then(cpu_ticks)).collect();
        tokio::time::sleep_until(to.into()).await;
        watched
            .into_iter()
            .zip(before)
            .map(|(w, before)| {
                let after = w.pid.and_then(cpu_ticks);
                let used = match (before, after) {
                    (Some(before), Some(after)) => {
                        Some(after.saturating_sub(before) as f64 * tick_ms)
                    }
                    _ => None,
                };
                (w.name, used)
            })
            .collect()
    }

    // ---------------------------------------------------------------- the report

    struct Report {
        seconds: f64,
        connections: usize,
        tally: Tally,
        cpu: Vec<(String, Option<f64>)>,
    }

    impl Report {
        fn requests(&self) -> u64 {
            self.tally.latencies_us.len() as u64
        }

        fn errors(&self) -> u64 {
            self.tally.errors.values().sum()
        }

        fn healthy(&self) -> bool {
            self.requests() > 0
                && self.errors() == 0
                && self.tally.warmup_errors == 0
                && !self.tally.exhausted
        }

        /// The latency at quantile `q` in milliseconds (nearest rank on the sorted times).
        fn quantile_ms(&self, q: f64) -> f64 {
            let sorted = &self.tally.latencies_us;
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            f64::from(sorted[rank - 1]) / 1000.0
        }

        /// CPU milliseconds per 1,000 requests.
        fn cpu_per_1k(&self, used_ms: Option<f64>) -> Option<f64> {
            let requests = self.requests();
            used_ms
                .filter(|_| requests > 0)
                .map(|ms| ms * 1000.0 / requests as f64)
        }

        fn error_text(&self) -> String {
            let mut text = self.errors().to_string();
            if !self.tally.errors.is_empty() {
                let detail: Vec<String> = self
                    .tally
                    .errors
                    .iter()
                    .map(|(status, count)| format!("{status}: {count}"))
                    .collect();
                text.push_str(&format!(" ({})", detail.join(", ")));
            }
            if self.tally.warmup_errors > 0 {
                text.push_str(&format!(" +{} in warm-up", self.tally.warmup_errors));
            }
            if self.tally.exhausted {
                text.push_str(" proof pool used up");
            }
            text
        }

        fn print(&self, args: &Args, url: &str) {
            let rate = self.requests() as f64 / self.seconds;
            let quantiles = [0.5, 0.9, 0.99, 1.0].map(|q| self.quantile_ms(q));
            eprintln!(
                "{url}: {} connections, {:.1} s measured after {:.1} s warm-up, mode {:?}",
                self.connections, self.seconds, args.warmup_s, args.mode
            );
            eprintln!(
                "  requests {} ({rate:.0}/s), errors {}, connections opened {}",
                self.requests(),
                self.error_text(),
                self.tally.connects
            );
            eprintln!(
                "  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                quantiles[0], quantiles[1], quantiles[2], quantiles[3]
            );
            let mut cpu_json = serde_json::Map::new();
            for (name, used) in &self.cpu {
                if let (Some(used), Some(per_1k)) = (used, self.cpu_per_1k(*used)) {
                    eprintln!(
                        "  {name} CPU {per_1k:.1} ms per 1000 requests ({:.2} cores)",
                        used / 1000.0 / self.seconds
                    );
                }
                cpu_json.insert(
                    name.clone(),
                    json!({"cpu_ms": used, "cpu_ms_per_1k": self.cpu_per_1k(*used)}),
                );
            }
            if self.tally.exhausted {
                eprintln!("  the proof pool ran out: raise --proofs");
            }
            let record = json!({
                "url": url, "label": args.label, "mode": format!("{:?}", args.mode).to_lowercase(),
                "connections": self.connections, "duration_s": self.seconds,
                "warmup_s": args.warmup_s, "requests": self.requests(),
                "requests_per_s": rate, "paced_rate": args.rate, "errors": self.errors(),
                "errors_by_status": self.tally.errors, "warmup_errors": self.tally.warmup_errors,
                "proof_pool_exhausted": self.tally.exhausted,
                "latency_ms": {"p50": quantiles[0], "p90": quantiles[1], "p99": quantiles[2], "max": quantiles[3]},
                "cpu": Value::Object(cpu_json),
            });
            println!("{record}");
            if let Some(label) = &args.label {
                let cpu: Vec<String> = self
                    .cpu
                    .iter()
                    .map(|(_, used)| {
                        self.cpu_per_1k(*used)
                            .map_or("–".into(), |per_1k| format!("{per_1k:.1}"))
                    })
                    .collect();
                println!(
                    "| {label} | {rate:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    quantiles[0],
                    quantiles[1],
                    quantiles[2],
                    quantiles[3],
                    self.error_text(),
                    cpu.join(" | ")
                );
            }
        }
    }
}

#[cfg(feature = "sidecar")]
fn main() -> std::process::ExitCode {
    load::main()
}

#[cfg(not(feature = "sidecar"))]
fn main() {
    eprintln!("loadgen needs the `sidecar` feature (hyper's client)");
    std::process::exit(2);
}
