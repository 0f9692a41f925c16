//! Temporary: prints fresh keys (replaced by the generator).
#![allow(clippy::unwrap_used, missing_docs)]
use mcp_warden::jose::{Algorithm, SigningKey, base64url_encode, base64url_decode};
fn main() {
    let print = |name: &str, k: &SigningKey| println!("{name} {}", base64url_encode(&k.to_pkcs8().unwrap()));
    print("AS_ES256", &SigningKey::generate(Algorithm::ES256).unwrap());
    print("AS_RSA", &SigningKey::generate(Algorithm::RS256).unwrap());
    print("CLIENT_ES256", &SigningKey::generate(Algorithm::ES256).unwrap());
    print("CLIENT_ES384", &SigningKey::generate(Algorithm::ES384).unwrap());
    print("CLIENT_ES512", &SigningKey::generate(Algorithm::ES512).unwrap());
    print("CLIENT_ED25519", &SigningKey::generate(Algorithm::EdDSA).unwrap());
    print("CLIENT_RSA", &SigningKey::generate(Algorithm::PS256).unwrap());
    print("ATTACKER_ES256", &SigningKey::generate(Algorithm::ES256).unwrap());
    loop {
        let k = SigningKey::generate(Algorithm::ES256).unwrap();
        let x = k.public_jwk().public_members()["x"].as_str().unwrap().to_owned();
        if base64url_decode(&x).unwrap()[0] == 0 { print("ZERO_X_ES256", &k); break; }
    }
}
