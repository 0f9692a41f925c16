//! `[guard.identity]`: what the upstream learns about the verified caller — plain headers or
//! a signed assertion.

use std::path::PathBuf;

use http::HeaderName;
use serde::Deserialize;

use super::ConfigError;
use super::check::{self, Problems, path};
use super::secrets::KeyFile;
use crate::jose::{Algorithm, SigningKey};

/// `[guard.identity]` (`[identity]` in the old layout): what the upstream learns about the
/// verified caller. The sidecar removes
/// any copy of these headers the client sent, so they can only come from the guard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Send the identity headers at all. Default true.
    pub headers: bool,
    /// The token's `sub`; `""` turns this header off. Default `x-mcp-subject`.
    pub subject_header: String,
    /// The OAuth client id; `""` turns it off. Default `x-mcp-client-id`.
    pub client_id_header: String,
    /// The granted scopes, space-separated; `""` turns it off. Default `x-mcp-scopes`.
    pub scopes_header: String,
    /// The RFC 7638 thumbprint of the caller's DPoP key; `""` turns it off. Default
    /// `x-mcp-key-thumbprint`.
    pub key_thumbprint_header: String,
    /// Send a short-lived signed JWT describing the caller instead of the plain headers, so
    /// that the upstream verifies the identity rather than trusting the network path.
    /// Default false.
    pub assertion: bool,
    /// The header carrying the assertion. Default `x-mcp-identity`.
    pub assertion_header: String,
    /// PKCS#8 private key (PEM or DER) that signs assertions; required with
    /// `assertion = true`. Its public JWK Set is served on the admin listener at
    /// `/identity/jwks.json`.
    pub assertion_key_file: Option<PathBuf>,
    /// The algorithm of `assertion_key_file`. Default `ES256`.
    pub assertion_alg: String,
    /// The `kid` of the assertion key. Default: its RFC 7638 thumbprint.
    pub assertion_kid: Option<String>,
    /// Seconds an assertion is valid. Default 60.
    pub assertion_ttl_s: u64,
    /// The bytes of `assertion_key_file`, read at load time.
    #[serde(skip)]
    assertion_key: KeyFile,
    /// The dotted name of the table this was read from (`guard.identity`, or `identity`
    /// in the old layout).
    #[serde(skip)]
    pub(super) table: &'static str,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            headers: true,
            subject_header: "x-mcp-subject".into(),
            client_id_header: "x-mcp-client-id".into(),
            scopes_header: "x-mcp-scopes".into(),
            key_thumbprint_header: "x-mcp-key-thumbprint".into(),
            assertion: false,
            assertion_header: "x-mcp-identity".into(),
            assertion_key_file: None,
            assertion_alg: "ES256".into(),
            assertion_kid: None,
            assertion_ttl_s: 60,
            assertion_key: KeyFile::default(),
            table: "identity",
        }
    }
}

/// The identity header names in force; `None` where a header is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityHeaderNames {
    /// For the token's `sub`.
    pub subject: Option<HeaderName>,
    /// For the OAuth client id.
    pub client_id: Option<HeaderName>,
    /// For the granted scopes.
    pub scopes: Option<HeaderName>,
    /// For the DPoP key thumbprint.
    pub key_thumbprint: Option<HeaderName>,
}

impl IdentityConfig {
    /// The defaults, read from (and named as) the table `table`.
    pub(super) fn in_table(table: &'static str) -> Self {
        IdentityConfig {
            table,
            ..IdentityConfig::default()
        }
    }

    /// The dotted name of `field` in this table (`guard.identity.subject_header`).
    pub fn field(&self, field: &str) -> String {
        path(self.table, field)
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        if let Some(file) = &self.assertion_key_file {
            self.assertion_key = KeyFile::load(&self.field("assertion_key_file"), file)?;
        }
        Ok(())
    }

    /// The assertion signer: `None` unless `assertion = true`.
    pub fn assertion_signer(&self) -> Result<Option<(HeaderName, SigningKey)>, Vec<ConfigError>> {
        if !self.assertion {
            return Ok(None);
        }
        let mut problems = Problems::default();
        let header = problems
            .take(check::header_name(
                &self.field("assertion_header"),
                &self.assertion_header,
            ))
            .flatten();
        if header.is_none() && problems.errors.is_empty() {
            problems.error(
                self.field("assertion_header"),
                "required with assertion = true",
            );
        }
        problems.positive(&self.field("assertion_ttl_s"), self.assertion_ttl_s);
        let alg = match Algorithm::from_name(&self.assertion_alg) {
            Some(alg) => Some(alg),
            None => {
                problems.error(
                    self.field("assertion_alg"),
                    "not a supported asymmetric algorithm (ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)",
                );
                None
            }
        };
        let key = match (&self.assertion_key_file, alg) {
            (None, _) => {
                problems.error(
                    self.field("assertion_key_file"),
                    "required with assertion = true: a PKCS#8 private key file (PEM or DER)",
                );
                None
            }
            (Some(file), Some(alg)) => problems.take(
                self.assertion_key
                    .signing_key(&self.field("assertion_key_file"), Some(file), alg)
                    .and_then(|key| {
                        let kid = self
                            .assertion_kid
                            .clone()
                            .unwrap_or_else(|| key.public_jwk().thumbprint().as_str().to_owned());
                        key.with_kid(kid).map_err(|error| {
                            ConfigError::new(self.field("assertion_kid"), error.to_string())
                        })
                    }),
            ),
            (Some(_), None) => None,
        };
        match (header, key) {
            (Some(header), Some(key)) if problems.errors.is_empty() => Ok(Some((header, key))),
            _ => Err(problems.errors),
        }
    }

    /// Every identity header name configured, whether or not it is sent: inbound copies of
    /// all of them are removed, so that turning the plain headers off (or replacing them
    /// with the assertion) never lets a client's forged copy through.
    pub fn configured_names(&self) -> Vec<HeaderName> {
        [
            &self.subject_header,
            &self.client_id_header,
            &self.scopes_header,
            &self.key_thumbprint_header,
            &self.assertion_header,
        ]
        .into_iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
    }

    /// The header names, all `None` when `headers = false` or the assertion replaces them.
    pub fn header_names(&self) -> Result<IdentityHeaderNames, Vec<ConfigError>> {
        if !self.headers || self.assertion {
            return Ok(IdentityHeaderNames::default());
        }
        let mut problems = Problems::default();
        let mut name = |field: &str, text: &str| {
            problems
                .take(check::header_name(&self.field(field), text))
                .flatten()
        };
        let names = IdentityHeaderNames {
            subject: name("subject_header", &self.subject_header),
            client_id: name("client_id_header", &self.client_id_header),
            scopes: name("scopes_header", &self.scopes_header),
            key_thumbprint: name("key_thumbprint_header", &self.key_thumbprint_header),
        };
        let all = [
            ("subject_header", &names.subject),
            ("client_id_header", &names.client_id),
            ("scopes_header", &names.scopes),
            ("key_thumbprint_header", &names.key_thumbprint),
        ];
        for (index, (field, header)) in all.iter().enumerate() {
            let Some(header) = header else { continue };
            if let Some((other, _)) = all[..index]
                .iter()
                .find(|(_, earlier)| earlier.as_ref() == Some(header))
            {
                problems.error(
                    self.field(field),
                    format!(
                        "{header} is already used by {}; each header needs its own name",
                        self.field(other)
                    ),
                );
            }
        }
        if problems.errors.is_empty() {
            Ok(names)
        } else {
            Err(problems.errors)
        }
    }
}
