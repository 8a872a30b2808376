#!/usr/bin/env node
// A real OpenID provider (npm `oidc-provider`) standing in for Auth0 in
// loopback end-to-end tests.
//
//   node idp.mjs CONFIG_JSON_FILE
//
// Prints exactly one JSON line to stdout once it is listening
// ({"ready": true, "issuer", "port", "jwks", ...endpoints}) and then runs until
// SIGTERM/SIGINT. Everything else goes to stderr. See README.md.

import {
  createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID,
  verify as verifySignature,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const log = (...args) => process.stderr.write(`[idp] ${args.join(' ')}\n`);

function fail(message) {
  log(`fatal: ${message}`);
  process.exit(2);
}

if (process.argv.length !== 3) {
  fail('usage: node idp.mjs CONFIG_JSON_FILE');
}

let config;
try {
  config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (err) {
  fail(`cannot read config: ${err.message}`);
}

const host = config.host ?? '127.0.0.1';
const rolesClaim = config.roles_claim ?? 'https://gatehouse.test/roles';
const accessTokenTtl = config.access_token_ttl ?? 300;
const idTokenTtl = config.id_token_ttl ?? 300;
const refreshTokenTtl = config.refresh_token_ttl ?? 86400;
const debug = Boolean(config.debug || process.env.IDP_DEBUG);

// ---- RFC 8693 token exchange (stand-in for an "Auth0-to-Airflow" service) ----
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const FAIL_MODES = new Set(['500', 'invalid_grant']);

let tokenExchange = null;
if (config.token_exchange != null) {
  const te = config.token_exchange;
  if (typeof te !== 'object' || Array.isArray(te)) fail('token_exchange must be an object');
  if (typeof te.secret !== 'string' || !te.secret) fail('token_exchange.secret must be a non-empty string');
  const ttl = te.ttl ?? 300;
  if (!Number.isInteger(ttl) || ttl <= 0) fail('token_exchange.ttl must be a positive integer');
  const roles = te.roles ?? {};
  if (typeof roles !== 'object' || Array.isArray(roles)
    || !Object.values(roles).every((v) => typeof v === 'string')) {
    fail('token_exchange.roles must map role names to Airflow role strings');
  }
  if (te.default_role != null && typeof te.default_role !== 'string') {
    fail('token_exchange.default_role must be a string or null');
  }
  if (te.issuer != null && typeof te.issuer !== 'string') fail('token_exchange.issuer must be a string');
  tokenExchange = {
    secret: Buffer.from(te.secret, 'utf8'),
    audience: te.audience ?? 'apache-airflow',
    ttl,
    roles,
    defaultRole: te.default_role ?? null,
    issuer: te.issuer ?? null,
  };
}

function parseFailMode(value, what) {
  if (value == null || value === 'none' || value === '') return null;
  const v = String(value);
  if (!FAIL_MODES.has(v)) fail(`${what} must be null, "500" or "invalid_grant"`);
  return v;
}
let exchangeFail = parseFailMode(config.token_exchange_fail, 'token_exchange_fail');

const stats = { token_exchanges: 0, token_exchange_attempts: 0, refreshes: 0, backchannel_logouts: 0 };

// ---- users --------------------------------------------------------------
// Keyed by login name (what is typed into the form); the account id inside
// the provider is the user's `sub` (so id_token_hint checks line up).
const usersByLogin = new Map();
const usersBySub = new Map();
for (const [login, u] of Object.entries(config.users ?? {})) {
  const user = { ...u, login, sub: u.sub ?? login };
  usersByLogin.set(login, user);
  usersBySub.set(user.sub, user);
}

function userClaims(user) {
  const claims = {
    sub: user.sub,
    [rolesClaim]: Array.isArray(user.roles) ? user.roles : [],
  };
  if (user.email !== undefined) {
    claims.email = user.email;
    claims.email_verified = user.email_verified ?? true;
  }
  if (user.name !== undefined) claims.name = user.name;
  return claims;
}

// ---- clients ------------------------------------------------------------
const clients = (config.clients ?? []).map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris ?? [],
  post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
  token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token', ...(tokenExchange ? [TOKEN_EXCHANGE] : [])],
  response_types: ['code'],
  id_token_signed_response_alg: 'RS256',
  // OIDC Back-Channel Logout: where logout tokens are POSTed, and whether they (and ID tokens) carry `sid`.
  ...(c.backchannel_logout_uri ? {
    backchannel_logout_uri: c.backchannel_logout_uri,
    backchannel_logout_session_required: c.backchannel_logout_session_required ?? true,
  } : {}),
}));

