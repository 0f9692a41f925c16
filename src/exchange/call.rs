//! `mcp-warden call`: point an agent at any MCP server and watch the whole client side work
//! — the server's `401`, discovery of its authorization server (RFC 9728, RFC 8414), the
//! workload token exchanged for an access token with a DPoP proof, then `initialize`,
//! `tools/list` and, if asked, one `tools/call`, each request with a fresh proof.
//!
//! [`run`] reports each step to a callback (the CLI prints them) and stops at the first
//! refusal with an error that says who refused and why.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::dpop::ProofSigner;
use crate::jose::{Algorithm, SigningKey};
use crate::workload::TokenSource;

use super::challenge::challenges;
use super::discover::{DiscoveryError, discover};
use super::grant::{Audience, Grant};
use super::http_client::ReqwestService;
use super::layer::DpopClientLayer;
use super::mcp::{McpError, McpSession};
use super::metadata::{MetadataError, https_url};
use super::nonce::NonceBook;
use super::provider::TokenProvider;
use super::{ExchangeError, TokenClient};

/// What to do.
pub struct CallOptions {
    /// Where and how to connect.
    pub connect: ConnectOptions,
    /// The DPoP key; generated in memory when `None`.
    pub key: Option<SigningKey>,
    /// The tool to call, with its arguments.
    pub tool: Option<(String, Value)>,
}

/// How to reach one MCP server with credentials.
pub struct ConnectOptions {
    /// The MCP server's URL, exactly as its metadata names it.
    pub url: String,
    /// How to get the token.
    pub grant: Grant,
    /// Builds the workload token's source (every grant but plain client credentials),
    /// given the discovered issuer — the audience a platform that mints on request (GitHub
    /// Actions, GCP) is asked for, as MCP SEP-1933 has it.
    pub source: Option<SourceFactory>,
    /// Scopes to ask for; empty asks for the server's default.
    pub scopes: Vec<String>,
    /// Leave `resource` out of the token request (providers that read the scope instead).
    pub omit_resource: bool,
    /// Use this authorization server (it must be one the resource names).
    pub issuer: Option<String>,
    /// Refuse Bearer tokens.
    pub require_dpop: bool,
    /// The DPoP signer; `None` makes a key of an algorithm the server lists.
    pub signer: Option<Arc<ProofSigner>>,
    /// Time for each HTTP exchange.
    pub timeout: Duration,
}

/// A connection to one MCP server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Connected {
    /// The server asked for no credentials.
    Open,
    /// The server wants tokens: the layer adds them.
    Guarded {
        /// What discovery found.
        discovered: Box<super::Discovered>,
        /// The layer that adds the token and a proof to each request.
        layer: DpopClientLayer,
        /// The token provider behind it.
        provider: TokenProvider,
        /// The DPoP key's signer.
        signer: Arc<ProofSigner>,
        /// The audience tokens are asked for.
        audience: Audience,
    },
}

/// Builds a workload token source for an authorization server's issuer identifier.
pub type SourceFactory =
    Box<dyn FnOnce(&str) -> Result<Arc<dyn TokenSource>, crate::workload::SourceError> + Send>;

/// One step done, for the report.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// The server refused the unauthenticated request.
    Challenged {
        /// Its status.
        status: u16,
    },
    /// The server answered without asking for credentials.
    Open,
    /// Discovery found the authorization server and its token endpoint.
    Discovered {
        /// The issuer.
        issuer: String,
        /// The token endpoint.
        token_endpoint: String,
    },
    /// A token was obtained.
    Token {
        /// `DPoP` or `Bearer`.
        token_type: &'static str,
        /// The granted scope.
        scope: Option<String>,
        /// Its lifetime.
        expires_in: Option<u64>,
        /// The DPoP key's thumbprint.
        key_thumbprint: String,
    },
    /// `initialize` succeeded.
    Initialized {
        /// The server's name and version.
        server: String,
        /// The protocol version.
        protocol_version: String,
    },
    /// `tools/list` answered.
    Tools {
        /// The tools' names.
        names: Vec<String>,
    },
    /// `tools/call` answered.
    Called {
        /// The tool.
        tool: String,
        /// `isError`.
        is_error: bool,
        /// The text content, joined.
        text: String,
    },
}

