// The Node driver of bench/compare.sh: what wrk cannot do in one request. It walks the
// authorization-code flow the way a browser does (redirects, cookies, the sign-in form), signs
// passkey assertions with a software ES256 authenticator, and prints what compare.sh reads.
//
//   node drive.mjs tokens   --target portcullis|peer --base URL [--count N]
//       N code flows from one browser (password sign-in once, then single sign-on); prints
//       one JSON line per flow: {"access_token": ..., "refresh_token": ...}
//   node drive.mjs register --base URL --out FILE [--email EMAIL]
//       (Portcullis) signs the user (default alice) in with the demo password, registers a
//       passkey made here and writes the authenticator (key, credential id, user handle) to
//       FILE. Use another user than the password flows': a user with a passkey is asked for it
//       as a second factor after the password.
//   node drive.mjs flows    --target portcullis|peer --base URL --flow password|passkey
//                           [--credential FILE] [--concurrency C] [--duration SECONDS]
//       full code flows, each from a fresh browser (no cookie), for DURATION seconds with C
//       flows in flight; the password flows of worker i sign in as flow<i>@demo.example (one
//       account per flow in flight: see server.mjs); prints the line compare.sh parses, like bench/load.lua:
//       RESULT <flows/s> <p50 ms> <p99 ms> <flows> <failed flows> <socket errors>
//
// Every step checks its status (and the final token response its body); a flow with any
// unexpected answer is counted as failed, never as throughput. The first failure of each kind
// is printed to stderr.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(3).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const mode = process.argv[2];
const target = args.target || 'portcullis';
const base = new URL(args.base || 'http://localhost:18390');
const EMAIL = 'alice@demo.example';
const PASSWORD = 'portcullis-demo';
const CLIENT = { id: 'demo-catalog', secret: 'demo-catalog-secret', redirect: 'http://127.0.0.1:9001/callback' };
const PATHS = target === 'peer'
  ? { authorize: '/auth', token: '/token' }
  : { authorize: '/o/demo/authorize', token: '/o/demo/token', org: '/o/demo' };

const concurrency = Number(args.concurrency || 8);
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(concurrency, 4) });

// ---- HTTP with a cookie jar ---------------------------------------------------------------

class Jar {
  constructor() { this.cookies = new Map(); }
  take(setCookie) {
    for (const line of setCookie || []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v] = a.trim().split('=');
        if (k.toLowerCase() === 'path' && v) path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const key = `${name};${path}`;
      if (expired || value === '') this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }
  header(path) {
    const out = [];
    for (const c of this.cookies.values()) {
      if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/') {
        out.push(`${c.name}=${c.value}`);
      }
    }
    return out.join('; ');
  }
  get(name) {
    for (const c of this.cookies.values()) if (c.name === name) return c.value;
    return undefined;
  }
}

// Both servers listen on 127.0.0.1 and are addressed as localhost (WebAuthn needs a name).
function request(method, url, { jar, headers = {}, body } = {}) {
  const u = new URL(url, base);
  const h = { host: u.host, ...headers };
  if (jar) {
    const cookie = jar.header(u.pathname);
    if (cookie) h.cookie = cookie;
  }
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (jar) jar.take(res.headers['set-cookie']);
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

class FlowError extends Error {}
function expect(res, status, step) {
  if (res.status !== status) {
    throw new FlowError(`${step}: HTTP ${res.status} (expected ${status}) ${res.body.slice(0, 200).replace(/\s+/g, ' ')}`);
  }
  return res;
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = (o) => new URLSearchParams(o).toString();
const unescapeHtml = (s) => s
  .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
  .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
  .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

// The sign-in form of a page: its action and hidden inputs.
function parseForm(html) {
  const action = /<form[^>]*method="post"[^>]*action="([^"]*)"/i.exec(html)
    || /<form[^>]*action="([^"]*)"[^>]*method="post"/i.exec(html);
  if (!action) throw new FlowError('no sign-in form on the page');
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[m[1]] = unescapeHtml(m[2]);
  }
  return { action: unescapeHtml(action[1]), fields };
}

// ---- The authorization-code flow ----------------------------------------------------------

// Follows redirects from `url` until the app's redirect URI (returns the code) or a page
// (returns {page}); every hop must be a 302/303, and a page must be a 200.
async function follow(jar, url, state) {
  for (let hops = 0; hops < 10; hops++) {
    if (url.startsWith(CLIENT.redirect)) {
      const q = new URL(url).searchParams;
      if (q.get('error')) throw new FlowError(`authorize: error ${q.get('error')}: ${q.get('error_description')}`);
      if (q.get('state') !== state) throw new FlowError('authorize: state mismatch');
      return { code: q.get('code') };
    }
    const res = await request('GET', url, { jar });
    if (res.status === 302 || res.status === 303) {
      url = new URL(res.headers.location, new URL(url, base)).toString();
      continue;
    }
    expect(res, 200, `GET ${new URL(url, base).pathname}`);
    return { page: res.body, url };
  }
  throw new FlowError('too many redirects');
}

