//! `mcp-warden demo`: the whole chain on one machine, in one process, with no configuration —
//! a workload's platform token becomes a DPoP-bound access token, the agent calls a tool on
//! a guarded MCP server, and then the attacks a DPoP deployment exists to stop are tried,
//! each refused by the part that should refuse it.
//!
//! The parts (`stack.rs`): a stand-in Kubernetes API server writing a projected token for
//! `system:serviceaccount:agents:researcher`; mcp-warden's issuer trusting it; an rmcp server
//! with two tools behind the guard (server nonces on); and the agent ([`crate::exchange`]),
//! which knows only the MCP server's URL and the token file.
//!
//! [`run`] reports every step, expected outcome and all; the demo succeeds only when each
//! step happened as it should. Decoded tokens and proofs (never the raw ones) are shown
//! with `verbose`.

mod report;
mod server;
mod stack;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::{Clock, SystemClock};
use crate::dpop::ProofSigner;
use crate::exchange::call::{ConnectOptions, Connected, Step as ConnectStep, connect};
use crate::exchange::{
    Audience, ExchangeError, Grant, McpError, McpSession, ReqwestService, TokenClient,
};
use crate::jose::{Algorithm, SigningKey};
use crate::oauth::ErrorCode;
use crate::workload::{FileSource, TokenSource};

pub use report::{Outcome, StepRecord};
pub use stack::BrokenRole;

use stack::{ACCOUNT, NAMESPACE, Stack};

/// How to run the demo.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Also decode each token and proof (header and claims; never the raw token).
    pub verbose: bool,
    /// Break one part on purpose (tests: the demo must then fail, naming the step).
    pub broken: Option<BrokenRole>,
}

/// Why the demo could not run at all (as opposed to a step failing).
#[derive(Debug, thiserror::Error)]
#[error("the demo could not start: {0}")]
pub struct DemoError(String);

/// The running demo stack, kept after [`run`] for `demo --serve`.
pub struct Running {
    stack: Stack,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("mcp", &self.stack.mcp)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The guarded MCP endpoint.
    pub fn mcp_url(&self) -> &str {
        &self.stack.mcp
    }

    /// The issuer's identifier.
    pub fn issuer(&self) -> &str {
        &self.stack.issuer
    }

    /// The stand-in cluster's issuer identifier.
    pub fn cluster(&self) -> &str {
        &self.stack.cluster
    }

    /// The workload's projected token file.
    pub fn token_file(&self) -> &std::path::Path {
        &self.stack.token_file
    }

    /// The example servers' resource, which the demo's issuer also grants tokens for.
    pub fn examples_resource(&self) -> &'static str {
        stack::EXAMPLES_RESOURCE
    }

    /// Writes a fresh workload token, as the kubelet does before the old one expires.
    pub fn rotate_token(&self) -> Result<(), DemoError> {
        self.stack
            .write_token(NAMESPACE, ACCOUNT)
            .map_err(|e| DemoError(e.to_string()))
    }
}

