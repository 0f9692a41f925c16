//! How a client authenticates to a token or introspection endpoint: client secrets
//! (RFC 6749 §2.3.1), `private_key_jwt` assertions (RFC 7523 §2.2, §3), or a bearer token
//! for the endpoint itself (RFC 7662 §2.1).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use serde_json::Value;
use url::form_urlencoded::byte_serialize;
use zeroize::Zeroizing;

use crate::jose::{JwtMinter, Lifetime, Object, SignError, SigningKey};
use crate::secret::Secret;

use super::JWT_BEARER_CLIENT_ASSERTION;

/// A `private_key_jwt` assertion lives this long: long enough for one request, short
/// enough that a captured one is soon useless (RFC 7523 §3 asks for a limited lifetime).
const ASSERTION_LIFETIME_S: u64 = 60;

/// A client's credentials for an authorization server's endpoint.
///
/// `Debug` never prints a secret or a private key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// RFC 6749 §2.3.1 HTTP Basic (`client_secret_basic`): client id and secret are each
    /// form-urlencoded before base64, as §2.3.1 requires.
    SecretBasic {
        /// The client id at the authorization server.
        client_id: String,
        /// Its client secret.
        secret: Secret,
    },
    /// RFC 6749 §2.3.1 in the request body (`client_secret_post`). The RFC discourages it;
    /// it is here for servers that need it.
    SecretPost {
        /// The client id at the authorization server.
        client_id: String,
        /// Its client secret.
        secret: Secret,
    },
    /// RFC 7523 §2.2 / OIDC `private_key_jwt`: a fresh client assertion per request
    /// (`iss` = `sub` = client id, `aud` = `audience` or else the endpoint URL, random
    /// `jti`, `iat`, `exp` = `iat` + 60 s), signed with `key`.
    PrivateKeyJwt {
        /// The client id at the authorization server.
        client_id: String,
        /// The key registered for the client; its `kid`, if any, goes in the header.
        key: Arc<SigningKey>,
        /// The assertion's `aud` (e.g. the issuer identifier); `None` means the endpoint URL.
        audience: Option<String>,
    },
    /// A bearer token for the endpoint itself (RFC 7662 §2.1 allows it for introspection).
    BearerToken(Secret),
}

/// Credentials that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientAuthError {
    /// An empty client id, or a bearer token that is empty or not a valid header value.
    #[error("client credential {field} is not usable")]
    InvalidCredential {
        /// Which credential.
        field: &'static str,
    },
}

/// [`ClientAuth`] checked once and ready for every request: the `Authorization` header is
/// built (and marked sensitive) at construction, the assertion minter too.
#[derive(Clone, Debug)]
pub struct PreparedClientAuth {
    auth: ClientAuth,
    authorization: Option<HeaderValue>,
    assertions: Option<JwtMinter>,
}