function authorizeUrl() {
  const verifier = b64u(crypto.randomBytes(32));
  const challenge = b64u(crypto.createHash('sha256').update(verifier).digest());
  const state = b64u(crypto.randomBytes(12));
  const q = new URLSearchParams({
    client_id: CLIENT.id,
    redirect_uri: CLIENT.redirect,
    response_type: 'code',
    scope: 'openid email',
    state,
    nonce: b64u(crypto.randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return { url: new URL(`${PATHS.authorize}?${q}`, base).toString(), verifier, state };
}

async function redeem(code, verifier) {
  const res = expect(await request('POST', PATHS.token, {
    headers: { authorization: basic(CLIENT.id, CLIENT.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ grant_type: 'authorization_code', code, redirect_uri: CLIENT.redirect, code_verifier: verifier }),
  }), 200, 'POST token');
  const tokens = JSON.parse(res.body);
  if (!tokens.access_token || !tokens.id_token) throw new FlowError('token: no access_token or id_token');
  return tokens;
}

async function passwordSignIn(jar, page, email = EMAIL) {
  const { action, fields } = parseForm(page);
  const res = await request('POST', action, {
    jar,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ ...fields, email, password: PASSWORD }),
  });
  if (res.status !== 302 && res.status !== 303) expect(res, 303, `POST ${action}`);
  return new URL(res.headers.location, base).toString();
}

async function passkeySignIn(jar, page, authenticator) {
  const box = /data-mode="passkey-login"[^>]*data-csrf="([^"]*)" data-return-to="([^"]*)"/.exec(page);
  if (!box) throw new FlowError('no passkey sign-in on the page');
  const csrf = unescapeHtml(box[1]);
  const returnTo = unescapeHtml(box[2]);
  const headers = { 'content-type': 'application/json', 'x-csrf-token': csrf };
  const start = expect(await request('POST', `${PATHS.org}/webauthn/passkey-login/start`, {
    jar, headers, body: JSON.stringify({ kind: 'passkey' }),
  }), 200, 'passkey start');
  const { flow_id: flowId, options } = JSON.parse(start.body);
  const credential = authenticator.assert(options.publicKey);
  const finish = expect(await request('POST', `${PATHS.org}/webauthn/passkey-login/finish`, {
    jar, headers, body: JSON.stringify({ flow_id: flowId, credential, return_to: returnTo }),
  }), 200, 'passkey finish');
  return new URL(JSON.parse(finish.body).redirect, base).toString();
}

// One code flow in `jar`: signs in with `signIn` if a sign-in page shows up.
async function codeFlow(jar, signIn) {
  const { url, verifier, state } = authorizeUrl();
  let step = await follow(jar, url, state);
  if (step.page !== undefined) {
    const next = await signIn(jar, step.page);
    step = await follow(jar, next, state);
    if (step.page !== undefined) throw new FlowError(`a page instead of the app after sign-in: ${step.url}`);
  }
  return redeem(step.code, verifier);
}

// ---- A software passkey (ES256) ----------------------------------------------------------

function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
    const b = Buffer.alloc(5); b[0] = (major << 5) | 26; b.writeUInt32BE(n, 1); return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') { const s = Buffer.from(value, 'utf8'); return Buffer.concat([head(3, s.length), s]); }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: unsupported ${typeof value}`);
}