/// The body of every raw MCP request the attacks send.
const LIST_TOOLS: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// Runs the demo, handing each step to `report` as it completes; the outcome and the stack.
pub async fn run(
    options: &DemoOptions,
    report: &mut (dyn FnMut(&StepRecord) + Send),
) -> Result<(Outcome, Running), DemoError> {
    let stack = Stack::start(options.broken)
        .await
        .map_err(|e| DemoError(e.to_string()))?;
    let mut steps = Recorder {
        outcome: Outcome::default(),
        report,
    };
    steps.record(
        StepRecord::ok(
            "start",
            "demo",
            format!(
                "a stand-in Kubernetes API server at {}, the issuer at {}, an MCP server with two tools behind the guard at {}",
                stack.cluster, stack.issuer, stack.mcp
            ),
        ),
    );
    let mut kubelet = StepRecord::ok(
        "workload-token",
        "kubelet",
        format!(
            "wrote a projected token for system:serviceaccount:{NAMESPACE}:{ACCOUNT} (audience {}) to {}",
            stack.issuer,
            stack.token_file.display()
        ),
    );
    if options.verbose {
        kubelet.decoded = std::fs::read_to_string(&stack.token_file)
            .ok()
            .and_then(|token| report::decode(&token));
    }
    steps.record(kubelet);

    let http = crate::outbound::client(Duration::from_secs(10), Duration::from_secs(5), true)
        .map_err(|e| DemoError(e.to_string()))?;
    let source: Arc<dyn TokenSource> = Arc::new(FileSource::kubernetes_at(&stack.token_file));
    let connect_options = ConnectOptions {
        url: stack.mcp.clone(),
        grant: Grant::JwtBearer,
        source: Some(Box::new(move |_issuer: &str| Ok(source))),
        scopes: vec!["tools:call".into()],
        omit_resource: false,
        issuer: None,
        require_dpop: true,
        signer: None,
        timeout: Duration::from_secs(10),
    };
    let mut discovered = None;
    let connected = connect(&http, connect_options, &mut |step| {
        if let ConnectStep::Discovered {
            issuer,
            token_endpoint,
        } = step
        {
            discovered = Some((issuer, token_endpoint));
        }
    })
    .await;
    let (layer, provider, signer, audience) = match connected {
        Ok(Connected::Guarded {
            layer,
            provider,
            signer,
            audience,
            ..
        }) => {
            let (issuer, endpoint) = discovered.unwrap_or_default();
            steps.record(StepRecord::ok(
                "discover",
                "agent",
                format!(
                    "the MCP server answered 401 without credentials; its metadata (RFC 9728) names {issuer}, whose metadata (RFC 8414) gives the token endpoint {endpoint}"
                ),
            ));
            (layer, provider, signer, audience)
        }
        Ok(_) => {
            steps.record(StepRecord::failed(
                "discover",
                "agent",
                "the MCP server took a request without credentials".into(),
            ));
            return Ok((steps.outcome, Running { stack }));
        }
        Err(error) => {
            steps.record(StepRecord::failed("discover", "agent", error.to_string()));
            return Ok((steps.outcome, Running { stack }));
        }
    };

    let token = match provider.token(&audience).await {
        Ok(token) => {
            let claims = report::claims(token.token.expose()).unwrap_or(Value::Null);
            let bound = claims.pointer("/cnf/jkt").and_then(Value::as_str)
                == Some(signer.thumbprint().as_str());
            let mut step = StepRecord::check(
                token.dpop && bound,
                "token",
                "issuer",
                format!(
                    "exchanged the workload token (jwt-bearer, RFC 7523; a DPoP proof, RFC 9449 §5, after one use_dpop_nonce) for a {} token, scope {:?}, {} s, bound to the agent's key {} (cnf.jkt)",
                    if token.dpop { "DPoP" } else { "Bearer" },
                    token.scope.as_deref().unwrap_or(""),
                    token.expires_in.map_or(0, |d| d.as_secs()),
                    signer.thumbprint().as_str()
                ),
            );
            if options.verbose {
                step.decoded = report::decode(token.token.expose());
            }
            steps.record(step);
            token
        }
        Err(error) => {
            steps.record(StepRecord::failed("token", "issuer", error.to_string()));
            return Ok((steps.outcome, Running { stack }));
        }
    };

    let service = tower_layer::Layer::layer(&layer, ReqwestService::new(http.clone()));
    let uri: http::Uri = stack
        .mcp
        .parse()
        .map_err(|_| DemoError("the MCP URL is not a URI".into()))?;
    let mut session = McpSession::new(service, uri);
    match session.initialize("mcp-warden demo").await {
        Ok(init) => steps.record(StepRecord::ok(
            "initialize",
            "guard",
            format!(
                "let the agent's initialize through (a fresh proof, after one use_dpop_nonce from the guard); the server is {}",
                init.pointer("/serverInfo/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            ),
        )),
        Err(error) => steps.record(StepRecord::failed("initialize", "guard", error.to_string())),
    }
    match session.list_tools().await {
        Ok(tools) => {
            let names: Vec<&str> = tools
                .iter()
                .filter_map(|tool| tool.get("name").and_then(Value::as_str))
                .collect();
            steps.record(StepRecord::ok(
                "list-tools",
                "agent",
                format!("listed the tools: {}", names.join(", ")),
            ));
        }
        Err(error) => steps.record(StepRecord::failed("list-tools", "agent", error.to_string())),
    }
    match session.call_tool("sum", json!({"a": 2, "b": 3})).await {
        Ok(result) => {
            let text = result
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or("");
            steps.record(StepRecord::check(
                text == "5",
                "call-sum",
                "agent",
                format!("called sum(2, 3) with tools:call: {text}"),
            ));
        }
        Err(error) => steps.record(StepRecord::failed("call-sum", "agent", error.to_string())),
    }
    match stack.write_token(NAMESPACE, ACCOUNT) {
        Ok(()) => steps.record(StepRecord::ok(
            "rotate",
            "kubelet",
            "rotated the projected token file; the agent reads it at its next token request".into(),
        )),
        Err(error) => steps.record(StepRecord::failed("rotate", "kubelet", error.to_string())),
    }

    // The attacks.
    let attacker = ProofSigner::generate(Algorithm::ES256).map_err(|e| DemoError(e.to_string()))?;
    let attacks = Attacks {
        http: &http,
        mcp: &stack.mcp,
        token: token.token.expose(),
        verbose: options.verbose,
    };
    steps.record(attacks.stolen_token(&attacker).await);
    steps.record(attacks.replayed_proof(&signer).await);
    steps.record(attacks.other_url(&signer).await);
    steps.record(attacks.bearer_downgrade().await);

    match session.call_tool("reset_database", json!({})).await {
        Err(McpError::Status {
            status: 403,
            challenge,
        }) => steps.record(StepRecord::refused(
            "forbidden-tool",
            "guard",
            "the agent's call of reset_database, which needs tools:admin (after one step-up request the issuer answered with tools:call only)",
            403,
            challenge,
            true,
        )),
        Ok(_) => steps.record(StepRecord::failed(
            "forbidden-tool",
            "guard",
            "reset_database ran with a token that holds only tools:call".into(),
        )),
        Err(error) => steps.record(StepRecord::failed(
            "forbidden-tool",
            "guard",
            format!("expected 403 insufficient_scope, got: {error}"),
        )),
    }

    // A workload token from an issuer the policy does not trust.
    let rogue = SigningKey::generate(Algorithm::ES256)
        .and_then(|key| key.with_kid("rogue-1"))
        .map_err(|e| DemoError(e.to_string()))?;
    let rogue_token = stack::mint(
        &rogue,
        "https://rogue-cluster.example",
        &stack.issuer,
        NAMESPACE,
        ACCOUNT,
    )
    .map_err(|e| DemoError(e.to_string()))?;
    let token_endpoint = url::Url::parse(&format!("{}/token", stack.issuer))
        .map_err(|e| DemoError(e.to_string()))?;
    let rogue_client = TokenClient::builder(token_endpoint, Arc::new(attacker))
        .build()
        .map_err(|e| DemoError(e.to_string()))?;
    let answer = rogue_client
        .request(
            &Grant::JwtBearer,
            Some(&crate::secret::Secret::new(rogue_token)),
            None,
            &Audience::new(&stack.mcp, ["tools:call"]),
            SystemClock.now(),
        )
        .await;
    match answer {
        Err(ExchangeError::Refused {
            status,
            code: ErrorCode::InvalidGrant,
            ..
        }) => steps.record(StepRecord::refused(
            "untrusted-issuer",
            "issuer",
            "a workload token from a cluster it does not trust (https://rogue-cluster.example): {\"error\":\"invalid_grant\"}",
            status,
            None,
            true,
        )),
        other => steps.record(StepRecord::failed(
            "untrusted-issuer",
            "issuer",
            format!("expected 400 invalid_grant, got {other:?}"),
        )),
    }
    Ok((steps.outcome, Running { stack }))
}

/// Hands each step to the caller's report as it completes, and keeps it.
struct Recorder<'a> {
    outcome: Outcome,
    report: &'a mut (dyn FnMut(&StepRecord) + Send),
}

impl Recorder<'_> {
    fn record(&mut self, step: StepRecord) {
        (self.report)(&step);
        self.outcome.steps.push(step);
    }
}

