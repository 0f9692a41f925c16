//! The strict JSON reader (no duplicate members, bounded depth) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mcp_warden::jose::parse_object(data);
});
