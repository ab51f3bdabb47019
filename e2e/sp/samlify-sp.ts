// A second, independent SAML service provider for the browser journeys (issue 20): samlify
// (npm, >= 2.10) on node:http, with the XML schema checked by samlify-node-xmllint (libxml2
// compiled to wasm: no Java). It trusts the IdP's metadata as fetched from Portcullis and
// verifies every Response itself (signatures, Destination, Audience, times) before it shows
// the NameID and attributes; InResponseTo must name a request it sent and not yet consumed.
//
// Routes are one table (`routes`): Single Logout (`/slo`, with samlify's
// `sp.createLogoutRequest` / `sp.parseLogoutRequest` / `sp.createLogoutResponse`) is added as
// one more entry; `sessions` keeps what a signed-in user's logout needs (NameID and
// SessionIndex).
import * as http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as samlify from 'samlify';
import * as xmllint from '@authenio/samlify-node-xmllint';

samlify.setSchemaValidator(xmllint);

/** A signed-in user as the SP knows them after a verified Response. */
export interface SpSession {
  nameId: string;
  sessionIndex?: string;
  attributes: Record<string, string | string[]>;
}

export interface SamlifySp {
  /** `http://127.0.0.1:{port}`. */
  url: string;
  entityId: string;
  /** The SP's metadata XML (what an admin registers at the IdP). */
  metadata: string;
  /** Users signed in, by the SP's session cookie. */
  sessions: Map<string, SpSession>;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function page(res: http.ServerResponse, status: number, title: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', ...headers });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`);
}

async function form(req: http.IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
}

function cookie(req: http.IncomingMessage, name: string): string | undefined {
  return (req.headers.cookie ?? '').split(/;\s*/).map((c) => c.split('=')).find(([k]) => k === name)?.[1];
}

/**
 * Starts the SP on a free loopback port, trusting the IdP whose metadata is `idpMetadata`.
 */
export async function startSamlifySp(idpMetadata: string): Promise<SamlifySp> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = `${url}/metadata`;
  const sp = samlify.ServiceProvider({
    entityID: entityId,
    authnRequestsSigned: false,
    wantAssertionsSigned: true,
    wantMessageSigned: true,
    nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
    assertionConsumerService: [
      { Binding: samlify.Constants.namespace.binding.post, Location: `${url}/acs`, isDefault: true },
    ],
    singleLogoutService: [
      { Binding: samlify.Constants.namespace.binding.redirect, Location: `${url}/slo` },
    ],
  });
  const idp = samlify.IdentityProvider({ metadata: idpMetadata });
  // Request IDs sent and not yet answered (an unsolicited or replayed Response is refused).
  const outstanding = new Set<string>();
  const sessions = new Map<string, SpSession>();

  const routes: Record<string, Handler> = {
    'GET /metadata': async (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/samlmetadata+xml' });
      res.end(sp.getMetadata());
    },
    // Starts SP-initiated SSO with the binding asked for (`?binding=post`, else Redirect).
    'GET /login': async (_req, res, u) => {
      const binding = u.searchParams.get('binding') === 'post' ? 'post' : 'redirect';
      const relayState = u.searchParams.get('relay') ?? undefined;
      const made = sp.createLoginRequest(idp, binding, { relayState }) as { id: string; context: string; entityEndpoint: string; relayState?: string };
      outstanding.add(made.id);
      if (binding === 'redirect') {
        res.writeHead(302, { Location: made.context });
        res.end();
        return;
      }
      const fields = [['SAMLRequest', made.context], ...(made.relayState ? [['RelayState', made.relayState]] : [])]
        .map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}">`).join('');
      page(res, 200, 'Signing in', `<form method="post" action="${escape(made.entityEndpoint)}">${fields}<button type="submit" id="continue">Continue to the identity provider</button></form>`);
    },
    // The ACS: the Response verified by samlify, then who signed in.
    'POST /acs': async (req, res) => {
      const body = await form(req);
      let session: SpSession;
      try {
        const { extract } = await sp.parseLoginResponse(idp, 'post', { body });
        const inResponseTo = (extract.response as Record<string, string> | undefined)?.inResponseTo;
        if (!inResponseTo || !outstanding.delete(inResponseTo)) throw new Error('InResponseTo names no outstanding request');
        session = {
          nameId: extract.nameID as string,
          sessionIndex: (extract.sessionIndex as Record<string, string> | undefined)?.sessionIndex,
          attributes: (extract.attributes ?? {}) as Record<string, string | string[]>,
        };
      } catch (e) {
        page(res, 400, 'Sign-in refused', `<p id="error">${escape(String(e))}</p>`);
        return;
      }
      const sid = randomUUID();
      sessions.set(sid, session);
      const attrs = Object.entries(session.attributes)
        .map(([k, v]) => `<dt>${escape(k)}</dt><dd data-attribute="${escape(k)}">${escape([v].flat().join(', '))}</dd>`).join('');
      page(res, 200, 'Signed in to the samlify SP', `<dl>
        <dt>NameID</dt><dd id="name-id">${escape(session.nameId)}</dd>
        <dt>SessionIndex</dt><dd id="session-index">${escape(session.sessionIndex ?? '')}</dd>
        <dt>RelayState</dt><dd id="relay-state">${escape(body.RelayState ?? '')}</dd>
        ${attrs}</dl>`, { 'Set-Cookie': `samlify_sp=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    },
    'GET /favicon.ico': async (_req, res) => {
      res.writeHead(204);
      res.end();
    },
    // Who is signed in here (the SP's own session).
    'GET /': async (req, res) => {
      const s = sessions.get(cookie(req, 'samlify_sp') ?? '');
      page(res, 200, 'samlify SP', s ? `<p id="who">${escape(s.nameId)}</p>` : '<p id="who">nobody</p><p><a href="/login">Sign in</a></p>');
    },
  };

  server.on('request', (req, res) => {
    const u = new URL(req.url ?? '/', url);
    const handler = routes[`${req.method} ${u.pathname}`];
    if (!handler) {
      page(res, 404, 'Not found', '');
      return;
    }
    handler(req, res, u).catch((e) => page(res, 500, 'SP error', `<p id="error">${escape(String(e))}</p>`));
  });

  return {
    url,
    entityId,
    metadata: sp.getMetadata(),
    sessions,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