/// The attacks on the guard, each with a token the agent really obtained.
struct Attacks<'a> {
    http: &'a reqwest::Client,
    mcp: &'a str,
    token: &'a str,
    verbose: bool,
}

impl Attacks<'_> {
    /// A nonce the guard issues now (it sends one with every answer).
    async fn nonce(&self) -> Option<String> {
        let response = self
            .http
            .post(self.mcp)
            .body(LIST_TOOLS)
            .send()
            .await
            .ok()?;
        response
            .headers()
            .get("dpop-nonce")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    async fn send(&self, scheme: &str, proof: Option<&str>) -> (u16, Option<String>) {
        let mut request = self
            .http
            .post(self.mcp)
            .header("authorization", format!("{scheme} {}", self.token))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header(
                "mcp-protocol-version",
                crate::exchange::mcp::PROTOCOL_VERSION,
            )
            .body(LIST_TOOLS);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        match request.send().await {
            Ok(response) => (
                response.status().as_u16(),
                response
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            ),
            Err(_) => (0, None),
        }
    }

    fn proof(&self, signer: &ProofSigner, url: &str, nonce: Option<&str>) -> Option<String> {
        signer
            .proof("POST", url, Some(self.token), nonce, SystemClock.now())
            .ok()
    }

    async fn stolen_token(&self, attacker: &ProofSigner) -> StepRecord {
        let nonce = self.nonce().await;
        let proof = self.proof(attacker, self.mcp, nonce.as_deref());
        let (status, challenge) = self.send("DPoP", proof.as_deref()).await;
        let mut step = StepRecord::refused(
            "stolen-token",
            "guard",
            "the agent's access token, stolen and used with the thief's own key (cnf.jkt does not match)",
            status,
            challenge,
            status == 401,
        );
        if self.verbose {
            step.decoded = proof.as_deref().and_then(report::decode);
        }
        step
    }

    async fn replayed_proof(&self, agent: &ProofSigner) -> StepRecord {
        let nonce = self.nonce().await;
        let proof = self.proof(agent, self.mcp, nonce.as_deref());
        let (first, _) = self.send("DPoP", proof.as_deref()).await;
        let (status, challenge) = self.send("DPoP", proof.as_deref()).await;
        StepRecord::refused(
            "replayed-proof",
            "guard",
            &format!(
                "a captured request sent again, token and proof as they were (the original got {first})"
            ),
            status,
            challenge,
            (200..300).contains(&first) && status == 401,
        )
    }

    async fn other_url(&self, agent: &ProofSigner) -> StepRecord {
        let nonce = self.nonce().await;
        let elsewhere = format!("{}/../admin", self.mcp.trim_end_matches("/mcp"));
        let proof = self.proof(agent, &elsewhere, nonce.as_deref());
        let (status, challenge) = self.send("DPoP", proof.as_deref()).await;
        StepRecord::refused(
            "other-url",
            "guard",
            "a proof the agent signed for another URL (htu), presented here",
            status,
            challenge,
            status == 401,
        )
    }

    async fn bearer_downgrade(&self) -> StepRecord {
        let (status, challenge) = self.send("Bearer", None).await;
        StepRecord::refused(
            "bearer-downgrade",
            "guard",
            "the DPoP-bound token presented as a plain Bearer token, with no proof",
            status,
            challenge,
            status == 401,
        )
    }
}
