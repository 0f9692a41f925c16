#!/usr/bin/env bash
# Checks the manifests in this folder without a cluster:
#   1. every *.yaml parses;
#   2. the warden.toml embedded in configmap.yaml is exactly warden.toml;
#   3. every file kustomization.yaml lists exists, and every *_file path warden.toml names
#      under the mounted folders is provided by the Deployment's volumes;
#   4. `mcp-warden check-config warden.toml` passes, with the three secret files replaced
#      by dummy ones in a temporary folder through MCP_WARDEN_*_FILE overrides (the
#      file itself is checked unchanged).
# Needs python3 with PyYAML (`pip install pyyaml`). Uses $MCP_WARDEN if set, otherwise
# `cargo run -q --` from the repository root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

python3 - "$here" <<'EOF'
import os, sys, tomllib, yaml

here = sys.argv[1]
docs = {}
for name in sorted(os.listdir(here)):
    if name.endswith(".yaml"):
        with open(os.path.join(here, name)) as f:
            docs[name] = [d for d in yaml.safe_load_all(f) if d]
        print(f"yaml ok: {name}")

toml_text = open(os.path.join(here, "warden.toml")).read()
embedded = docs["configmap.yaml"][0]["data"]["warden.toml"]
if embedded != toml_text:
    sys.exit("configmap.yaml: data.warden.toml differs from warden.toml")
print("configmap.yaml embeds warden.toml exactly")

for resource in docs["kustomization.yaml"][0]["resources"]:
    if not os.path.exists(os.path.join(here, resource)):
        sys.exit(f"kustomization.yaml: {resource} does not exist")
print("kustomization.yaml: every resource exists")

# Which files the warden container sees, from its mounts and the volumes' items.
deployment = docs["sidecar-deployment.yaml"][0]
pod = deployment["spec"]["template"]["spec"]
warden = next(c for c in pod["containers"] if c["name"] == "mcp-warden")
volumes = {v["name"]: v for v in pod["volumes"]}
provided = set()
for mount in warden["volumeMounts"]:
    volume = volumes[mount["name"]]
    source = volume.get("secret") or volume.get("configMap") or {}
    for item in source.get("items", []):
        provided.add(os.path.join(mount["mountPath"], item["path"]))

def file_options(table, path=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from file_options(value, f"{path}{key}.")
        elif key.endswith("_file") and isinstance(value, str):
            yield f"{path}{key}", value

config = tomllib.loads(toml_text)
missing = [(k, v) for k, v in file_options(config) if v not in provided]
if missing:
    sys.exit(f"warden.toml names files the Deployment does not mount: {missing}")
if "/etc/mcp-warden/warden.toml" not in provided:
    sys.exit("the Deployment does not mount /etc/mcp-warden/warden.toml")
print("sidecar-deployment.yaml mounts every file warden.toml names")
EOF

secrets="$(mktemp -d)"
trap 'rm -rf "$secrets"' EXIT
openssl rand -base64 32 > "$secrets/nonce-key"
printf 'dummy-client-secret\n' > "$secrets/introspection-client-secret"
printf 'redis://:dummy@mcp-warden-redis:6379/0\n' > "$secrets/redis-url"

export MCP_WARDEN_NONCE__KEY_FILE="$secrets/nonce-key"
export MCP_WARDEN_GUARD__INTROSPECTION__CLIENT_SECRET_FILE="$secrets/introspection-client-secret"
export MCP_WARDEN_REPLAY__REDIS_URL_FILE="$secrets/redis-url"
if [ -n "${MCP_WARDEN:-}" ]; then
  "$MCP_WARDEN" check-config "$here/warden.toml"
else
  (cd "$root" && cargo run -q -- check-config "$here/warden.toml")
fi
