//! SAML Single Logout with a real, independent SP (issue 20, Must show): pysaml2
//! (`tests/sp/pysaml2_sp.py`, with Debian's xmlsec1) signs in over SSO, then
//! - signs the user out itself (SP-initiated) over HTTP-Redirect and over SOAP: its signed
//!   LogoutRequest ends the IdP session, and pysaml2 verifies our signed LogoutResponse and
//!   matches it to its request;
//! - is told of the user's sign-out at the IdP (IdP-initiated) over HTTP-Redirect (a frame of
//!   the signed-out page) and over SOAP (the logout outbox): pysaml2 verifies our signed
//!   LogoutRequest with the certificate of our metadata, sees its NameID and SessionIndex,
//!   and its signed LogoutResponse settles the delivery.
//!
//! The SP's key is its own (an RSA key and self-signed certificate made here), registered as
//! the app's `sp_certificate`. pysaml2 checks validity times against the real clock, so the
//! node's clock is set to it. Like the SSO interop tests, these fail (never skip) without
//! python3 and pysaml2 (`.ci/run` installs them).

use crate::browser::Browser;
use crate::helpers::local_path;
use crate::saml::metadata;
use crate::saml_slo::{deliveries_of, saml_frames, sid_of};
use crate::saml_sso::{ACS, SP, UA, World, follow, pem, posted, pysaml2, world_on};
use crate::slo::{Receiver, Responder, run_once, session_ended, sign_out_form};
use portcullis::apps::CreateApp;
use portcullis::saml::dsig::Certificate;
use portcullis::saml::{NAMEID_EMAIL, STATUS_SUCCESS};
use portcullis::sessions::EndReason;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};

/// The SP's SLO URL when the IdP never calls it itself (the browser carries the messages).
const FRONT_SLO: &str = "https://hr.example.com/saml/slo";

/// The org's SAML app for pysaml2, with its SLO endpoint, and pysaml2's settings (the JSON
/// every call of the script starts from). Keep `dir` alive: it holds the files.
struct Sp {
    w: World,
    base: Value,
    _dir: tempfile::TempDir,
}

async fn sp_world(backend: &crate::helpers::Backend, slo: &str, binding: &str) -> Sp {
    let dir = tempfile::tempdir().unwrap();
    let key = portcullis::keys::saml::generate("pysaml2 SP", chrono::Utc::now()).unwrap();
    let cert_pem = pem(&Certificate(key.certificate_der.clone()));
    let (key_file, cert_file) = (dir.path().join("sp.key"), dir.path().join("sp.crt"));
    std::fs::write(&key_file, &key.pkcs8_pem).unwrap();
    std::fs::write(&cert_file, &cert_pem).unwrap();
    let (slo_url, slo_binding) = (slo.to_owned(), binding.to_owned());
    // Nothing here times out: the outbox waits for pysaml2 (a process per message) however
    // slow the machine.
    let tweak = |f: figment::Figment| f.merge(("logout.delivery_timeout_ms", 120_000));
    let node = crate::helpers::TestApp::spawn_oidc_with(backend, tweak).await;
    let w = world_on(node, false, move |req: &mut CreateApp| {
        let saml = req.saml.as_mut().unwrap();
        saml.sp_certificate = Some(cert_pem);
        saml.slo_url = Some(slo_url);
        saml.slo_binding = Some(slo_binding);
    })
    .await;
    let node_now = portcullis::clock::Clock::now(w.app.clock.as_ref());
    w.app.clock.advance(chrono::Utc::now() - node_now);
    let md_path = dir.path().join("idp.xml");
    let md = w.app.get("/o/acme/saml/metadata").await.text().await;
    std::fs::write(&md_path, md.unwrap()).unwrap();
    let base = json!({
        "idp_metadata": md_path,
        "entity_id": SP,
        "acs": ACS,
        "key_file": key_file,
        "cert_file": cert_file,
        "slo": slo,
    });
    Sp { w, base, _dir: dir }
}