/// Why the call stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The options cannot work (a bad URL, a key of an algorithm the server refuses).
    #[error("{0}")]
    Options(String),
    /// The server could not be reached.
    #[error("cannot reach the MCP server: {0}")]
    Unreachable(String),
    /// Discovery failed: nothing was sent to any authorization server.
    #[error("discovery: {0}")]
    Discovery(#[from] DiscoveryError),
    /// The authorization server does not list the grant.
    #[error(
        "the authorization server {issuer} does not list the {grant} grant in grant_types_supported"
    )]
    GrantNotSupported {
        /// The issuer.
        issuer: String,
        /// The grant's name.
        grant: &'static str,
    },
    /// The workload token source could not be built.
    #[error("workload token source: {0}")]
    Source(#[from] crate::workload::SourceError),
    /// No token.
    #[error("token: {0}")]
    Token(#[from] ExchangeError),
    /// The MCP exchange failed.
    #[error("MCP: {0}")]
    Mcp(#[from] McpError),
    /// The tool answered with `isError: true`.
    #[error("the tool {0} reported an error")]
    ToolError(String),
}

/// Runs the call, reporting each step to `report`.
pub async fn run(
    options: CallOptions,
    report: &mut (dyn FnMut(Step) + Send),
) -> Result<(), CallError> {
    let CallOptions {
        connect: mut connect_options,
        key,
        tool,
    } = options;
    if connect_options.signer.is_none()
        && let Some(key) = key
    {
        connect_options.signer = Some(Arc::new(ProofSigner::new(key)));
    }
    let url = https_url("url", &connect_options.url).map_err(|_| {
        CallError::Options(format!(
            "{} is not an https URL (or http on loopback)",
            connect_options.url
        ))
    })?;
    let uri: http::Uri = connect_options
        .url
        .parse()
        .map_err(|_| CallError::Options(format!("{} is not a URI", connect_options.url)))?;
    let timeout = connect_options.timeout;
    let http = crate::outbound::client(timeout, timeout, url.scheme() == "http")
        .map_err(|error| CallError::Options(format!("cannot build the HTTP client: {error}")))?;
    let service = ReqwestService::new(http.clone());
    match connect(&http, connect_options, report).await? {
        Connected::Open => session(service, uri, tool, report).await,
        Connected::Guarded {
            layer,
            provider,
            signer,
            audience,
            ..
        } => {
            let token = provider.token(&audience).await?;
            report(Step::Token {
                token_type: if token.dpop { "DPoP" } else { "Bearer" },
                scope: token.scope.clone(),
                expires_in: token.expires_in.map(|d| d.as_secs()),
                key_thumbprint: signer.thumbprint().as_str().to_owned(),
            });
            session(layer.layer(service), uri, tool, report).await
        }
    }
}

/// Connects to the MCP server: one request without credentials; if it answers 401,
/// discovery (RFC 9728, RFC 8414), the grant checked against `grant_types_supported`, and a
/// client layer for it. No token is asked for yet.
pub async fn connect(
    http: &reqwest::Client,
    mut options: ConnectOptions,
    report: &mut (dyn FnMut(Step) + Send),
) -> Result<Connected, CallError> {
    let url = https_url("url", &options.url).map_err(|_| {
        CallError::Options(format!(
            "{} is not an https URL (or http on loopback)",
            options.url
        ))
    })?;
    // The first request carries no credentials: its 401 says where to get them.
    let probe = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
        .send()
        .await
        .map_err(|error| CallError::Unreachable(super::discover::describe(&error)))?;
    let status = probe.status().as_u16();
    if status != 401 {
        report(Step::Open);
        return Ok(Connected::Open);
    }
    report(Step::Challenged { status });
    let found = discover(
        http,
        &options.url,
        &challenges(probe.headers()),
        options.issuer.as_deref(),
    )
    .await?;
    let server = &found.server;
    report(Step::Discovered {
        issuer: server.issuer.clone(),
        token_endpoint: server.token_endpoint.to_string(),
    });
    if !server.supports_grant(options.grant.grant_type()) {
        return Err(CallError::GrantNotSupported {
            issuer: server.issuer.clone(),
            grant: options.grant.name(),
        });
    }
    let signer = signer(
        options.signer.take(),
        &server.dpop_signing_alg_values_supported,
    )?;
    let nonces = Arc::new(NonceBook::new());
    let mut client = TokenClient::builder(server.token_endpoint.clone(), Arc::clone(&signer))
        .nonces(Arc::clone(&nonces))
        .timeout(options.timeout);
    if options.require_dpop {
        client = client.require_dpop();
    }
    let mut provider = TokenProvider::builder(client.build()?, options.grant.clone());
    if let Some(factory) = options.source.take() {
        provider = provider.source(factory(&server.issuer)?);
    }
    let provider = provider.build();
    let audience = Audience {
        resource: (!options.omit_resource).then(|| found.resource.resource.clone()),
        scopes: Audience::new("", options.scopes.iter().cloned()).scopes,
    };
    let layer = DpopClientLayer::new(provider.clone(), Arc::clone(&signer), audience.clone())
        .nonces(nonces);
    Ok(Connected::Guarded {
        discovered: Box::new(found),
        layer,
        provider,
        signer,
        audience,
    })
}

/// The DPoP signer: the configured one, if the server lists its algorithm, or a new key of
/// the first algorithm the server lists that this crate signs with (ES256 when it lists
/// none).
fn signer(
    configured: Option<Arc<ProofSigner>>,
    supported: &[String],
) -> Result<Arc<ProofSigner>, CallError> {
    let allowed =
        |alg: Algorithm| supported.is_empty() || supported.iter().any(|name| name == alg.name());
    if let Some(signer) = configured {
        let alg = signer.key().alg();
        if allowed(alg) {
            return Ok(signer);
        }
        return Err(CallError::Options(format!(
            "the DPoP key is {}, which the authorization server does not list in dpop_signing_alg_values_supported ({})",
            alg.name(),
            supported.join(", ")
        )));
    }
    let alg = [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::ES384,
        Algorithm::PS256,
        Algorithm::RS256,
    ]
    .into_iter()
    .find(|alg| allowed(*alg))
    .ok_or_else(|| {
        CallError::Options(format!(
            "the authorization server lists no DPoP algorithm this client signs with ({})",
            supported.join(", ")
        ))
    })?;
    let key = SigningKey::generate(alg).map_err(|error| CallError::Options(error.to_string()))?;
    Ok(Arc::new(ProofSigner::new(key)))
}

async fn session<S, B>(
    service: S,
    uri: http::Uri,
    tool: Option<(String, Value)>,
    report: &mut (dyn FnMut(Step) + Send),
) -> Result<(), CallError>
where
    S: Service<http::Request<Bytes>, Response = http::Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut session = McpSession::new(service, uri);
    let init = session.initialize("mcp-warden call").await?;
    let name = |key: &str| {
        init.pointer(&format!("/serverInfo/{key}"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    report(Step::Initialized {
        server: format!("{} {}", name("name"), name("version")),
        protocol_version: init
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    });
    let tools = session.list_tools().await?;
    report(Step::Tools {
        names: tools
            .iter()
            .filter_map(|tool| tool.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    });
    if let Some((tool, arguments)) = &tool {
        let result = session.call_tool(tool, arguments.clone()).await?;
        let is_error = result
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let text = result
            .get("content")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        report(Step::Called {
            tool: tool.clone(),
            is_error,
            text,
        });
        if is_error {
            return Err(CallError::ToolError(tool.clone()));
        }
    }
    Ok(())
}

impl From<MetadataError> for CallError {
    fn from(error: MetadataError) -> Self {
        CallError::Discovery(error.into())
    }
}
