//! The MCP JSON-RPC body the guard reads for per-operation scopes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mcp_warden::guard::operations(data);
});
