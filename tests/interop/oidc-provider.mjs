// panva's oidc-provider (npm, pinned in package-lock.json) as an authorization server that
// shares no code with mcp-warden, for tests/oidc_provider.rs: mcp-warden's token client
// obtains a DPoP-bound JWT access token from it, and mcp-warden's guard verifies that token.
//
// Input (environment):
//   CLIENT_ID     the one client's id
//   CLIENT_JWKS   its public JWK set (JSON), for private_key_jwt
//   RESOURCE      the MCP server's URL: the one resource indicator that yields a JWT token
//   PORT          optional; 0 (default) lets the system pick one
//
// Output (stdout, one JSON object per line):
//   {"event":"listening","issuer":...,"version":...,"node":...}  once listening on 127.0.0.1
//   {"event":"token",...}  after each request to the token endpoint: the HTTP status, the
//     OAuth error if any (and oidc-provider's own, more precise reason), whether the
//     request had a DPoP proof with a nonce and whether
//     the answer carried a DPoP-Nonce, the form parameter names (never values), and the
//     client assertion's aud and jti (no secret: the assertion is single-use)
// oidc-provider's own notices go to stderr. The process exits when its stdin closes, so a
// test that dies cannot leave it behind.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import Provider from 'oidc-provider';

// oidc-provider prints NOTICE lines with console.info; stdout is for this script's lines.
console.info = console.error;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc-provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const clientId = required('CLIENT_ID');
const clientJwks = JSON.parse(required('CLIENT_JWKS'));
const resource = required('RESOURCE');
const port = Number(process.env.PORT ?? '0');
const scope = 'tools:call tools:list';

function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function decodeSegment(jwt, index) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

// The provider's signing key for access tokens: ES256, made here, never written.
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'op-1', alg: 'ES256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      // The provider's only key is ES256 (the default, RS256, would have no key).
      id_token_signed_response_alg: 'ES256',
      jwks: clientJwks,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope,
      // RFC 9449 §5.2: every token of this client is bound to a key; no Bearer fallback.
      dpop_bound_access_tokens: true,
    },
  ],
  jwks: { keys: [signingJwk] },
  scopes: ['openid', ...scope.split(' ')],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: {
      enabled: true,
      // Stateless server nonces (RFC 9449 §8), required on every proof.
      nonceSecret: crypto.randomBytes(32),
      requireNonce: () => true,
      allowReplay: false,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) {
          throw new Provider.errors.InvalidTarget('unknown resource');
        }
        // RFC 9068: a JWT access token for this resource, signed with the key above.
        return {
          scope,
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
});

// Why a token request was refused, as oidc-provider explains it to itself (for a failing
// test's message: the answer's error_description is deliberately vague).
const details = new WeakMap();
provider.on('grant.error', (ctx, error) => {
  details.set(ctx, error.error_detail ?? error.cause?.message ?? null);
});

// What each token request was and how it was answered, for the test to check.
provider.use(async (ctx, next) => {
  const proof = ctx.get('dpop');
  await next();
  if (ctx.path !== '/token') {
    return;
  }
  const params = ctx.oidc?.body ?? {};
  const present = Object.keys(params);
  const assertion = typeof params.client_assertion === 'string'
    ? decodeSegment(params.client_assertion, 1)
    : null;
  emit({
    event: 'token',
    status: ctx.status,
    error: ctx.body?.error ?? null,
    error_description: ctx.body?.error_description ?? null,
    error_detail: details.get(ctx) ?? null,
    token_type: ctx.body?.token_type ?? null,
    proof_nonce: proof ? typeof decodeSegment(proof, 1)?.nonce === 'string' : null,
    answer_nonce: Boolean(ctx.response.get('dpop-nonce')),
    params: present.sort(),
    client_assertion_aud: assertion?.aud ?? null,
    client_assertion_jti: assertion?.jti ?? null,
  });
});

server.on('request', provider.callback());

const require = createRequire(import.meta.url);
const { version } = JSON.parse(readFileSync(require.resolve('oidc-provider/package.json'), 'utf8'));
emit({ event: 'listening', issuer, version, node: process.version });

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
