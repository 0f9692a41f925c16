#!/usr/bin/env bash
# The client under test for the MCP conformance suite's `auth/wif-jwt-bearer` scenario
# (tests/conformance.rs runs it). The suite runs `<this script> <server-url>` with the
# scenario's workload tokens in MCP_CONFORMANCE_CONTEXT, a JSON object:
#   {"name": ..., "client_id": ..., "valid_jwt": ..., "wrong_audience_jwt": ..., "expired_jwt": ...}
# This maps it to `mcp-warden call`'s normal inputs: the valid token to a token file (a
# workload's token is a file, as a Kubernetes projected token is), the URL as given.
#
# Environment: MCP_WARDEN_BIN (the mcp-warden binary), NODE (a Node.js to read the JSON with;
# the suite itself runs on one).
set -euo pipefail
url=${!#}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"${NODE:-node}" -e 'process.stdout.write(JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT).valid_jwt)' \
    >"$dir/workload-token"
"${MCP_WARDEN_BIN:?set MCP_WARDEN_BIN to the mcp-warden binary}" call \
    --workload-token-file "$dir/workload-token" --tool test-tool "$url"
