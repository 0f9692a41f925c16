//! The `mcp-warden` command line: a thin shell over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Secures MCP servers and the agents that call them (DPoP, RFC 9449).
#[derive(Debug, Parser)]
#[command(name = "mcp-warden", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run resource-server test vectors (format `resource-vectors/1`) through the guard's
    /// validation path. A directory stands for the `*.json` files directly in it.
    Vectors {
        /// Vector files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also print what each request got and the internal refusal reason.
        #[arg(long)]
        explain: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Vectors { paths, explain } => {
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
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