impl Sp {
    /// `base` with `extra`'s fields.
    fn args(&self, extra: Value) -> Value {
        let mut args = self.base.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    /// pysaml2 signs in over SP-initiated SSO (HTTP-Redirect) in `b`: the NameID, its format
    /// and the SessionIndex it keeps.
    async fn sso(&self, b: &mut Browser) -> Value {
        let request = pysaml2("request", &self.args(json!({ "binding": "redirect" }))).unwrap();
        let first = b.get(&local_path(request["url"].as_str().unwrap())).await;
        let page = follow(b, first).await;
        assert_eq!(posted(&page).0, ACS);
        let b64 = crate::helpers::html_attr_after(&page.body, "name=\"SAMLResponse\"", "value");
        let args = self.args(json!({ "request_id": request["id"], "saml_response": b64 }));
        let got = pysaml2("response", &args).unwrap();
        assert_eq!(got["name_id"], crate::signin::EMAIL);
        assert_eq!(got["name_id_format"], NAMEID_EMAIL);
        json!({
            "name_id": got["name_id"],
            "name_id_format": got["name_id_format"],
            "session_index": got["session_index"],
        })
    }

    async fn entity_id(&self) -> String {
        let m = metadata(&self.w.app, "acme").await;
        m.root.attr("entityID").unwrap().to_owned()
    }
}

/// `xml` with a `Consent` attribute added to the start tag `tag` (schema-valid, not signed).
fn consent_added(xml: &str, tag: &str) -> String {
    assert!(xml.contains(tag), "{xml}");
    xml.replacen(
        tag,
        &format!("{tag}Consent=\"urn:oasis:names:tc:SAML:2.0:consent:unspecified\" "),
        1,
    )
}

fn query_of(url: &str) -> &str {
    url.split_once('?').unwrap().1
}

both_backends!(
    pysaml2_signs_out_over_redirect_and_verifies_our_answer,
    |backend| {
        let sp = sp_world(&backend, FRONT_SLO, "redirect").await;
        let w = &sp.w;
        let mut b = Browser::new(&w.app.address, UA);
        let session = sp.sso(&mut b).await;
        let sid = sid_of(w, session["session_index"].as_str().unwrap()).await;
        let mut args = sp.args(session.clone());
        args["binding"] = "redirect".into();
        args["relay_state"] = "rs-slo".into();
        let request = pysaml2("logout_request", &args).unwrap();
        let url = request["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/saml/slo?", w.app.issuer("acme"))),
            "{url}"
        );
        assert!(url.contains("&Signature="), "signed: {url}");
        let page = b.get(&local_path(url)).await;
        assert_eq!(
            session_ended(&w.app, &w.acme, &sid).await,
            Some(EndReason::Logout)
        );
        // Nothing else to tell: the signed-out page sends the browser on to our answer.
        assert_eq!(page.status, 303, "{}", page.body);
        let answer = b.get(&local_path(page.location())).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        let location = answer.location();
        assert!(location.starts_with(&format!("{FRONT_SLO}?")), "{location}");
        assert!(location.contains("RelayState=rs-slo"), "{location}");
        let read = sp.args(json!({
            "binding": "redirect",
            "request_id": request["id"],
            "query": query_of(location),
        }));
        let got = pysaml2("logout_response", &read).unwrap();
        assert_eq!(got["status"], STATUS_SUCCESS);
        assert_eq!(got["in_response_to"], request["id"]);
        assert_eq!(got["issuer"], sp.entity_id().await.as_str());
        // pysaml2 checks the query's signature: a RelayState changed on the way is refused.
        let mut forged = read.clone();
        forged["query"] = query_of(location)
            .replace("RelayState=rs-slo", "RelayState=rs-sl0")
            .into();
        let refused = pysaml2("logout_response", &forged).unwrap_err();
        assert!(refused.contains("does not verify"), "{refused}");
        // And the answer must be to its own request.
        let mut other = read;
        other["request_id"] = "_another-request".into();
        assert!(pysaml2("logout_response", &other).is_err());
    }
);

