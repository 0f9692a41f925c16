//! A compact JWS from the wire: any input is refused or parsed, never a panic, and a parsed
//! one exposes a header with a known `alg`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_warden::jose::{AlgorithmSet, UnverifiedJws};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = UnverifiedJws::parse(text, 16 * 1024, AlgorithmSet::ALL) {
        assert!(jws.header().contains_key("alg"));
    }
});
