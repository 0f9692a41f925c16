//! The `mcp-warden` command line: a thin shell over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli {
    pub(crate) mod call;
    #[cfg(feature = "demo")]
    pub(crate) mod demo;
}

/// See the `mimalloc` feature in Cargo.toml: measured in docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Secures MCP servers with DPoP-bound access tokens (RFC 9449).
///
/// `demo` runs the whole chain on this machine; `serve` runs every role the configuration has
/// a section for — the guard (a reverse proxy that checks every request in front of an MCP
/// server), the issuer (exchanges workload identity for DPoP-bound tokens) and the agent (an
/// egress proxy adding those credentials); `guard`, `issuer` and `agent` run one role
/// alone; `call` points an agent at any MCP server; `check-config` validates a
/// configuration; `vectors` runs test vectors.
#[derive(Debug, Parser)]
#[command(name = "mcp-warden", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run test vectors: `resource-vectors/1` through the guard's validation path,
    /// `workload-vectors/1` through the issuer's token endpoint (each file's `format` picks
    /// the runner). A directory stands for the `*.json` files directly in it. Exits 1
    /// when a vector fails, a file cannot be read or parsed, or no vector ran.
    Vectors {
        /// Vector files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also print what each request got and the internal refusal reason.
        #[arg(long)]
        explain: bool,
    },
    /// Run the whole chain on this machine with nothing to configure: a workload's token
    /// exchanged at the issuer, a guarded tool called by the agent, six attacks refused.
    #[cfg(feature = "demo")]
    Demo(cli::demo::DemoArgs),
    /// Call an MCP server as a workload: discover its authorization server from the `401`,
    /// exchange the workload token for a DPoP-bound access token, initialize, list the
    /// tools and call one.
    Call(Box<cli::call::CallArgs>),
    /// Run the guard sidecar alone: a reverse proxy that checks DPoP-bound tokens in front
    /// of an MCP server, configured by `[guard]`. Every option can also come from
    /// `MCP_WARDEN_*` environment variables.
    #[cfg(feature = "sidecar")]
    Guard {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
        /// Forward every request UNCHECKED: only to measure the proxy's own cost (a
        /// benchmark build, feature `bench-unguarded`).
        #[cfg(feature = "bench-unguarded")]
        #[arg(long, hide = true)]
        dangerous_no_guard: bool,
    },
    /// Run the issuer alone: the token service that exchanges workload identity tokens
    /// (Kubernetes, SPIFFE, GitHub Actions, cloud OIDC) for DPoP-bound MCP access tokens,
    /// configured by `[issuer]`.
    #[cfg(feature = "sidecar")]
    Issuer {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the agent alone: an egress proxy on loopback that adds the workload's DPoP-bound
    /// credentials to every request to the MCP servers of `[[agent.routes]]`, configured by
    /// `[agent]`.
    #[cfg(feature = "sidecar")]
    Agent {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run every role whose section the configuration holds (`[guard]`, `[issuer]`, `[agent]`), each on its own
    /// listener, with one admin listener; a configuration without a role section is an
    /// error.
    #[cfg(feature = "sidecar")]
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load and validate a configuration (the shared sections and every role section
    /// present), print every problem and warning, and exit 1 if there is a problem.
    #[cfg(feature = "sidecar")]
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Vectors { paths, explain } => vectors(paths, explain),
        Command::Call(args) => cli::call::main(*args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => cli::demo::main(args),
        #[cfg(feature = "sidecar")]
        Command::Guard {
            config,
            #[cfg(feature = "bench-unguarded")]
            dangerous_no_guard,
        } => {
            #[cfg(feature = "bench-unguarded")]
            if dangerous_no_guard {
                return sidecar(config, Run::Unguarded);
            }
            sidecar(config, Run::Guard)
        }
        #[cfg(feature = "sidecar")]
        Command::Issuer { config } => sidecar(config, Run::Issuer),
        #[cfg(feature = "sidecar")]
        Command::Agent { config } => sidecar(config, Run::Agent),
        #[cfg(feature = "sidecar")]
        Command::Serve { config } => sidecar(config, Run::Present),
        #[cfg(feature = "sidecar")]
        Command::CheckConfig { file } => check_config(&file),
    }
}

fn vectors(paths: Vec<PathBuf>, explain: bool) -> ExitCode {
    let detail = if explain {
        mcp_warden::vectors::Detail::Explain
    } else {
        mcp_warden::vectors::Detail::Outcome
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(mcp_warden::vectors::run_paths_with(&paths, detail));
    println!("{report}");
    if report.file_errors > 0 {
        eprintln!(
            "error: {} path(s) could not be read or parsed (see the `ERROR` lines)",
            report.file_errors
        );
    } else if report.ran() == 0 {
        eprintln!(
            "error: no vectors ran: the paths hold no `*.json` files, or only files without \
             vectors"
        );
    }
    if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What to run of a configuration.
#[cfg(feature = "sidecar")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Every role whose section is present (`serve`, `check-config`).
    Present,
    /// The guard alone (`guard`).
    Guard,
    /// The issuer alone (`issuer`).
    Issuer,
    /// The agent alone (`agent`).
    Agent,
    /// The guard with nothing checked (`guard --dangerous-no-guard`, benchmark builds).
    #[cfg(feature = "bench-unguarded")]
    Unguarded,
}

#[cfg(feature = "sidecar")]
fn load(
    file: Option<&std::path::Path>,
    run: Run,
) -> Result<mcp_warden::sidecar::config::Config, ExitCode> {
    use mcp_warden::sidecar::config::{Config, RoleKind};
    let config = Config::load(file).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })?;
    let (warnings, checked) = match run {
        Run::Present => (config.warnings(), config.validate()),
        Run::Issuer => (
            config.warnings_for(&[RoleKind::Issuer]),
            config.validate_for(&[RoleKind::Issuer]),
        ),
        Run::Agent => (
            config.warnings_for(&[RoleKind::Agent]),
            config.validate_for(&[RoleKind::Agent]),
        ),
        _ => (
            config.warnings_for(&[RoleKind::Guard]),
            config.validate_for(&[RoleKind::Guard]),
        ),
    };
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    if let Err(errors) = checked {
        for error in errors {
            eprintln!("error: {error}");
        }
        return Err(ExitCode::from(2));
    }
    Ok(config)
}

#[cfg(feature = "sidecar")]
fn check_config(file: &std::path::Path) -> ExitCode {
    match load(Some(file), Run::Present) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::FAILURE,
    }
}

#[cfg(feature = "sidecar")]
fn sidecar(file: Option<PathBuf>, run: Run) -> ExitCode {
    let config = match load(file.as_deref(), run) {
        Ok(config) => config,
        Err(code) => return code,
    };
    mcp_warden::sidecar::init_logging(&config);
    // Every TLS client and server in the process (listener, upstream, Redis) on aws-lc-rs,
    // explicitly rather than by which rustls features happen to be compiled in.
    if tokio_rustls::rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.runtime.worker_threads() {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let running = async move {
        match run {
            Run::Present => mcp_warden::sidecar::run_present(config).await,
            Run::Guard => mcp_warden::sidecar::run_guard(config).await,
            Run::Issuer => mcp_warden::sidecar::run_issuer(config).await,
            Run::Agent => mcp_warden::sidecar::run_agent(config).await,
            #[cfg(feature = "bench-unguarded")]
            Run::Unguarded => mcp_warden::sidecar::run_unguarded(config).await,
        }
    };
    match runtime.block_on(running) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "mcp-warden could not start");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
