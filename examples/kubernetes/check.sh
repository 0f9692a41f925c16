#!/usr/bin/env bash
# Checks the manifests in this folder without a cluster:
#   1. every *.yaml parses;
#   2. each ConfigMap embeds its TOML exactly (configmap.yaml: warden.toml,
#      issuer-configmap.yaml: issuer.toml, agent-configmap.yaml: agent.toml), and every
#      *.toml here is embedded in one;
#   3. kustomization.yaml: every resource it lists exists, every manifest here is listed
#      (the optional ones in a comment), and its namespace is the one namespace.yaml creates;
#   4. every mcp-warden container (guard, issuer, agent) runs the role its TOML has a
#      section for, reads that TOML from the ConfigMap embedding it, and every *_file path
#      (and signing key `file`) the TOML names is provided by the Deployment's volumes
#      (ConfigMap and Secret items, projected sources); every Secret key mounted is in
#      secret.example.yaml; Services and PodDisruptionBudgets select a Deployment's pods;
#   5. every pod runs non-root with RuntimeDefault seccomp, every container without
#      privilege escalation, capabilities or a writable root filesystem and with
#      resources; every mcp-warden container is probed on its admin port (the TOML's);
#   6. the three sides agree: the agent's projected token audience is issuer.issuer, and
#      its lifetime within what the issuer accepts; the agent's route URL is the guard's
#      guard.resource, the issuer's resource URI too, and the route's issuer is
#      issuer.issuer, which the guard trusts; the issuer's rule names the agent's service
#      account in kustomization.yaml's namespace and grants the scopes the guard requires
#      for tools/call; the RBAC binding names the issuer's service account there;
#   7. `kubectl kustomize` renders the folder, if kubectl is on PATH;
#   8. `mcp-warden check-config` passes for warden.toml, issuer.toml and agent.toml, each
#      with its secret files replaced by dummy ones in a temporary folder through
#      MCP_WARDEN_* overrides (a list of tables holding a file, such as
#      [[issuer.signing_keys]], is overridden whole: the file's own entries with only the
#      paths changed). The files themselves are checked unchanged.
# Needs python3 with PyYAML (`pip install pyyaml`) and openssl. Uses $MCP_WARDEN if set,
# otherwise `cargo run -q --` from the repository root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Dummy secret files, named after the files the manifests mount (the TOMLs' paths are
# mapped to these by their last component).
secrets="$(mktemp -d)"
trap 'rm -rf "$secrets"' EXIT
openssl rand -base64 32 > "$secrets/nonce-key"
printf 'dummy-client-secret\n' > "$secrets/introspection-client-secret"
printf 'redis://:dummy@mcp-warden-redis:6379/0\n' > "$secrets/redis-url"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -out "$secrets/signing-key" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$secrets/ca.key" -subj /CN=dummy-cluster-ca -days 1 -out "$secrets/ca.crt" 2>/dev/null
printf 'dummy.service-account.token\n' > "$secrets/token"
printf 'dummy.projected.token\n' > "$secrets/mcp-token"

python3 - "$here" "$secrets" <<'EOF'
import copy, json, os, re, shlex, sys, tomllib, yaml

here, secrets = sys.argv[1], sys.argv[2]

def fail(message):
    sys.exit(f"check.sh: {message}")

# 1. Every manifest parses.
docs = {}
for name in sorted(os.listdir(here)):
    if name.endswith(".yaml"):
        with open(os.path.join(here, name)) as f:
            docs[name] = [d for d in yaml.safe_load_all(f) if d]
        print(f"yaml ok: {name}")

def objects(kind):
    for name, file_docs in docs.items():
        for doc in file_docs:
            if doc.get("kind") == kind:
                yield name, doc

# 2. Each ConfigMap embeds its TOML exactly; every TOML is embedded.
tomls = sorted(n for n in os.listdir(here) if n.endswith(".toml"))
texts = {n: open(os.path.join(here, n)).read() for n in tomls}
configs = {n: tomllib.loads(t) for n, t in texts.items()}
configmaps = {}   # ConfigMap name -> its data
embedded = set()
for file, cm in objects("ConfigMap"):
    data = cm.get("data", {})
    configmaps[cm["metadata"]["name"]] = data
    for key, value in data.items():
        if key.endswith(".toml"):
            if key not in texts:
                fail(f"{file}: embeds {key}, which is not a file here")
            if value != texts[key]:
                fail(f"{file}: data.{key} differs from {key}")
            embedded.add(key)
            print(f"{file} embeds {key} exactly")
