// WebAuthn ceremonies for the hosted pages: dependency-free, no inline script (strict CSP).
// Each page marks its container with data-mode: "second-factor", "enrol", "passkey-login",
// "register" or "invite" (with data-token, the invitation link's token); the server keeps all
// ceremony state.
const b64uToBuf = (s) => {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
};
const bufToB64u = (buf) => {
  let bin = '';
  for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

async function post(url, csrf, body) {
  const res = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify(body || {}),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `request failed (${res.status})`);
  return data;
}

async function create(options) {
  const pk = options.publicKey;
  pk.challenge = b64uToBuf(pk.challenge);
  pk.user.id = b64uToBuf(pk.user.id);
  (pk.excludeCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
  const cred = await navigator.credentials.create({ publicKey: pk });
  return {
    id: cred.id,
    rawId: bufToB64u(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: bufToB64u(cred.response.attestationObject),
      clientDataJSON: bufToB64u(cred.response.clientDataJSON),
    },
    extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

// A passkey offered in the email field's autofill (conditional mediation) runs in the
// background; a button ceremony aborts it first, since a browser allows one request at a time.
let conditional = null;

async function get(options, mediation) {
  const pk = options.publicKey;
  pk.challenge = b64uToBuf(pk.challenge);
  (pk.allowCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
  const request = { publicKey: pk };
  if (mediation) {
    conditional = new AbortController();
    request.mediation = mediation;
    request.signal = conditional.signal;
  } else if (conditional) {
    conditional.abort();
    conditional = null;
  }
  const cred = await navigator.credentials.get(request);
  const r = cred.response;
  return {
    id: cred.id,
    rawId: bufToB64u(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: bufToB64u(r.authenticatorData),
      clientDataJSON: bufToB64u(r.clientDataJSON),
      signature: bufToB64u(r.signature),
      userHandle: r.userHandle ? bufToB64u(r.userHandle) : null,
    },
    extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

async function run(box, kind, mediation) {
  const { mode, orgPath, csrf, returnTo, token } = box.dataset;
  const base = `${orgPath}/webauthn/${mode}`;
  if (!mediation && conditional) { conditional.abort(); conditional = null; }
  const started = await post(`${base}/start`, csrf, { kind, token });
  const nameInput = box.querySelector('[name="credential-name"]');
  const name = nameInput ? nameInput.value : '';
  const credential = mode === 'enrol' || mode === 'register' || mode === 'invite'
    ? await create(started.options)
    : await get(started.options, mediation);
  const done = await post(`${base}/finish`, csrf, { flow_id: started.flow_id, credential, name, return_to: returnTo, token });
  window.location.assign(done.redirect || `${orgPath}/account`);
}

for (const box of document.querySelectorAll('[data-mode]')) {
  for (const button of box.querySelectorAll('button[data-kind], #webauthn-go')) {
    button.addEventListener('click', async () => {
      const error = box.querySelector('[role="alert"]');
      if (error) error.hidden = true;
      try {
        await run(box, button.dataset.kind || 'security_key');
      } catch (e) {
        if (error) { error.textContent = e.message || String(e); error.hidden = false; }
      }
    });
  }
}

// Passkey autofill on the sign-in page, where the browser supports it.
const passkeyBox = document.querySelector('[data-mode="passkey-login"]');
if (passkeyBox && window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
  PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
    if (available) {
      run(passkeyBox, 'passkey', 'conditional').catch(() => { /* dismissed or superseded */ });
    }
  });
}