both_backends!(pysaml2_signs_out_over_soap, |backend| {
    let sp = sp_world(&backend, FRONT_SLO, "soap").await;
    let w = &sp.w;
    let mut b = Browser::new(&w.app.address, UA);
    let session = sp.sso(&mut b).await;
    let sid = sid_of(w, session["session_index"].as_str().unwrap()).await;
    let mut args = sp.args(session);
    args["binding"] = "soap".into();
    let request = pysaml2("logout_request", &args).unwrap();
    assert_eq!(
        request["url"],
        format!("{}/saml/slo", w.app.issuer("acme")).as_str()
    );
    let post = |envelope: String| {
        reqwest::Client::new()
            .post(format!("{}/o/acme/saml/slo", w.app.address))
            .header("content-type", request["content_type"].as_str().unwrap())
            .body(envelope)
            .send()
    };
    let res = post(request["data"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert_eq!(
        session_ended(&w.app, &w.acme, &sid).await,
        Some(EndReason::Logout)
    );
    let read = sp.args(json!({
        "binding": "soap",
        "request_id": request["id"],
        "soap": body,
    }));
    let got = pysaml2("logout_response", &read).unwrap();
    assert_eq!(got["status"], STATUS_SUCCESS);
    assert_eq!(got["in_response_to"], request["id"]);
    assert_eq!(got["signed"], true, "verified by pysaml2 with our metadata");
    // pysaml2 checks the signature (xmlsec1): an attribute added on the way is refused.
    let mut forged = read.clone();
    forged["soap"] = consent_added(&body, "<samlp:LogoutResponse ").into();
    let refused = pysaml2("logout_response", &forged).unwrap_err();
    assert!(refused.contains("Failed to verify signature"), "{refused}");
    // The SP asked: its own delivery is settled, never sent back to it.
    assert_eq!(run_once(&w.app).await, 0);
    assert_eq!(deliveries_of(w).await, vec![("delivered".to_owned(), None)]);
    // The same request again: refused (its ID is single use).
    let again = post(request["data"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
});

both_backends!(
    a_sign_out_at_the_idp_reaches_pysaml2_over_redirect,
    |backend| {
        let sp = sp_world(&backend, FRONT_SLO, "redirect").await;
        let w = &sp.w;
        let mut b = Browser::new(&w.app.address, UA);
        let session = sp.sso(&mut b).await;
        let page = sign_out_form(&mut b, "acme").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let frames = saml_frames(&page);
        assert_eq!(frames.len(), 1, "{}", page.body);
        let frame = b.get(&frames[0]).await;
        assert_eq!(frame.status, 303, "{}", frame.body);
        let location = frame.location();
        assert!(location.starts_with(&format!("{FRONT_SLO}?")), "{location}");
        let mut args = sp.args(session.clone());
        args["binding"] = "redirect".into();
        args["query"] = query_of(location).into();
        // pysaml2 verifies the query's signature: a parameter added on the way is refused.
        let mut forged = args.clone();
        forged["query"] = format!("{}&RelayState=added", query_of(location)).into();
        assert!(pysaml2("handle_logout_request", &forged).is_err());
        let got = pysaml2("handle_logout_request", &args).unwrap();
        assert_eq!(got["name_id"], crate::signin::EMAIL);
        assert_eq!(got["name_id_format"], NAMEID_EMAIL);
        assert_eq!(got["session_indexes"], json!([session["session_index"]]));
        assert_eq!(got["issuer"], sp.entity_id().await.as_str());
        assert_eq!(got["reason"], portcullis::saml::slo::REASON_USER);
        assert_eq!(got["logged_in_after"], false);
        assert_eq!(deliveries_of(w).await[0].0, "pending");
        // pysaml2's signed LogoutResponse, through the frame, settles the delivery.
        let url = got["response"]["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/saml/slo?", w.app.issuer("acme"))),
            "{url}"
        );
        let done = b.get(&local_path(url)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("confirmed"), "{}", done.body);
        assert_eq!(deliveries_of(w).await, vec![("delivered".to_owned(), None)]);
    }
);

both_backends!(a_sign_out_at_the_idp_reaches_pysaml2_over_soap, |backend| {
    // The SP's SOAP endpoint: pysaml2 handles each LogoutRequest the outbox posts to it.
    let late: Arc<OnceLock<Value>> = Arc::default();
    let seen: Arc<Mutex<Vec<Result<Value, String>>>> = Arc::default();
    let respond: Responder = {
        let (late, seen) = (late.clone(), seen.clone());
        Arc::new(move |body: &str| {
            let mut args = late.get().unwrap().clone();
            args["soap"] = body.into();
            let got = pysaml2("handle_logout_request", &args);
            seen.lock().unwrap().push(got.clone());
            match got {
                Ok(got) => (200, got["response"]["data"].as_str().unwrap().to_owned()),
                Err(_) => (500, String::new()),
            }
        })
    };
    let stub = Receiver::responding(respond).await;
    let sp = sp_world(&backend, &stub.uri, "soap").await;
    let w = &sp.w;
    let mut b = Browser::new(&w.app.address, UA);
    let session = sp.sso(&mut b).await;
    let mut args = sp.args(session.clone());
    args["binding"] = "soap".into();
    late.set(args).unwrap();
    let sid = sid_of(w, session["session_index"].as_str().unwrap()).await;
    sign_out_form(&mut b, "acme").await;
    assert_eq!(
        session_ended(&w.app, &w.acme, &sid).await,
        Some(EndReason::Logout)
    );
    assert_eq!(run_once(&w.app).await, 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let got = seen[0].as_ref().unwrap();
    assert_eq!(got["name_id"], crate::signin::EMAIL);
    assert_eq!(got["session_indexes"], json!([session["session_index"]]));
    assert_eq!(got["issuer"], sp.entity_id().await.as_str());
    assert_eq!(got["logged_in_after"], false);
    // pysaml2 checks the signature (xmlsec1): an attribute added on the way is refused.
    let mut forged = late.get().unwrap().clone();
    forged["soap"] = consent_added(&stub.bodies()[0], "<samlp:LogoutRequest ").into();
    let refused = pysaml2("handle_logout_request", &forged).unwrap_err();
    assert!(refused.contains("not signed correctly"), "{refused}");
    // pysaml2's signed LogoutResponse, verified with the SP's certificate, settled it.
    assert_eq!(deliveries_of(w).await, vec![("delivered".to_owned(), None)]);
});
