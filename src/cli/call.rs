//! `mcp-warden call`: the arguments, the workload token source they name, and one line per
//! step of [`mcp_warden::exchange::call::run`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_warden::exchange::Grant;
use mcp_warden::exchange::call::{CallOptions, ConnectOptions, SourceFactory, Step, run};
use mcp_warden::jose::{Algorithm, SigningKey};
use mcp_warden::workload::{
    AutoOptions, FileSource, ProcessEnvironment, TokenSource, WorkloadSource,
};

/// Point an agent at an MCP server: discover its authorization server from the `401`,
/// exchange the workload's platform token for a DPoP-bound access token, then initialize,
/// list the tools and call one. Exits 1 at the first refusal, saying who refused and why.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The grant: jwt-bearer (MCP SEP-1933, RFC 7523), token-exchange (RFC 8693), or
    /// federated-client-credentials (the token as client_assertion, RFC 7523 §2.2).
    #[arg(long, value_enum, default_value_t = GrantArg::JwtBearer)]
    grant: GrantArg,
    /// `client_id` sent with federated-client-credentials.
    #[arg(long)]
    client_id: Option<String>,
    /// Read the workload token from this file (re-read on every exchange). Without it, the
    /// platform is detected from the environment (GitHub Actions, AWS, Azure, a Kubernetes
    /// projected token, GCP with GCE_METADATA_HOST).
    #[arg(long, env = "MCP_WARDEN_WORKLOAD_TOKEN_FILE")]
    workload_token_file: Option<PathBuf>,
    /// The audience to ask platforms that mint on request for (GitHub Actions, GCP);
    /// default: the discovered authorization server's issuer.
    #[arg(long)]
    workload_audience: Option<String>,
    /// Let detection use the GCP metadata server at its default address (GKE, GCE); it is
    /// never probed otherwise.
    #[arg(long)]
    gcp_metadata: bool,
    /// Scopes to ask for (repeat, or space-separated); none asks for the server's default.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Leave `resource` out of the token request (providers such as Microsoft Entra that
    /// read the audience from the scope, `api://<app>/.default`).
    #[arg(long)]
    omit_resource: bool,
    /// Use this authorization server; it must be one the MCP server's metadata names.
    #[arg(long)]
    issuer: Option<String>,
    /// Refuse a Bearer token: only a DPoP-bound one is used.
    #[arg(long)]
    require_dpop: bool,
    /// The DPoP key, PKCS#8 (PEM or DER); generated in memory when absent, never written.
    #[arg(long)]
    dpop_key: Option<PathBuf>,
    /// The DPoP key's algorithm.
    #[arg(long, default_value = "ES256")]
    dpop_alg: String,
    /// A tool to call after listing the tools.
    #[arg(long)]
    tool: Option<String>,
    /// The tool's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    args: String,
    /// Seconds each HTTP exchange may take.
    #[arg(long, default_value_t = 10)]
    timeout_s: u64,
    /// The MCP server's URL, exactly as its metadata names it.
    url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GrantArg {
    JwtBearer,
    TokenExchange,
    FederatedClientCredentials,
}

/// Runs `mcp-warden call`.
pub(crate) fn main(args: CallArgs) -> ExitCode {
    match options(args) {
        Ok(options) => execute(options),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn options(args: CallArgs) -> Result<CallOptions, String> {
    let grant = match args.grant {
        GrantArg::JwtBearer => Grant::JwtBearer,
        GrantArg::TokenExchange => Grant::token_exchange(),
        GrantArg::FederatedClientCredentials => Grant::FederatedClientCredentials {
            client_id: args.client_id.clone(),
        },
    };
    let arguments: serde_json::Value =
        serde_json::from_str(&args.args).map_err(|error| format!("--args is not JSON: {error}"))?;
    if !arguments.is_object() {
        return Err("--args must be a JSON object".into());
    }
    let key = match &args.dpop_key {
        Some(path) => {
            let alg = Algorithm::from_name(&args.dpop_alg).ok_or_else(|| {
                format!("--dpop-alg {}: not a signature algorithm", args.dpop_alg)
            })?;
            let bytes =
                std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
            Some(pkcs8(alg, &bytes).map_err(|error| format!("{}: {error}", path.display()))?)
        }
        None => None,
    };
    let file = args.workload_token_file.clone();
    let audience = args.workload_audience.clone();
    let gcp = args.gcp_metadata;
    let source: SourceFactory = Box::new(move |issuer: &str| {
        let source: Arc<dyn TokenSource> = match file {
            Some(path) => Arc::new(FileSource::new(path)),
            None => {
                let mut options =
                    AutoOptions::new().audience(audience.unwrap_or_else(|| issuer.to_owned()));
                if gcp {
                    options = options.gcp_metadata();
                }
                Arc::new(WorkloadSource::auto(&ProcessEnvironment, options)?)
            }
        };
        Ok(source)
    });
    let scopes = args
        .scopes
        .iter()
        .flat_map(|scope| scope.split(' '))
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(CallOptions {
        connect: ConnectOptions {
            url: args.url,
            grant,
            source: Some(source),
            scopes,
            omit_resource: args.omit_resource,
            issuer: args.issuer,
            require_dpop: args.require_dpop,
            signer: None,
            timeout: Duration::from_secs(args.timeout_s.max(1)),
        },
        key,
        tool: args.tool.map(|tool| (tool, arguments)),
    })
}

/// A PKCS#8 key, PEM or DER.
fn pkcs8(alg: Algorithm, bytes: &[u8]) -> Result<SigningKey, String> {
    let der = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let body: String = text
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect();
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .map_err(|_| "not PEM".to_owned())?
        }
        _ => bytes.to_vec(),
    };
    SigningKey::from_pkcs8(alg, &der).map_err(|error| error.to_string())
}

fn execute(options: CallOptions) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(options, &mut |step| println!("{}", describe(&step))));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Challenged { status } => {
            format!(
                "server       answered {status} without credentials: discovering its authorization server"
            )
        }
        Step::Open => "server       needs no credentials".into(),
        Step::Discovered {
            issuer,
            token_endpoint,
        } => {
            format!("discovered   authorization server {issuer} (token endpoint {token_endpoint})")
        }
        Step::Token {
            token_type,
            scope,
            expires_in,
            key_thumbprint,
        } => format!(
            "token        {token_type}, scope {:?}, expires in {} s, key {key_thumbprint}",
            scope.as_deref().unwrap_or(""),
            expires_in.map_or("?".into(), |s| s.to_string())
        ),
        Step::Initialized {
            server,
            protocol_version,
        } => format!("initialized  {server} (protocol {protocol_version})"),
        Step::Tools { names } => format!("tools        {}", names.join(", ")),
        Step::Called {
            tool,
            is_error,
            text,
        } => format!(
            "called       {tool}{}: {text}",
            if *is_error { " (error)" } else { "" }
        ),
        _ => format!("{step:?}"),
    }
}
