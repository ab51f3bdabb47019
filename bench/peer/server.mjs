// node-oidc-provider 9.x set up like `portcullis serve --demo`, for bench/compare.sh: the same
// org-less issuer shape (one issuer), the demo's confidential web app and a service app with the
// same credentials, the demo user with the same password hashed with argon2id at Portcullis's
// parameters (m=19456 KiB, t=2, p=1, @node-rs/argon2: the same RustCrypto argon2 code), opaque
// access tokens, the in-memory adapter (the library's default), and a minimal interaction
// handler of its own for the password sign-in (the library ships none for production).
//
//   PEER_PORT=18490 node bench/peer/server.mjs        issuer http://localhost:18490
//
// Not a test fixture: nothing here is meant for production (fixed secrets, cookie keys).
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { hash, verify, Algorithm } from '@node-rs/argon2';

const port = Number(process.env.PEER_PORT || 18490);
const issuer = process.env.PEER_ISSUER || `http://localhost:${port}`;

// Same values as server/src/demo.rs and what compare.sh provisions in Portcullis.
const EMAIL = 'alice@demo.example';
const PASSWORD = 'portcullis-demo';
const CLIENTS = {
  web: { id: 'demo-catalog', secret: 'demo-catalog-secret', redirect: 'http://127.0.0.1:9001/callback' },
  service: { id: 'bench-service', secret: 'bench-service-secret-0123456789abcdef' },
};

const ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
// alice, and flow1..flowN@demo.example (N = BENCH_FLOW_USERS) for the code-flow loads: one user
// per flow in flight, as compare.sh makes in Portcullis, whose sign-in throttle refuses more
// than a few concurrent attempts on one account.
const emails = [EMAIL];
for (let i = 1; i <= Number(process.env.BENCH_FLOW_USERS || 8); i++) emails.push(`flow${i}@demo.example`);
const users = new Map();
for (const email of emails) {
  users.set(email, { id: crypto.randomUUID(), email, hash: await hash(PASSWORD, ARGON2) });
}
const byId = new Map([...users.values()].map((u) => [u.id, u]));

// One ES256 signing key (what Portcullis signs ID tokens with), made at start.
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const configuration = {
  clients: [
    {
      client_id: CLIENTS.web.id,
      client_secret: CLIENTS.web.secret,
      redirect_uris: [CLIENTS.web.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: CLIENTS.service.id,
      client_secret: CLIENTS.service.secret,
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [signingKey] },
  cookies: { keys: ['bench-peer-cookie-key-not-a-secret'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email', 'offline_access'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // A confidential client may introspect the tokens issued to it.
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    revocation: { enabled: true },
  },
  pkce: { required: () => false },
  // Opaque access tokens (the default format without resource indicators); refresh tokens for
  // every client allowed the grant, rotated on every use (as Portcullis rotates them).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  // The demo apps are first party: no consent screen. A grant is made on the fly (the
  // library's documented way to skip consent).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const found = await ctx.oidc.provider.Grant.find(grantId);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email offline_access');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, sub) {
    const user = byId.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: user.email, email_verified: true };
      },
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (uid, error) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in</title></head><body><main><h1>Sign in</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email <input name="email" type="email" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></main></body></html>`;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 16384) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(body))));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

// The interaction handler: GET shows the sign-in form, POST checks the password (argon2id) and
// finishes the interaction (a 303 back to the authorization endpoint). Consent is implicit.
async function interaction(req, res, uid, action) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, 'interaction mismatch');
    if (req.method === 'GET' && !action) {
      return send(res, 200, loginPage(uid));
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const user = users.get(String(form.email || '').trim().toLowerCase());
      const ok = user ? await verify(user.hash, String(form.password || '')) : false;
      if (!ok) return send(res, 401, loginPage(uid, 'The email or password is incorrect.'));
      return await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
    }
    return send(res, 404, 'not found');
  } catch (err) {
    return send(res, 400, escape(err.message));
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(req.url.split('?')[0]);
  if (m) {
    interaction(req, res, m[1], m[2]);
    return;
  }
  if (req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider ${process.env.npm_package_version || ''} issuer ${issuer} on 127.0.0.1:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