// ---- signing key (RS256, generated per run) ------------------------------
const kid = `idp-${randomBytes(6).toString('hex')}`;
// Ask for PEM output and re-import it before exporting a JWK: on Node 20,
// exporting the KeyObject that generateKeyPairSync returned can self-deadlock
// when a GC runs the key-generation job's destructor mid-export (seen here
// as an intermittent hang at start-up).
const { privateKey: privatePem } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const privateJwk = {
  ...createPrivateKey(privatePem).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig',
};
const publicJwk = {
  kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e, kid, alg: 'RS256', use: 'sig',
};

// ---- small HTML helpers (no external resources) ----------------------------
const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[ch]));

const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>`;

function loginPage(uid, params, error) {
  const hint = params.login_hint ? ` value="${esc(params.login_hint)}"` : '';
  return page('Sign-in', `${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form autocomplete="off" action="/interaction/${esc(uid)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login"${hint}/>
  <input required type="password" name="password" placeholder="and password"/>
  <button type="submit" class="login login-submit">Sign-in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">[ Cancel ]</a></p>
<p>client: ${esc(params.client_id)}</p>`);
}

// ---- provider configuration ---------------------------------------------
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port ?? 0, host, resolve);
});
const { port } = server.address();
const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

async function autoGrant(provider, ctx, grant) {
  // Grant everything that was asked for: there is never a consent page.
  const g = grant ?? new provider.Grant({
    accountId: ctx.oidc.account.accountId,
    clientId: ctx.oidc.client.clientId,
  });
  const scopes = [...ctx.oidc.requestParamOIDCScopes];
  if (scopes.length) g.addOIDCScope(scopes.join(' '));
  const claims = [...ctx.oidc.requestParamClaims];
  if (claims.length) g.addOIDCClaims(claims);
  await g.save();
  return g;
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [privateJwk] },
  findAccount(ctx, id) {
    const user = usersBySub.get(id);
    if (!user) return undefined;
    return {
      accountId: user.sub,
      async claims() { return userClaims(user); },
    };
  },
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub', rolesClaim],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  conformIdTokenClaims: false, // scope-granted claims go into the ID token itself
  responseTypes: ['code'],
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  ...(config.rotate_refresh_token === undefined
    ? {}
    : { rotateRefreshToken: () => Boolean(config.rotate_refresh_token) }),
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    return autoGrant(ctx.oidc.provider, ctx, existing);
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  cookies: {
    // Cookies are not port-scoped: keep these names distinct from the RP's.
    names: {
      session: 'idp_session',
      interaction: 'idp_interaction',
      resume: 'idp_interaction_resume',
    },
    keys: [randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false }, // replaced by the minimal form below
    rpInitiatedLogout: {
      enabled: true,
      // Auto-confirm the logout ("Yes, sign me out") with a self-submitting form.
      async logoutSource(ctx, form) {
        const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
        ctx.body = page('Signing out', `${autoForm}
<button type="submit" form="op.logoutForm">Yes, sign me out</button>
<script>document.getElementById('op.logoutForm').submit();</script>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Sign-out Success', '<p>Your sign-out was successful.</p>');
      },
    },
    revocation: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  // The provider's own outgoing requests (back-channel logout tokens) go through this. Its default guards
  // against SSRF by refusing special-use addresses, and every peer of this suite is on loopback: here the
  // only target is the relying party under test, so the guard's dispatcher is dropped.
  fetch(url, options) {
    const { dispatcher: _guard, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  ttl: {
    AccessToken: accessTokenTtl,
    IdToken: idTokenTtl,
    RefreshToken: refreshTokenTtl,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
  },
  clientBasedCORS: () => true,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('oops! something went wrong', Object.entries(out)
      .map(([k, v]) => `<pre>${esc(k)}: ${esc(v)}</pre>`).join('\n'));
  },
});

// ---- token exchange grant ---------------------------------------------------
const b64urlJson = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
const ROLE_RANK = ['ADMIN', 'OP', 'USER', 'VIEWER'];
const roleRank = (role) => {
  const i = ROLE_RANK.indexOf(String(role).toUpperCase());
  return i === -1 ? ROLE_RANK.length : i; // unknown Airflow roles rank below VIEWER
};

