//! A real `redis-server` child process on a loopback port, for tests that need Redis to
//! stop and come back. `redis-server` must be on PATH: without it a test fails with a
//! message saying to install it, never passes silently.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Each test binary uses a different subset; `pub` for them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on `127.0.0.1:port`, without persistence, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits (up to 5 s) until it answers `PING`.
    pub fn start() -> Self {
        Self::start_on(free_port(), &[])
    }

    /// Starts one on `port` (to bring a killed server back at the same address), with more
    /// `redis-server` options (`--requirepass`, ...).
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // For `DEBUG SLEEP` (a Redis that stalls), off by default since Redis 7.
            .args(["--enable-debug-command", "local"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: install it (e.g. `apt-get install redis-server`); \
                 CI installs it, and these tests need a real Redis"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let mut server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !server.answers() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("redis-server exited at startup ({status}); port {port}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within 5 s on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Any RESP reply to `PING`.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 1];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && matches!(reply[0], b'+' | b'-')
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the process (SIGKILL) and reaps it: its connections are reset.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