for name in tomls:
    if name not in embedded:
        fail(f"{name} is embedded in no ConfigMap")

# 3. kustomization.yaml.
kustomization = docs["kustomization.yaml"][0]
listed = kustomization["resources"]
for resource in listed:
    if not os.path.exists(os.path.join(here, resource)):
        fail(f"kustomization.yaml: {resource} does not exist")
optional = re.findall(r"^\s*#\s*-\s*(\S+\.yaml)", open(os.path.join(here, "kustomization.yaml")).read(), re.M)
not_resources = {"kustomization.yaml", "secret.example.yaml"}
for name in docs:
    if name not in not_resources and name not in listed and name not in optional:
        fail(f"kustomization.yaml lists neither {name} nor says it is optional")
namespace = kustomization.get("namespace")
if not namespace:
    fail("kustomization.yaml: no namespace (the issuer's rule and RBAC binding name one)")
namespaces = [d["metadata"]["name"] for _, d in objects("Namespace")]
if namespaces and namespaces != [namespace]:
    fail(f"kustomization.yaml: namespace {namespace}, but namespace.yaml creates {namespaces}")
print(f"kustomization.yaml: every resource exists, every manifest is listed, namespace {namespace}")

# 4. What each mcp-warden container reads, and what its volumes provide.
secret_keys = {d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {}))
               for _, d in objects("Secret")}
# Published by Kubernetes in every namespace.
external_configmaps = {"kube-root-ca.crt": {"ca.crt"}}