// Returns the verified payload of an ID token issued by this provider to
// `clientId`, or throws InvalidGrant.
function verifyIdToken(token, clientId) {
  const bad = (detail) => new errors.InvalidGrant(`subject_token: ${detail}`);
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw bad('not a compact JWS');
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw bad('malformed JWT');
  }
  if (header?.alg !== 'RS256') throw bad(`unexpected alg ${header?.alg}`);
  if (header.kid !== undefined && header.kid !== kid) throw bad('unknown kid');
  const ok = verifySignature(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    publicKey,
    Buffer.from(parts[2], 'base64url'),
  );
  if (!ok) throw bad('bad signature');
  if (!payload || typeof payload !== 'object') throw bad('payload is not an object');
  if (payload.iss !== issuer) throw bad('wrong iss');
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.includes(clientId)) throw bad('aud does not contain the client');
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp !== 'number' || payload.exp <= now) throw bad('expired');
  if (typeof payload.nbf === 'number' && payload.nbf > now + 5) throw bad('not yet valid');
  if (typeof payload.sub !== 'string' || !payload.sub) throw bad('no sub');
  return payload;
}

function airflowRole(user) {
  const mapped = (Array.isArray(user.roles) ? user.roles : [])
    .filter((r) => Object.hasOwn(tokenExchange.roles, r))
    .map((r) => tokenExchange.roles[r]);
  if (!mapped.length) return tokenExchange.defaultRole;
  return mapped.reduce((best, r) => (roleRank(r) < roleRank(best) ? r : best));
}

