//! `mcp-warden demo`: the arguments, the runtime, and the printing of
//! [`mcp_warden::demo::run`]'s steps.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_warden::demo::{BrokenRole, DemoOptions, Running, StepRecord, run};

/// Run the whole chain on this machine, with nothing to configure: a workload's Kubernetes
/// token becomes a DPoP-bound access token at mcp-warden's issuer, an agent calls a tool on
/// an MCP server behind the guard, then six attacks are tried and refused. Exits 0 only when
/// every step went as expected.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Print one JSON document instead of lines.
    #[arg(long)]
    json: bool,
    /// Also print each token and proof decoded (header and claims, never the raw token).
    #[arg(long)]
    verbose: bool,
    /// Keep the stack running afterwards and print how to call it (Ctrl-C to stop).
    #[arg(long)]
    serve: bool,
    /// Break one part on purpose, to see the demo fail (for tests).
    #[arg(long, value_enum, hide = true)]
    break_role: Option<BreakArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BreakArg {
    Issuer,
    Guard,
}

/// Runs `mcp-warden demo`.
pub(crate) fn main(args: DemoArgs) -> ExitCode {
    // Every TLS client in the process on aws-lc-rs (the demo itself is plain http on
    // loopback, but reqwest builds its TLS configuration anyway).
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> ExitCode {
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let options = DemoOptions {
        verbose: args.verbose,
        broken: args.break_role.map(|role| match role {
            BreakArg::Issuer => BrokenRole::Issuer,
            BreakArg::Guard => BrokenRole::Guard,
        }),
    };
    if !args.json {
        println!("mcp-warden demo: a workload calls a guarded MCP tool, then attackers try\n");
    }
    let json = args.json;
    let mut print = |step: &StepRecord| {
        if !json {
            println!("{}", step.line(colour));
        }
    };
    let (outcome, running) = match run(&options, &mut print).await {
        Ok(done) => done,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", outcome.to_json());
    } else if outcome.ok() {
        println!(
            "\nevery step went as expected: the token worked only with the agent's key, for its own server, scope and URL"
        );
    } else {
        let failed: Vec<&str> = outcome.failed().iter().map(|step| step.step).collect();
        eprintln!("\nerror: unexpected outcome at: {}", failed.join(", "));
    }
    if args.serve {
        serve(&running).await;
    }
    if outcome.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Keeps the stack up until Ctrl-C or SIGTERM, rotating the workload token as the kubelet
/// would (it lives ten minutes).
async fn serve(running: &Running) {
    let me = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "mcp-warden".into());
    println!(
        "\nThe stack stays up (Ctrl-C to stop):\n  MCP server      {} (guarded; tools sum, reset_database)\n  issuer          {}\n  cluster         {}\n  workload token  {} (rotated every 5 minutes)\n\nTry it:\n  {me} call --workload-token-file {} --tool sum --args '{{\"a\":2,\"b\":3}}' {}\n\nThe issuer also grants tokens for the repository's example servers:\n  MCP_WARDEN_ISSUER={} cargo run --example rmcp_server\n  {me} call --workload-token-file {} --tool sum --args '{{\"a\":2,\"b\":3}}' {}",
        running.mcp_url(),
        running.issuer(),
        running.cluster(),
        running.token_file().display(),
        running.token_file().display(),
        running.mcp_url(),
        running.issuer(),
        running.token_file().display(),
        running.examples_resource(),
    );
    let mut rotation = tokio::time::interval(Duration::from_secs(300));
    rotation.tick().await;
    let stop = mcp_warden::sidecar::signal::Shutdown::on_signal();
    let mut stopped = std::pin::pin!(stop.begun());
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = rotation.tick() => {
                if let Err(error) = running.rotate_token() {
                    eprintln!("warning: {error}");
                }
            }
        }
    }
}
