//! RFC 9449's own example values, each labelled with its figure: the proofs verify under
//! the RFC's example key (so the vectors built from them carry genuine signatures), the
//! thumbprint and `ath` values match, and each token-endpoint proof is refused at a
//! resource for the documented reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::sync::Arc;

use mcp_warden::dpop::{
    NormalizedUri, ProofContext, ProofError, ProofValidator, access_token_hash,
};
use mcp_warden::jose::{Algorithm, AlgorithmSet, PublicJwk, UnverifiedJws};
use mcp_warden::testing::FixedNonce;
use mcp_warden::token::PresentedToken;

const KEY: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const HEADER: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19";
const FIG13_REST: &str = "eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
const FIG2_REST: &str = "eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
const FIG7_REST: &str = "eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA";

fn proof(rest: &str) -> String {
    format!("{HEADER}.{rest}")
}

fn es256() -> AlgorithmSet {
    AlgorithmSet::EMPTY.with(Algorithm::ES256)
}

#[test]
fn section_6_1_thumbprint_and_section_4_2_ath() {
    let key = PublicJwk::from_json(KEY.as_bytes()).unwrap();
    assert_eq!(key.thumbprint().as_str(), JKT);
    assert_eq!(
        access_token_hash(TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn figures_2_7_13_are_signed_by_the_example_key() {
    let key = PublicJwk::from_json(KEY.as_bytes()).unwrap();
    for (figure, rest) in [("2", FIG2_REST), ("7", FIG7_REST), ("13", FIG13_REST)] {
        let compact = proof(rest);
        let jws = UnverifiedJws::parse(&compact, 8192, es256()).unwrap();
        assert!(jws.verify(&key).is_ok(), "Figure {figure}");
        // One changed signature byte and it no longer verifies.
        let mut tampered = compact.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let jws = UnverifiedJws::parse(&tampered, 8192, es256()).unwrap();
        assert!(jws.verify(&key).is_err(), "Figure {figure} tampered");
    }
}

async fn check(
    proof_text: &str,
    method: &str,
    uri: &str,
    now: u64,
    validator: &ProofValidator,
) -> Result<(), ProofError> {
    let uri = NormalizedUri::parse(uri).unwrap();
    let context = ProofContext {
        method,
        uri: &uri,
        access_token: Some(PresentedToken::new(TOKEN)),
        bound_jkt: Some(JKT),
    };
    validator
        .validate(proof_text, &context, now)
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "current_thread")]
async fn figure_13_is_accepted_once_at_its_resource() {
    let validator = ProofValidator::builder().algorithms(es256()).build();
    let uri = "https://resource.example.org/protectedresource";
    assert_eq!(
        check(&proof(FIG13_REST), "GET", uri, 1_562_262_618, &validator).await,
        Ok(())
    );
    // Section 11.1: the same proof again is a replay.
    assert_eq!(
        check(&proof(FIG13_REST), "GET", uri, 1_562_262_618, &validator).await,
        Err(ProofError::Replayed)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn figures_2_and_7_are_refused_at_a_resource_for_want_of_ath() {
    let validator = ProofValidator::builder().algorithms(es256()).build();
    let token_endpoint = "https://server.example.com/token";
    // Section 4.3 step 12 / 7.1: with an access token, ath is required.
    for (rest, now) in [(FIG2_REST, 1_562_262_616), (FIG7_REST, 1_562_265_296)] {
        assert_eq!(
            check(&proof(rest), "POST", token_endpoint, now, &validator).await,
            Err(ProofError::AthMissing)
        );
    }
    // And at the resource's URI the method fails first (step 8).
    let resource = "https://resource.example.org/protectedresource";
    assert!(matches!(
        check(
            &proof(FIG2_REST),
            "GET",
            resource,
            1_562_262_616,
            &validator
        )
        .await,
        Err(ProofError::HtmMismatch { .. })
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn figure_13_without_a_nonce_where_one_is_required() {
    let validator = ProofValidator::builder()
        .algorithms(es256())
        .nonces(Arc::new(FixedNonce::new("eyJ7S_zG.eyJH0-Z.HX4w-7v")))
        .build();
    let uri = "https://resource.example.org/protectedresource";
    assert_eq!(
        check(&proof(FIG13_REST), "GET", uri, 1_562_262_618, &validator).await,
        Err(ProofError::NonceMissing)
    );
}
