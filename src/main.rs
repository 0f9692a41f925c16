//! The `mcp-warden` command line: a thin shell over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See the `mimalloc` feature in Cargo.toml: measured in docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Secures MCP servers with DPoP-bound access tokens (RFC 9449).
///
/// `guard` (or `serve`) runs the guard sidecar, a reverse proxy that checks every request in
/// front of an MCP server; `check-config` validates its configuration; `vectors` runs test
/// vectors through the guard's validation path.
#[derive(Debug, Parser)]
#[command(name = "mcp-warden", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run resource-server test vectors (format `resource-vectors/1`) through the guard's
    /// validation path. A directory stands for the `*.json` files directly in it. Exits 1
    /// when a vector fails, a file cannot be read or parsed, or no vector ran.
    Vectors {
        /// Vector files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also print what each request got and the internal refusal reason.
        #[arg(long)]
        explain: bool,
    },
    /// Run the guard sidecar: a reverse proxy that checks DPoP-bound tokens in front of an
    /// MCP server. Every option can also come from `MCP_WARDEN_*` environment variables.
    #[cfg(feature = "sidecar")]
    Guard {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
        /// Forward every request UNCHECKED: only to measure the proxy's own cost.
        #[arg(long, hide = true)]
        dangerous_no_guard: bool,
    },
    /// Run the roles the configuration names. The guard is the only one: the same as `guard`.
    #[cfg(feature = "sidecar")]
    Serve {
        /// The configuration file (TOML).
        #[arg(long, short, env = "MCP_WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load and validate a configuration, print every problem, and exit 1 if there is one.
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
        #[cfg(feature = "sidecar")]
        Command::Guard {
            config,
            dangerous_no_guard,
        } => sidecar(config, dangerous_no_guard),
        #[cfg(feature = "sidecar")]
        Command::Serve { config } => sidecar(config, false),
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

#[cfg(feature = "sidecar")]
fn load(file: Option<&std::path::Path>) -> Result<mcp_warden::sidecar::config::Config, ExitCode> {
    use mcp_warden::sidecar::config::Config;
    let config = Config::load(file).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    if let Err(errors) = config.validate() {
        for error in errors {
            eprintln!("error: {error}");
        }
        return Err(ExitCode::from(2));
    }
    Ok(config)
}

#[cfg(feature = "sidecar")]
fn check_config(file: &std::path::Path) -> ExitCode {
    match load(Some(file)) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::FAILURE,
    }
}

#[cfg(feature = "sidecar")]
fn sidecar(file: Option<PathBuf>, no_guard: bool) -> ExitCode {
    use mcp_warden::sidecar::GuardSwitch;
    let config = match load(file.as_deref()) {
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
    let switch = if no_guard {
        GuardSwitch::DangerousOff
    } else {
        GuardSwitch::On
    };
    match runtime.block_on(mcp_warden::sidecar::run_sidecar(config, switch)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "mcp-warden could not start");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