def provided(pod, container, where):
    """Path in the container -> what provides it."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    out = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        sources = []
        if "configMap" in volume:
            sources.append(("configMap", volume["configMap"]))
        if "secret" in volume:
            sources.append(("secret", dict(volume["secret"], name=volume["secret"]["secretName"])))
        for source in volume.get("projected", {}).get("sources", []):
            (kind, spec), = source.items()
            sources.append((kind, spec))
        for kind, spec in sources:
            if kind == "serviceAccountToken":
                out[os.path.join(mount["mountPath"], spec["path"])] = (kind, spec)
                continue
            name = spec["name"]
            if kind == "configMap":
                keys = configmaps.get(name) or external_configmaps.get(name)
            else:
                keys = secret_keys.get(name)
            if keys is None:
                fail(f"{where}: {kind} {name} is defined nowhere here (secret.example.yaml for Secrets)")
            for item in spec.get("items") or [{"key": k, "path": k} for k in keys]:
                if item["key"] not in keys:
                    fail(f"{where}: {kind} {name} has no key {item['key']}")
                out[os.path.join(mount["mountPath"], item["path"])] = (kind, name, item["key"])
    return out

def file_options(node, keys=()):
    """(dotted path as a tuple, value) of every *_file option and signing key file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key.endswith("_file") or key == "file"):
                yield keys + (key,), value
            else:
                yield from file_options(value, keys + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from file_options(value, keys + (index,))

deployments = {}   # Deployment name -> (file, doc)
runs = {}          # TOML name -> (Deployment name, pod, container, provided)
for file, deployment in objects("Deployment"):
    name = deployment["metadata"]["name"]
    deployments[name] = (file, deployment)
    pod = deployment["spec"]["template"]["spec"]
    for container in pod.get("initContainers", []) + pod["containers"]:
        args = container.get("args", [])
        if "--config" not in args:
            continue
        where = f"{file}: container {container['name']}"
        role, config_path = args[0], args[args.index("--config") + 1]
        toml_name = os.path.basename(config_path)
        if toml_name not in configs:
            fail(f"{where}: --config {config_path}, but there is no {toml_name} here")
        if role not in configs[toml_name]:
            fail(f"{where}: runs `{role}`, but {toml_name} has no [{role}] section")
        files = provided(pod, container, where)
        source = files.get(config_path)
        if not source or source[0] != "configMap" or configmaps.get(source[1], {}).get(source[2]) != texts[toml_name]:
            fail(f"{where}: {config_path} is not mounted from the ConfigMap embedding {toml_name}")
        missing = [(".".join(map(str, k)), v) for k, v in file_options(configs[toml_name]) if v not in files]
        if missing:
            fail(f"{toml_name} names files {where} does not mount: {missing}")
        runs[toml_name] = (name, pod, container, files)
        print(f"{file}: `{role}` reads {toml_name} from its ConfigMap and mounts every file it names")
for toml_name in tomls:
    if toml_name not in runs:
        fail(f"no Deployment runs mcp-warden with {toml_name}")

def selects(selector, kind, where):
    for name, (_, deployment) in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            return name, deployment
    fail(f"{where}: {kind} selects no Deployment's pods")

for file, service in objects("Service"):
    name, deployment = selects(service["spec"]["selector"], "Service", file)
    pod = deployment["spec"]["template"]["spec"]
    ports = {p.get("name") for c in pod.get("initContainers", []) + pod["containers"] for p in c.get("ports", [])}
    for port in service["spec"]["ports"]:
        if isinstance(port["targetPort"], str) and port["targetPort"] not in ports:
            fail(f"{file}: targetPort {port['targetPort']} is no port of {name}'s pods")
for file, pdb in objects("PodDisruptionBudget"):
    selects(pdb["spec"]["selector"]["matchLabels"], "PodDisruptionBudget", file)
print("Services and PodDisruptionBudgets select Deployments' pods, on ports they declare")

# 5. Hardening and probes.
for name, (file, deployment) in deployments.items():
    pod = deployment["spec"]["template"]["spec"]
    context = pod.get("securityContext", {})
    if context.get("runAsNonRoot") is not True or context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(f"{file}: pod is not runAsNonRoot with RuntimeDefault seccomp")
    for container in pod.get("initContainers", []) + pod["containers"]:
        where = f"{file}: container {container['name']}"
        security = container.get("securityContext", {})
        if (security.get("allowPrivilegeEscalation") is not False
                or security.get("readOnlyRootFilesystem") is not True
                or "ALL" not in security.get("capabilities", {}).get("drop", [])):
            fail(f"{where}: needs allowPrivilegeEscalation false, readOnlyRootFilesystem true, drop ALL")
        resources = container.get("resources", {})
        if "requests" not in resources or "memory" not in resources.get("limits", {}):
            fail(f"{where}: needs resource requests and a memory limit")
for toml_name, (name, pod, container, _) in runs.items():
    where = f"{deployments[name][0]}: container {container['name']}"
    admin_port = int(configs[toml_name].get("admin", {}).get("address", "0.0.0.0:9090").rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if ports.get("admin") != admin_port:
        fail(f"{where}: port `admin` is not {toml_name}'s admin.address port {admin_port}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") != "admin":
            fail(f"{where}: {probe} is not GET {path} on port admin")
print("every pod non-root with seccomp, every container hardened with resources, mcp-warden probed on admin")

# 6. The guard, the issuer and the agent agree.
def with_section(section):
    names = [n for n, c in configs.items() if section in c]
    if len(names) != 1:
        fail(f"expected one TOML with [{section}], found {names}")
    return names[0], configs[names[0]]

guard_toml, guard = with_section("guard")
issuer_toml, issuer = with_section("issuer")
agent_toml, agent = with_section("agent")
resource, identifier = guard["guard"]["resource"], issuer["issuer"]["issuer"]

agent_deployment, agent_pod, _, agent_files = runs[agent_toml]
token_file = agent["agent"].get("workload", {}).get("token_file")
token = agent_files.get(token_file)
if not token or token[0] != "serviceAccountToken":
    fail(f"{agent_toml}: agent.workload.token_file {token_file} is not a projected service-account token")
if token[1].get("audience") != identifier:
    fail(f"agent-deployment: the projected token's audience {token[1].get('audience')!r} is not issuer.issuer {identifier!r}")
print(f"the agent's projected token audience is issuer.issuer ({identifier})")

routes = agent["agent"]["routes"]
if [r["url"] for r in routes] != [resource]:
    fail(f"{agent_toml}: the route URLs {[r['url'] for r in routes]} are not the guard's resource {resource}")
if any(r.get("issuer", identifier) != identifier for r in routes):
    fail(f"{agent_toml}: a route names an authorization server other than {identifier}")
if identifier not in [i["issuer"] for i in guard["guard"].get("issuers", [])]:
    fail(f"{guard_toml}: the guard does not trust the issuer {identifier}")
resources = {r["name"]: r for r in issuer["issuer"]["resources"]}
if resource not in [r["uri"] for r in resources.values()]:
    fail(f"{issuer_toml}: no [[issuer.resources]] has uri {resource}")
print(f"the agent's route is the guard's resource ({resource}), which the issuer knows; the guard trusts the issuer")

account = agent_pod.get("serviceAccountName")
rules = [r for r in issuer["issuer"]["rules"]
         if r.get("claims", {}).get("kubernetes.io.serviceaccount.name") == account]
if not rules:
    fail(f"{issuer_toml}: no rule names the agent's service account {account!r}")
rule = rules[0]
if rule["claims"].get("kubernetes.io.namespace") != namespace:
    fail(f"{issuer_toml}: rule {rule['name']} pins namespace {rule['claims'].get('kubernetes.io.namespace')!r}, not {namespace!r}")
trusted = next(t for t in issuer["issuer"]["trusted"] if t["name"] == rule["issuer"])
if token[1].get("expirationSeconds", 3600) > trusted.get("max_lifetime_s", 3600):
    fail(f"agent-deployment: the projected token lives longer than {trusted['name']}'s max_lifetime_s")
granted = set()
for grant in rule["grants"]:
    if resources[grant["resource"]]["uri"] == resource:
        granted |= set(grant["scopes"])
scopes = guard["guard"].get("scopes", {})
needed = set(scopes.get("always", [])) | set(scopes.get("methods", {}).get("tools/call", []))
if not needed <= granted:
    fail(f"{issuer_toml}: rule {rule['name']} lacks {sorted(needed - granted)}, which the guard requires for tools/call")
for route in routes:
    if not set(route.get("scopes", [])) <= granted:
        fail(f"{agent_toml}: route {route['name']} asks for scopes the rule does not grant")
known = set(scopes.get("always", [])) | {s for v in scopes.get("methods", {}).values() for s in v} | {s for v in scopes.get("tools", {}).values() for s in v}
for r in resources.values():
    if r["uri"] == resource and not known <= set(r["scopes"]):
        fail(f"{issuer_toml}: resource {r['name']} lacks scopes the guard can ask for: {sorted(known - set(r['scopes']))}")
print(f"the issuer's rule {rule['name']!r} grants {namespace}/{account} {sorted(granted)}, what the guard requires for tools/call")

issuer_deployment, issuer_pod, _, issuer_files = runs[issuer_toml]
if any("jwks_bearer_token_file" in t for t in issuer["issuer"]["trusted"]):
    issuer_account = issuer_pod.get("serviceAccountName")
    subjects = [s for _, b in objects("ClusterRoleBinding")
                if b["roleRef"]["name"] == "system:service-account-issuer-discovery"
                for s in b.get("subjects", [])]
    if {"kind": "ServiceAccount", "name": issuer_account, "namespace": namespace} not in subjects:
        fail(f"no ClusterRoleBinding of system:service-account-issuer-discovery names {namespace}/{issuer_account}")
    for t in issuer["issuer"]["trusted"]:
        source = issuer_files.get(t.get("jwks_bearer_token_file"))
        if source and source[0] == "serviceAccountToken" and source[1].get("audience"):
            fail(f"{issuer_toml}: {t['name']}'s jwks_bearer_token_file has an audience: the API server refuses it")
    print(f"the issuer's service account {namespace}/{issuer_account} may read the API server's JWKS")

# 8. Environment overrides pointing every file at a dummy one, per TOML.
def dummy(path):
    file = os.path.join(secrets, os.path.basename(path))
    if not os.path.exists(file):
        fail(f"check.sh makes no dummy for {path}: add one named {os.path.basename(path)}")
    return file

def inline(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    return "{" + ", ".join(
        f"{k if re.fullmatch(r'[A-Za-z0-9_-]+', k) else json.dumps(k)} = {inline(v)}"
        for k, v in value.items()) + "}"

def variable(keys):
    return "MCP_WARDEN_" + "__".join(str(k).upper() for k in keys)

for toml_name, config in configs.items():
    replaced = copy.deepcopy(config)
    overrides = {}
    for keys, path in file_options(config):
        node = replaced
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = dummy(path)
        lists = [i for i, key in enumerate(keys) if isinstance(key, int)]
        top = keys[:lists[0]] if lists else keys
        overrides[variable(top)] = top
    with open(os.path.join(secrets, toml_name + ".env"), "w") as f:
        for name, top in overrides.items():
            node = replaced
            for key in top:
                node = node[key]
            f.write(f"export {name}={shlex.quote(node if isinstance(node, str) else inline(node))}\n")
EOF

if command -v kubectl >/dev/null; then
  kubectl kustomize "$here" >/dev/null
  echo "kubectl kustomize renders the folder"
else
  echo "kubectl not on PATH: kustomize rendering not checked"
fi

for toml in warden.toml issuer.toml agent.toml; do
  (
    set -a
    . "$secrets/$toml.env"
    set +a
    if [ -n "${MCP_WARDEN:-}" ]; then
      "$MCP_WARDEN" check-config "$here/$toml"
    else
      cd "$root" && cargo run -q -- check-config "$here/$toml"
    fi
  )
done