function signAirflowJwt(claims) {
  const input = `${b64urlJson({ alg: 'HS512', typ: 'JWT' })}.${b64urlJson(claims)}`;
  const sig = createHmac('sha512', tokenExchange.secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

async function tokenExchangeHandler(ctx) {
  stats.token_exchange_attempts += 1;
  if (exchangeFail === '500') throw new Error('token exchange failure injected (token_exchange_fail=500)');
  if (exchangeFail === 'invalid_grant') {
    throw new errors.InvalidGrant('token exchange failure injected (token_exchange_fail=invalid_grant)');
  }

  const { params, client } = ctx.oidc;
  if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter \'subject_token\'');
  if (params.subject_token_type !== ID_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ID_TOKEN_TYPE}`);
  }
  if (params.requested_token_type !== undefined
    && ![JWT_TOKEN_TYPE, ACCESS_TOKEN_TYPE].includes(params.requested_token_type)) {
    throw new errors.InvalidRequest(`requested_token_type must be ${JWT_TOKEN_TYPE}`);
  }
  if (params.audience !== tokenExchange.audience) {
    throw new errors.InvalidTarget(`audience must be ${tokenExchange.audience}`);
  }

  const idToken = verifyIdToken(params.subject_token, client.clientId);
  const user = usersBySub.get(idToken.sub);
  if (!user) throw new errors.InvalidGrant('subject_token: unknown user');
  const role = airflowRole(user);
  if (!role) throw new errors.InvalidGrant('no Airflow role for this user');

  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: idToken.sub,
    role,
    aud: tokenExchange.audience,
    ...(tokenExchange.issuer ? { iss: tokenExchange.issuer } : {}),
    iat: now,
    nbf: now,
    exp: now + tokenExchange.ttl,
    jti: randomUUID(),
  };
  stats.token_exchanges += 1;
  if (debug) log(`token exchange for ${idToken.sub}: role ${role}`);
  ctx.body = {
    access_token: signAirflowJwt(claims),
    issued_token_type: JWT_TOKEN_TYPE,
    token_type: 'N_A',
    expires_in: tokenExchange.ttl,
  };
}

if (tokenExchange) {
  provider.registerGrantType(TOKEN_EXCHANGE, tokenExchangeHandler, [
    'subject_token', 'subject_token_type', 'audience', 'requested_token_type',
  ]);
}

provider.on('grant.success', (ctx) => {
  if (ctx.oidc.params?.grant_type === 'refresh_token') stats.refreshes += 1;
});

// Back-channel logouts sent, and their failures, for tests to wait on and to see.
provider.on('backchannel.success', () => { stats.backchannel_logouts += 1; });
provider.on('backchannel.error', (ctx, err) => log(`backchannel.error: ${err?.message ?? ''}`));

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
  'userinfo.error', 'revocation.error', 'discovery.error', 'jwks.error']) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    log(`${event}: ${err ? `${err.name} ${err.message} ${err.error_description ?? ''} ${err.error_detail ?? ''}` : ''}`);
  });
}
if (debug) {
  provider.on('grant.success', () => log('grant.success'));
  provider.on('authorization.success', () => log('authorization.success'));
}

// ---- interactions (login form; consent is automatic) ---------------------
async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

async function finishConsent(req, res, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const d = prompt.details ?? {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
    mergeWithLastSubmission: true,
  });
}

async function handleInteraction(req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(\/abort)?$/);
  if (!m) return false;
  try {
    const details = await provider.interactionDetails(req, res);
    const { uid, prompt, params } = details;
    if (uid !== m[1]) throw new Error('interaction uid mismatch');

    if (m[2]) {
      await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return true;
    }

    if (prompt.name === 'consent') {
      await finishConsent(req, res, details);
      return true;
    }
    if (prompt.name !== 'login') {
      send(res, 501, page('Not implemented', `<p>prompt ${esc(prompt.name)}</p>`));
      return true;
    }

    if (req.method === 'GET') {
      send(res, 200, loginPage(uid, params));
      return true;
    }
    if (req.method !== 'POST') {
      send(res, 405, page('Method not allowed', ''));
      return true;
    }

    const form = await readForm(req);
    const user = usersByLogin.get(form.login ?? '');
    if (!user) {
      send(res, 200, loginPage(uid, params, `Unknown user: ${form.login ?? ''}`));
      return true;
    }
    if (!form.password || (user.password !== undefined && user.password !== form.password)) {
      send(res, 200, loginPage(uid, params, 'Wrong password'));
      return true;
    }
    if (debug) log(`login ${user.login} (${user.sub})`);
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub },
    }, { mergeWithLastSubmission: false });
  } catch (err) {
    log(`interaction error: ${err.name} ${err.message}`);
    if (!res.headersSent) {
      send(res, 400, page('oops! something went wrong', `<pre>${esc(err.message)}</pre>`));
    }
  }
  return true;
}

// ---- test-only endpoints ------------------------------------------------------
function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function handleTestEndpoint(req, res, url) {
  if (url.pathname === '/__test/stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
    return;
  }
  if (url.pathname === '/__test/exchange_fail' && req.method === 'POST') {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const mode = Buffer.concat(chunks).toString('utf8').trim().replace(/^"(.*)"$/, '$1');
    if (!['none', 'null', '', ...FAIL_MODES].includes(mode)) {
      sendJson(res, 400, { error: 'body must be 500, invalid_grant or none' });
      return;
    }
    exchangeFail = FAIL_MODES.has(mode) ? mode : null;
    log(`token_exchange_fail set to ${exchangeFail}`);
    sendJson(res, 200, { token_exchange_fail: exchangeFail });
    return;
  }
  sendJson(res, 404, { error: 'not_found' });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  if (debug) log(req.method, req.url.split('?')[0]);
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/__test/')) {
    try {
      await handleTestEndpoint(req, res, url);
    } catch (err) {
      log(`test endpoint error: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    }
    return;
  }
  if (url.pathname === '/auth' && req.method === 'GET') {
    // oidc-provider follows OIDC Core 11 and drops `offline_access` unless the
    // request carries prompt=consent; Auth0 does not. Add it when the client
    // sent no prompt at all (the consent step is still automatic).
    const scope = url.searchParams.get('scope') ?? '';
    if (scope.split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
      url.searchParams.set('prompt', 'consent');
      req.url = `${url.pathname}${url.search}`;
    }
  }
  if (url.pathname.startsWith('/interaction/')) {
    if (await handleInteraction(req, res, url)) return;
  }
  callback(req, res);
});

// ---- ready line ------------------------------------------------------------
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();

process.stdout.write(`${JSON.stringify({
  ready: true,
  issuer,
  port,
  jwks: { keys: [publicJwk] },
  authorization_endpoint: discovery.authorization_endpoint,
  token_endpoint: discovery.token_endpoint,
  end_session_endpoint: discovery.end_session_endpoint,
  userinfo_endpoint: discovery.userinfo_endpoint,
  jwks_uri: discovery.jwks_uri,
  revocation_endpoint: discovery.revocation_endpoint,
})}\n`);

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