impl PreparedClientAuth {
    /// Checks `auth` and precomputes what each request needs.
    pub fn new(auth: ClientAuth) -> Result<Self, ClientAuthError> {
        let invalid = |field| ClientAuthError::InvalidCredential { field };
        let mut assertions = None;
        let header = match &auth {
            ClientAuth::SecretBasic { client_id, secret } if !client_id.is_empty() => {
                // RFC 6749 §2.3.1: form-urlencode (Appendix B) each part, then base64.
                let encode = |text: &str| byte_serialize(text.as_bytes()).collect::<String>();
                let pair =
                    Zeroizing::new(format!("{}:{}", encode(client_id), encode(secret.expose())));
                Some(Zeroizing::new(format!(
                    "Basic {}",
                    STANDARD.encode(pair.as_bytes())
                )))
            }
            ClientAuth::BearerToken(token) if !token.expose().is_empty() => {
                Some(Zeroizing::new(format!("Bearer {}", token.expose())))
            }
            ClientAuth::BearerToken(_) => return Err(invalid("bearer_token")),
            ClientAuth::SecretPost { client_id, .. } if !client_id.is_empty() => None,
            ClientAuth::PrivateKeyJwt { client_id, key, .. } if !client_id.is_empty() => {
                assertions = Some(JwtMinter::new(Arc::clone(key), "JWT"));
                None
            }
            _ => return Err(invalid("client_id")),
        };
        let authorization = match header {
            // Only a bearer token can hold bytes a header cannot (base64 never does).
            Some(text) => {
                let mut value =
                    HeaderValue::from_str(&text).map_err(|_| invalid("bearer_token"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(PreparedClientAuth {
            auth,
            authorization,
            assertions,
        })
    }

    /// The credentials as configured.
    pub fn auth(&self) -> &ClientAuth {
        &self.auth
    }

    /// The `Authorization` header to send, for Basic and Bearer authentication.
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    /// The form fields to add to a request to `endpoint` at `now`: `client_id` and
    /// `client_secret` for `client_secret_post`, a fresh `client_assertion` for
    /// `private_key_jwt`, nothing otherwise.
    pub fn form_fields(
        &self,
        endpoint: &str,
        now: u64,
    ) -> Result<Vec<(&'static str, Cow<'_, str>)>, SignError> {
        match (&self.auth, &self.assertions) {
            (ClientAuth::SecretPost { client_id, secret }, _) => Ok(vec![
                ("client_id", Cow::Borrowed(client_id.as_str())),
                ("client_secret", Cow::Borrowed(secret.expose())),
            ]),
            (
                ClientAuth::PrivateKeyJwt {
                    client_id,
                    audience,
                    ..
                },
                Some(minter),
            ) => {
                // RFC 7521 §4.2: the assertion identifies the client; `client_id` is
                // unnecessary and left out.
                let audience = audience.as_deref().unwrap_or(endpoint);
                let assertion = client_assertion(minter, client_id, audience, now)?;
                Ok(vec![
                    (
                        "client_assertion_type",
                        Cow::Borrowed(JWT_BEARER_CLIENT_ASSERTION),
                    ),
                    ("client_assertion", Cow::Owned(assertion)),
                ])
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// RFC 7523 §3 claims for one request: `iss` = `sub` = client id, `aud`, unique `jti`,
/// a 60-second lifetime.
fn client_assertion(
    minter: &JwtMinter,
    client_id: &str,
    audience: &str,
    now: u64,
) -> Result<String, SignError> {
    let mut claims = Object::new();
    claims.insert("iss".into(), Value::from(client_id));
    claims.insert("sub".into(), Value::from(client_id));
    claims.insert("aud".into(), Value::from(audience));
    minter.mint(claims, Lifetime::expiring(now, ASSERTION_LIFETIME_S))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Algorithm, AlgorithmSet, UnverifiedJws};

    #[test]
    fn basic_credentials_are_form_encoded_then_base64() {
        let prepared = PreparedClientAuth::new(ClientAuth::SecretBasic {
            client_id: "a b".into(),
            secret: Secret::new("p:w"),
        })
        .expect("usable");
        let header = prepared.authorization().expect("a header");
        assert!(header.is_sensitive());
        // "a+b:p%3Aw" in base64.
        assert_eq!(header, "Basic YStiOnAlM0F3");
        assert!(
            prepared
                .form_fields("https://as/token", 0)
                .expect("fields")
                .is_empty()
        );
    }

    #[test]
    fn unusable_credentials_are_refused() {
        let refused = |auth| PreparedClientAuth::new(auth).unwrap_err();
        assert_eq!(
            refused(ClientAuth::SecretPost {
                client_id: String::new(),
                secret: Secret::new("s"),
            }),
            ClientAuthError::InvalidCredential { field: "client_id" }
        );
        assert_eq!(
            refused(ClientAuth::BearerToken(Secret::new("a\nb"))),
            ClientAuthError::InvalidCredential {
                field: "bearer_token"
            }
        );
    }

    #[test]
    fn private_key_jwt_mints_a_fresh_assertion_for_the_endpoint() -> Result<(), SignError> {
        let key = Arc::new(SigningKey::generate(Algorithm::ES256)?.with_kid("c1")?);
        let prepared = PreparedClientAuth::new(ClientAuth::PrivateKeyJwt {
            client_id: "rs".into(),
            key,
            audience: None,
        })
        .expect("usable");
        assert!(prepared.authorization().is_none());
        let fields = prepared.form_fields("https://as/introspect", 100)?;
        assert_eq!(fields[0].1, JWT_BEARER_CLIENT_ASSERTION);
        let jws = UnverifiedJws::parse(&fields[1].1, 8192, AlgorithmSet::ALL).expect("a JWS");
        assert_eq!(jws.header()["kid"], "c1");
        let claims = jws.payload();
        assert_eq!(claims["iss"], "rs");
        assert_eq!(claims["sub"], "rs");
        assert_eq!(claims["aud"], "https://as/introspect");
        assert_eq!(claims["exp"], 160);
        let again = prepared.form_fields("https://as/introspect", 100)?;
        assert_ne!(fields[1].1, again[1].1, "a new jti every time");
        Ok(())
    }
}