class Authenticator {
  constructor(saved) {
    if (saved) {
      this.key = crypto.createPrivateKey({ key: saved.jwk, format: 'jwk' });
      this.credentialId = Buffer.from(saved.credentialId, 'base64url');
      this.userHandle = saved.userHandle;
    } else {
      this.key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      this.credentialId = crypto.randomBytes(32);
    }
    this.origin = base.origin;
  }
  save() {
    return { jwk: this.key.export({ format: 'jwk' }), credentialId: b64u(this.credentialId), userHandle: this.userHandle };
  }
  clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
  }
  // navigator.credentials.create: "none" attestation, user present and verified.
  create(pk) {
    this.userHandle = pk.user.id;
    const rpIdHash = crypto.createHash('sha256').update(pk.rp.id).digest();
    const jwk = crypto.createPublicKey(this.key).export({ format: 'jwk' });
    const coseKey = cbor(new Map([[1, 2], [3, -7], [-1, 1],
      [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
    const idLen = Buffer.alloc(2); idLen.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([rpIdHash, Buffer.from([0x45]), Buffer.alloc(4), Buffer.alloc(16),
      idLen, this.credentialId, coseKey]);
    const attestationObject = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return {
      id: b64u(this.credentialId), rawId: b64u(this.credentialId), type: 'public-key',
      response: { attestationObject: b64u(attestationObject), clientDataJSON: b64u(this.clientData('webauthn.create', pk.challenge)) },
      extensions: {},
    };
  }
  // navigator.credentials.get: the signature counter stays 0 ("no counter"), so concurrent
  // sign-ins with one credential are all valid.
  assert(pk) {
    const rpIdHash = crypto.createHash('sha256').update(pk.rpId).digest();
    const authData = Buffer.concat([rpIdHash, Buffer.from([0x05]), Buffer.alloc(4)]);
    const clientDataJSON = this.clientData('webauthn.get', pk.challenge);
    const signed = Buffer.concat([authData, crypto.createHash('sha256').update(clientDataJSON).digest()]);
    const signature = crypto.sign('sha256', signed, { key: this.key, dsaEncoding: 'der' });
    return {
      id: b64u(this.credentialId), rawId: b64u(this.credentialId), type: 'public-key',
      response: {
        authenticatorData: b64u(authData), clientDataJSON: b64u(clientDataJSON),
        signature: b64u(signature), userHandle: this.userHandle,
      },
      extensions: {},
    };
  }
}

// ---- Modes -------------------------------------------------------------------------------

async function tokens() {
  const jar = new Jar();
  const count = Number(args.count || 1);
  for (let i = 0; i < count; i++) {
    const t = await codeFlow(jar, passwordSignIn);
    if (!t.refresh_token) throw new FlowError('token: no refresh_token');
    process.stdout.write(`${JSON.stringify({ access_token: t.access_token, refresh_token: t.refresh_token })}\n`);
  }
}

async function register() {
  const jar = new Jar();
  const login = expect(await request('GET', `${PATHS.org}/login`, { jar }), 200, 'GET login');
  const { action, fields } = parseForm(login.body);
  expect(await request('POST', action, {
    jar, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ ...fields, email: args.email || EMAIL, password: PASSWORD }),
  }), 303, 'POST login');
  const headers = { 'content-type': 'application/json', 'x-csrf-token': fields.csrf };
  const start = expect(await request('POST', `${PATHS.org}/webauthn/register/start`, {
    jar, headers, body: JSON.stringify({ kind: 'passkey' }),
  }), 200, 'register start');
  const { flow_id: flowId, options } = JSON.parse(start.body);
  const authenticator = new Authenticator();
  const credential = authenticator.create(options.publicKey);
  expect(await request('POST', `${PATHS.org}/webauthn/register/finish`, {
    jar, headers, body: JSON.stringify({ flow_id: flowId, credential, name: 'bench passkey' }),
  }), 200, 'register finish');
  fs.writeFileSync(args.out, JSON.stringify(authenticator.save()));
}

async function flows() {
  const duration = Number(args.duration || 10) * 1000;
  let signInOf = (i) => (jar, page) => passwordSignIn(jar, page, `flow${i + 1}@demo.example`);
  if (args.flow === 'passkey') {
    const authenticator = new Authenticator(JSON.parse(fs.readFileSync(args.credential, 'utf8')));
    signInOf = () => (jar, page) => passkeySignIn(jar, page, authenticator);
  }
  const latencies = [];
  let failed = 0;
  let socket = 0;
  const seen = new Set();
  const started = performance.now();
  const deadline = started + duration;
  async function worker(i) {
    const signIn = signInOf(i);
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await codeFlow(new Jar(), signIn);
      } catch (err) {
        if (err instanceof FlowError) failed++; else socket++;
        const kind = err.message.split(':')[0];
        if (!seen.has(kind)) { seen.add(kind); console.error(`flow failed: ${err.message}`); }
      }
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0);
  console.log(`RESULT ${(latencies.length / elapsed).toFixed(1)} ${pct(0.5).toFixed(3)} ${pct(0.99).toFixed(3)} ${latencies.length} ${failed} ${socket}`);
}

const modes = { tokens, register, flows };
if (!modes[mode]) {
  console.error('usage: node drive.mjs tokens|register|flows --target portcullis|peer --base URL ...');
  process.exit(2);
}
try {
  await modes[mode]();
  agent.destroy();
} catch (err) {
  console.error(`${mode} failed: ${err.message}`);
  process.exit(1);
}
