// An independent OAuth client against mcp-warden's issuer: panva's oauth4webapi, run by
// tests/issuer_oauth4webapi.rs on loopback. It discovers the issuer (RFC 8414), makes a
// DPoP key pair of its own, obtains a DPoP-bound access token with the jwt-bearer grant
// (RFC 7523 §2.1) and with token exchange (RFC 8693), retrying once on use_dpop_nonce
// (RFC 9449 §8), then uses the token at the guarded MCP server and has oauth4webapi's own
// resource-server check (RFC 9068 + RFC 9449 §7) validate it against the issuer's JWKS.
//
// Input, from the environment:
//   WARDEN_ISSUER   the issuer identifier (its metadata is found from it)
//   WORKLOAD_TOKEN  the workload's platform token (the assertion / subject token)
//   RESOURCE        the MCP resource the token is for (RFC 8707)
//   MCP_URL         the guarded MCP endpoint to call with the token
//   CLIENT_ID       the client_id oauth4webapi sends (it requires one)
// Output: one JSON document on stdout. Any failure: a message on stderr and exit 1.

import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const issuer = new URL(need('WARDEN_ISSUER'));
const workloadToken = need('WORKLOAD_TOKEN');
const resource = need('RESOURCE');
const mcpUrl = new URL(need('MCP_URL'));
const client = { client_id: need('CLIENT_ID') };

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const decodePart = (jwt, index) => JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));

// The issuer's metadata, once discovered.
let as;

// What oauth4webapi put on the wire, request by request, for the test to check and report.
const sent = [];
const recordingFetch = async (url, init) => {
  const headers = new Headers(init.headers);
  const entry = { method: init.method ?? 'GET', url: String(url), headers: [...headers.keys()].sort() };
  entry.content_type = headers.get('content-type');
  if (init.body instanceof URLSearchParams) {
    entry.form = Object.fromEntries([...init.body.keys()].map((key) => [key, key === 'grant_type' || key === 'client_id' || key.endsWith('_type') || key === 'resource' ? init.body.get(key) : '…']));
  }
  const proof = headers.get('dpop');
  if (proof) {
    const header = decodePart(proof, 0);
    const claims = decodePart(proof, 1);
    entry.dpop = {
      typ: header.typ,
      alg: header.alg,
      jwk: { kty: header.jwk?.kty, crv: header.jwk?.crv },
      claims: Object.keys(claims).sort(),
      htm: claims.htm,
      htu: claims.htu,
      nonce: claims.nonce !== undefined,
    };
  }
  const response = await fetch(url, init);
  entry.status = response.status;
  entry.dpop_nonce_answered = response.headers.has('dpop-nonce');
  if (entry.url === as?.token_endpoint && response.headers.get('content-type')?.startsWith('application/json')) {
    // The answer as sent, before oauth4webapi normalises it (it lowercases token_type).
    const { token_type, issued_token_type, error } = await response.clone().json();
    entry.answer = { token_type, issued_token_type, error };
  }
  sent.push(entry);
  return response;
};
const options = { [oauth.allowInsecureRequests]: true, [oauth.customFetch]: recordingFetch };

// RFC 7638 thumbprint of an EC public key: the required members in lexicographic order.
async function thumbprint(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const canonical = JSON.stringify({ crv, kty, x, y });
  return b64u(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
}

as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }),
);

const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);
const jkt = await thumbprint(keyPair.publicKey);

async function grant(grantType, parameters) {
  let nonceRetries = 0;
  for (;;) {
    const response = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), grantType, parameters, {
      ...options,
      DPoP,
    });
    try {
      const result = await oauth.processGenericTokenEndpointResponse(as, client, response);
      return { result, nonceRetries };
    } catch (error) {
      // The DPoP handle has already taken the nonce from the DPoP-Nonce header.
      if (oauth.isDPoPNonceError(error) && nonceRetries === 0) {
        nonceRetries += 1;
        continue;
      }
      throw error;
    }
  }
}

function summary({ result, nonceRetries }) {
  const header = decodePart(result.access_token, 0);
  const claims = decodePart(result.access_token, 1);
  return {
    token_type: result.token_type,
    issued_token_type: result.issued_token_type ?? null,
    expires_in: result.expires_in ?? null,
    scope: result.scope ?? null,
    access_token: result.access_token,
    typ: header.typ,
    cnf_jkt: claims.cnf?.jkt ?? null,
    nonce_retries: nonceRetries,
  };
}

// Uses `token` at the guarded MCP server with a fresh proof (RFC 9449 §7), and has
// oauth4webapi's resource-server side validate the very request it sent.
async function use(token) {
  let captured;
  const capture = async (url, init) => {
    captured = new Request(url, init);
    return recordingFetch(url, init);
  };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'sum', arguments: { a: 2, b: 3 } },
  });
  const headers = new Headers({
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
    'mcp-protocol-version': '2025-06-18',
  });
  const response = await oauth.protectedResourceRequest(token, 'POST', mcpUrl, headers, body, {
    ...options,
    [oauth.customFetch]: capture,
    DPoP,
  });
  const answer = await response.text();
  const claims = await oauth.validateJwtAccessToken(as, captured, resource, {
    [oauth.allowInsecureRequests]: true,
    requireDPoP: true,
  });
  return { status: response.status, body: answer, validated: { aud: claims.aud, iss: claims.iss, sub: claims.sub, client_id: claims.client_id, cnf_jkt: claims.cnf?.jkt } };
}

try {
  const jwtBearer = summary(await grant(JWT_BEARER, { assertion: workloadToken, resource }));
  const tokenExchange = summary(
    await grant(TOKEN_EXCHANGE, {
      subject_token: workloadToken,
      subject_token_type: JWT_TYPE,
      resource,
    }),
  );
  const resourceServer = await use(jwtBearer.access_token);
  const version = JSON.parse(readFileSync(new URL('./node_modules/oauth4webapi/package.json', import.meta.url))).version;
  process.stdout.write(
    `${JSON.stringify({
      node: process.version,
      oauth4webapi: version,
      metadata: { issuer: as.issuer, token_endpoint: as.token_endpoint, jwks_uri: as.jwks_uri },
      jkt,
      jwt_bearer: jwtBearer,
      token_exchange: tokenExchange,
      resource_server: resourceServer,
      sent,
    })}\n`,
  );
} catch (error) {
  console.error('oauth4webapi failed:', error);
  if (error?.cause) console.error('cause:', JSON.stringify(error.cause));
  console.error('requests so far:', JSON.stringify(sent, null, 2));
  process.exit(1);
}
