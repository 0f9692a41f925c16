//! A JWK (a proof's `jwk` header, a JWKS entry) and a JWK Set: refused or parsed, and a
//! parsed key always has an RFC 7638 thumbprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_warden::jose::{JwkSet, PublicJwk};

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = PublicJwk::from_json(data) {
        assert_eq!(jwk.thumbprint().as_str().len(), 43);
    }
    let _ = JwkSet::from_json(data);
});
