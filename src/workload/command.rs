//! A token printed by a program: for platforms without a source of their own (a vault
//! agent's CLI, a cloud CLI, a site script). Modelled on Kubernetes client-go's exec
//! credential plugins: the program runs directly from its argv (no shell, so nothing is
//! re-parsed), inherits the environment, gets no stdin, and its standard output is the
//! token.
//!
//! The output is capped at [`MAX_TOKEN_BYTES`](super::MAX_TOKEN_BYTES); the run is bounded
//! by a timeout, after which the child is killed. Its standard error goes to this process's
//! standard error (for the operator) unless discarded, and never into a [`SourceError`]:
//! whatever a failing program prints may be a secret. Errors name the program, not its
//! arguments, which may hold secrets as well.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::clock::{Clock, SystemClock};

use super::MAX_TOKEN_BYTES;
use super::cache::TokenCache;
use super::cached::{cached_source, name_only_debug, setters};
use super::error::SourceError;
use super::token::WorkloadToken;

/// How long a command may run unless configured: enough for a CLI that makes a network
/// call of its own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A program whose standard output is the token, cached until 80 % of the token's lifetime.
///
/// ```
/// use std::time::Duration;
/// use mcp_warden::workload::{CommandSource, TokenSource};
///
/// let source = CommandSource::builder("/usr/local/bin/get-token")
///     .args(["--audience", "https://as.example.com"])
///     .timeout(Duration::from_secs(5))
///     .build();
/// assert_eq!(source.name(), "command /usr/local/bin/get-token");
/// ```
pub struct CommandSource {
    name: Arc<str>,
    program: PathBuf,
    args: Vec<OsString>,
    timeout: Duration,
    discard_stderr: bool,
    cache: TokenCache,
}

impl CommandSource {
    /// A builder for running `program` (a path, or a name looked up in `PATH`).
    pub fn builder(program: impl Into<PathBuf>) -> CommandSourceBuilder {
        CommandSourceBuilder {
            program: program.into(),
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            discard_stderr: false,
            clock: Arc::new(SystemClock),
        }
    }

    async fn fetch_uncached(&self) -> Result<WorkloadToken, SourceError> {
        let name = || self.name.to_string();
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if self.discard_stderr {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            // A timed-out (dropped) run kills the child rather than leaving it behind.
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| SourceError::CommandSpawn {
                name: name(),
                kind: error.kind(),
            })?;
        let Some(stdout) = child.stdout.take() else {
            // Unreachable: stdout was set to piped above. Fail closed all the same.
            return Err(SourceError::CommandSpawn {
                name: name(),
                kind: std::io::ErrorKind::BrokenPipe,
            });
        };
        let run = async {
            let mut output = Vec::new();
            stdout
                .take(MAX_TOKEN_BYTES as u64 + 1)
                .read_to_end(&mut output)
                .await
                .map_err(|error| SourceError::CommandSpawn {
                    name: name(),
                    kind: error.kind(),
                })?;
            if output.len() > MAX_TOKEN_BYTES {
                // Dropping `child` on return kills it mid-write.
                return Err(SourceError::TooLarge {
                    name: name(),
                    max: MAX_TOKEN_BYTES,
                });
            }
            let status = child
                .wait()
                .await
                .map_err(|error| SourceError::CommandSpawn {
                    name: name(),
                    kind: error.kind(),
                })?;
            if !status.success() {
                return Err(SourceError::CommandFailed {
                    name: name(),
                    code: status.code(),
                });
            }
            WorkloadToken::parse(&output, &self.name)
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .unwrap_or_else(|_| {
                Err(SourceError::Timeout {
                    name: name(),
                    after: self.timeout,
                })
            })
    }
}

cached_source!(CommandSource);

/// Configuration of a [`CommandSource`].
#[must_use]
pub struct CommandSourceBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    timeout: Duration,
    discard_stderr: bool,
    clock: Arc<dyn Clock>,
}

impl CommandSourceBuilder {
    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sends the program's standard error nowhere instead of to this process's.
    pub fn discard_stderr(mut self) -> Self {
        self.discard_stderr = true;
        self
    }

    setters! {
        /// How long one run may take (30 s unless set); the child is killed after it.
        timeout;
        /// The clock the cache reads (the system clock unless set).
        clock;
    }

    /// Builds the source. The program is not looked for until the first fetch: it may be
    /// installed after the agent starts.
    pub fn build(self) -> CommandSource {
        CommandSource {
            name: Arc::from(format!("command {}", self.program.display())),
            program: self.program,
            args: self.args,
            timeout: self.timeout,
            discard_stderr: self.discard_stderr,
            cache: TokenCache::new(self.clock),
        }
    }
}

name_only_debug!(CommandSource);
