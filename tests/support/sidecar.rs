//! The `mcp-warden serve` binary as a child process, configured by a generated TOML file in
//! the current layout (the guard's `[guard.listen]` and `[guard.upstream]`; tests/sidecar.rs
//! keeps the old one, with `mcp-warden guard`), and an upstream HTTP server that a test can
//! stop outright.
//!
//! Every sidecar started here protects the same public resource, [`RESOURCE`], whatever
//! port it listens on: replicas behind one load balancer share one public URL, so one
//! token and one proof are valid at any of them.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Each test binary uses a different subset; `pub` for them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The public URL every sidecar here protects (`guard.resource`): tokens name it in `aud`.
pub const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The public URL of `path` at [`RESOURCE`]'s origin: what a proof's `htu` names.
pub fn public_url(path: &str) -> String {
    format!("https://mcp.example.com{path}")
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mcp-warden-{tag}-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What goes into one sidecar's `warden.toml`, beyond the fixed parts (listener and admin
/// addresses on free loopback ports, [`RESOURCE`], the issuer `https://as.example.com`).
pub struct SidecarConfig {
    upstream: String,
    jwks_json: String,
    listen: String,
    upstream_lines: String,
    issuer_keys: Option<String>,
    sections: String,
}

impl SidecarConfig {
    /// A sidecar in front of `upstream` (`http://…`), trusting the issuer whose JWK Set is
    /// `jwks_json` (written to a `jwks_file`).
    pub fn new(upstream: &str, jwks_json: String) -> Self {
        SidecarConfig {
            upstream: upstream.to_owned(),
            jwks_json,
            listen: String::new(),
            upstream_lines: String::new(),
            issuer_keys: None,
            sections: String::new(),
        }
    }

    /// Extra `key = value` lines for `[guard.listen]`.
    pub fn listen(mut self, lines: &str) -> Self {
        self.listen.push_str(lines);
        self.listen.push('\n');
        self
    }

    /// Extra `key = value` lines for `[guard.upstream]`.
    pub fn upstream(mut self, lines: &str) -> Self {
        self.upstream_lines.push_str(lines);
        self.upstream_lines.push('\n');
        self
    }

    /// The issuer's key source and its options, instead of the `jwks_file`.
    pub fn issuer_keys(mut self, lines: &str) -> Self {
        self.issuer_keys = Some(lines.to_owned());
        self
    }

    /// Whole tables appended to the file (`[replay]`, `[nonce]`, …).
    pub fn section(mut self, toml: &str) -> Self {
        self.sections.push_str(toml);
        self.sections.push('\n');
        self
    }

    /// Starts the binary and waits (up to 10 s) until `/readyz` answers 200.
    pub async fn start(self) -> Sidecar {
        let dir = TempDir::new("sidecar-faults");
        let issuer_keys = match self.issuer_keys {
            Some(lines) => lines,
            None => {
                let jwks = dir.write("jwks.json", &self.jwks_json);
                format!("jwks_file = {:?}", jwks.display().to_string())
            }
        };
        let (port, admin_port) = (free_port(), free_port());
        let config = format!(
            r#"
[admin]
address = "127.0.0.1:{admin_port}"
[guard]
resource = "{RESOURCE}"
authorization_servers = ["https://as.example.com"]
[guard.listen]
address = "127.0.0.1:{port}"
{listen}
[guard.upstream]
url = "{upstream}"
{upstream_lines}
[[guard.issuers]]
issuer = "https://as.example.com"
{issuer_keys}
[log]
format = "text"
level = "error"
[shutdown]
drain_timeout_s = 1
{sections}
"#,
            listen = self.listen,
            upstream = self.upstream,
            upstream_lines = self.upstream_lines,
            sections = self.sections,
        );
        let file = dir.write("warden.toml", &config);
        let child = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
            .args(["serve", "--config"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut sidecar = Sidecar {
            child,
            base: format!("http://127.0.0.1:{port}"),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: format!("http://127.0.0.1:{admin_port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = sidecar.child.try_wait().unwrap() {
                panic!("the sidecar exited at start-up ({status}); configuration:\n{config}");
            }
            if sidecar.readyz().await.0 == 200 {
                return sidecar;
            }
            assert!(
                Instant::now() < deadline,
                "the sidecar did not become ready within 10 s; configuration:\n{config}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running `mcp-warden serve` (the guard role), killed on drop.
pub struct Sidecar {
    child: Child,
    /// `http://127.0.0.1:port` of the proxy listener.
    pub base: String,
    /// The proxy listener's address, for raw TCP.
    pub address: SocketAddr,
    /// `http://127.0.0.1:port` of the admin listener.
    pub admin: String,
    _dir: TempDir,
}

impl Sidecar {
    /// `base` + `path`: where a request for `path` is sent.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/readyz`: (status, body); (0, error) when the admin port does not answer.
    pub async fn readyz(&self) -> (u16, String) {
        self.admin_get("/readyz").await
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "/metrics: {body}");
        body
    }

    async fn admin_get(&self, path: &str) -> (u16, String) {
        let sent = http()
            .get(format!("{}{path}", self.admin))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(error) => (0, error.to_string()),
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client without proxies (an `http_proxy` in the environment must not intercept
/// loopback requests) and with a bound on every request.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// An axum app on a loopback port, served by a runtime of its own on its own thread, so
/// that [`Upstream::stop`] ends everything at once: the listener and every open
/// connection (dropping the runtime cancels the connection tasks), as when the upstream
/// process dies.
pub struct Upstream {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    pub fn start(app: axum::Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    served = axum::serve(listener, app) => served.unwrap(),
                    _ = stopped => {}
                }
            });
            // `runtime` drops here, and with it every connection task and socket.
        });
        Upstream {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Closes the listener and every connection, and waits until they are closed.
    pub fn stop(&mut self) {
        assert!(self.shut_down().is_ok(), "the upstream's thread panicked");
    }

    fn shut_down(&mut self) -> std::thread::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join(),
            None => Ok(()),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // No second panic while a failing test unwinds.
        let _ = self.shut_down();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A caller with a DPoP key and a token bound to it for [`RESOURCE`].
pub struct Caller {
    pub client: crate::support::Client,
    pub token: String,
}

impl Caller {
    /// A new key, and a `tools:call` token from `issuer` bound to it.
    pub fn new(issuer: &crate::support::AuthorizationServer) -> Self {
        let client = crate::support::Client::new();
        let token = issuer.token(
            RESOURCE,
            Some(&client.jkt()),
            "tools:call",
            crate::support::now(),
        );
        Caller { client, token }
    }

    /// `Authorization` and a fresh `DPoP` proof for `method` on `path` of the resource,
    /// with the server's nonce if it asked for one.
    pub fn headers(&self, method: &str, path: &str, nonce: Option<&str>) -> http::HeaderMap {
        self.client.headers(
            method,
            &public_url(path),
            &self.token,
            nonce,
            crate::support::now(),
        )
    }
}

/// `issuer`'s public keys as a JWK Set, for `jwks_file`.
pub fn jwks(issuer: &crate::support::AuthorizationServer) -> String {
    serde_json::json!({"keys": [issuer.key.public_jwk().to_json()]}).to_string()
}

/// A running `mcp-warden` process, killed (and reaped) on drop.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `mcp-warden ROLE --config FILE` with `env`, and waits (15 s at most) until the
/// admin listener at `admin` (`http://host:port`) answers `/readyz` with 200. Panics with
/// `config` when the process exits or never becomes ready.
pub async fn spawn_ready(
    role: &str,
    file: &Path,
    env: &[(&str, String)],
    admin: &str,
    config: &str,
) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-warden"));
    command
        .args([role, "--config"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut process = Process(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            panic!("mcp-warden {role} exited at start-up ({status}); configuration:\n{config}");
        }
        let ready = http()
            .get(format!("{admin}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200);
        if ready {
            return process;
        }
        assert!(
            Instant::now() < deadline,
            "mcp-warden {role} not ready within 15 s; configuration:\n{config}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
