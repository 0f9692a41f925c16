//! `htu` and request URIs: normalization (RFC 3986 §6.2.2–3) is refused or succeeds, and is
//! idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_warden::dpop::NormalizedUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = NormalizedUri::parse(text) {
        let again = NormalizedUri::parse(uri.as_str()).expect("a normalized URI parses");
        assert_eq!(again.as_str(), uri.as_str());
    }
});
