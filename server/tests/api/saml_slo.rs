//! SAML Single Logout (issue 20, item 4), driven by plain HTTP as an SP and a browser would:
//! IdP-initiated over SOAP (the logout outbox) and over the front channel (the signed-out
//! page's frames), SP-initiated over SOAP and HTTP-Redirect, a mixed session of an OIDC app and
//! two SAML apps where one fails, and the refusals (an unsolicited LogoutResponse, a
//! LogoutRequest for another org's session, an unsigned or replayed one).

use crate::admin_api::{call, service_token};
use crate::browser::{Browser, Page};
use crate::helpers::local_path;
use crate::saml::metadata;
use crate::saml_sso::{
    ACS, SP, UA, World, authn_request, check_response, follow, posted, redirect_path, sso_url,
    world_with,
};
use crate::slo::{
    Receiver, Responder, deliveries, frontchannel_frames, run_once, session_ended, sign_out_form,
};
use portcullis::apps::{CreateApp, SamlRequest};
use portcullis::saml::binding::{MessageKind, RedirectQuery, encode_redirect};
use portcullis::saml::build::{
    LogoutRequestParams, LogoutResponseParams, logout_request, logout_response,
};
use portcullis::saml::dsig::{Bergshamra, Certificate, SigningKey, XmlSignatures};
use portcullis::saml::messages::{LogoutRequest, LogoutResponse, NameId, read_signed};
use portcullis::saml::{NAMEID_EMAIL, STATUS_REQUESTER, STATUS_RESPONDER, STATUS_SUCCESS, soap};
use portcullis::sessions::EndReason;
use std::sync::Arc;

const FRONT_SLO: &str = "https://hr.example.com/saml/slo";

fn now(w: &World) -> chrono::DateTime<chrono::Utc> {
    portcullis::clock::Clock::now(w.app.clock.as_ref())
}

/// The org's SAML app for `SP` with its SLO endpoint at `url` over `binding`.
async fn world(backend: &crate::helpers::Backend, url: &str, binding: &str) -> World {
    let (url, binding) = (url.to_owned(), binding.to_owned());
    world_with(backend, false, move |req: &mut CreateApp| {
        let saml: &mut SamlRequest = req.saml.as_mut().unwrap();
        saml.slo_url = Some(url);
        saml.slo_binding = Some(binding);
    })
    .await
}

/// Signs in over SP-initiated SSO in `b`; returns the SessionIndex (the app session id).
async fn sso(w: &World, b: &mut Browser, request_id: &str) -> String {
    let xml = authn_request(w, request_id, &sso_url(w), SP, ACS);
    let first = b.get(&redirect_path(w, &xml, None, true)).await;
    let page = follow(b, first).await;
    let (_, response, _) = posted(&page);
    check_response(w, &response, Some(request_id)).await
}

/// The IdP session an app session belongs to.
pub(crate) async fn sid_of(w: &World, session_index: &str) -> String {
    let id = portcullis::oidc::AppSessionId(session_index.parse().unwrap());
    let s = w
        .app
        .state
        .store
        .app_session(w.acme.id, id)
        .await
        .unwrap()
        .unwrap();
    s.session_id.to_string()
}

/// An admin revokes the IdP session `sid` (reason `admin_revoked`).
async fn revoke(w: &World, sid: &str) {
    let id = portcullis::sessions::SessionId(sid.parse().unwrap());
    w.app
        .state
        .sessions
        .end(w.acme.id, id, EndReason::AdminRevoked, "test")
        .await
        .unwrap();
}

fn email_name_id() -> NameId {
    NameId {
        value: crate::signin::EMAIL.to_owned(),
        format: Some(NAMEID_EMAIL.to_owned()),
        sp_name_qualifier: None,
        name_qualifier: None,
    }
}

/// A LogoutRequest from the SP, unsigned.
fn sp_logout_request(w: &World, id: &str, indexes: &[String], destination: &str) -> String {
    logout_request(&LogoutRequestParams {
        id,
        issue_instant: now(w),
        issuer: SP,
        destination,
        name_id: &email_name_id(),
        session_indexes: indexes,
        not_on_or_after: None,
        reason: None,
    })
}

fn slo_url(w: &World, org: &str) -> String {
    format!("{}/saml/slo", w.app.issuer(org))
}

/// POSTs a SOAP envelope to `/o/{org}/saml/slo`: the status and the body.
async fn soap_post(w: &World, org: &str, envelope: String) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(format!("{}/o/{org}/saml/slo", w.app.address))
        .header("content-type", "text/xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The SP's key, known once the world is made (the stub's URL is registered with it).
type LateKey = Arc<std::sync::OnceLock<SigningKey>>;

/// A SOAP SP: answers each LogoutRequest with a LogoutResponse of `status`, signed with the SP's
/// key once it is set.
async fn soap_sp(status: &'static str) -> (Receiver, LateKey) {
    let key: LateKey = Arc::default();
    let signer = key.clone();
    let respond: Responder = Arc::new(move |body: &str| {
        let Ok(xml) = soap::body_message(body) else {
            return (400, String::new());
        };
        let request = LogoutRequest::parse(&xml).unwrap();
        let response = logout_response(&LogoutResponseParams {
            id: "_sp-answer",
            issue_instant: request.header.issue_instant,
            issuer: SP,
            destination: None,
            in_response_to: &request.header.id,
            status,
        });
        let signed = Bergshamra
            .sign_enveloped(&response, signer.get().unwrap())
            .unwrap();
        (200, soap::envelope(&signed))
    });
    (Receiver::responding(respond).await, key)
}

/// The IdP's LogoutRequest, verified with the metadata's certificates.
async fn idp_request(w: &World, xml: &str) -> LogoutRequest {
    let certs = metadata(&w.app, "acme").await.certificates;
    read_signed::<LogoutRequest>(xml, &Bergshamra, &certs, false).unwrap()
}

/// The delivery rows of the world's SAML app, with their status and error, through the admin
/// API.
pub(crate) async fn deliveries_of(w: &World) -> Vec<(String, Option<String>)> {
    deliveries_to(w, &w.client_id).await
}

/// The delivery rows of the app `client_id`.
async fn deliveries_to(w: &World, client_id: &str) -> Vec<(String, Option<String>)> {
    let token = service_token(&w.app, &w.acme).await;
    let list = call(&w.app, "get", "/orgs/acme/logout-deliveries", Some(&token)).await;
    assert_eq!(list.status, 200, "{list:?}");
    list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["client_id"] == client_id)
        .map(|d| {
            (
                d["status"].as_str().unwrap().to_owned(),
                d["last_error"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

both_backends!(a_soap_sp_is_told_when_the_user_signs_out, |backend| {
    let (stub, key) = soap_sp(STATUS_SUCCESS).await;
    let w = world(&backend, &stub.uri, "soap").await;
    key.set(w.sp_key.clone()).unwrap();
    let mut b = Browser::new(&w.app.address, UA);
    let index = sso(&w, &mut b, "_req-slo-soap").await;
    let sid = sid_of(&w, &index).await;
    sign_out_form(&mut b, "acme").await;
    assert_eq!(
        session_ended(&w.app, &w.acme, &sid).await,
        Some(EndReason::Logout)
    );
    // Nothing of a SAML app session lasts without its IdP session (no refresh token), and the
    // SP is asked to end its own: the record ends with it, whatever the app's rules.
    let id = portcullis::oidc::AppSessionId(index.parse().unwrap());
    let record = w.app.state.store.app_session(w.acme.id, id).await.unwrap();
    assert!(record.unwrap().ended_at.is_some(), "the app session ended");
    assert_eq!(run_once(&w.app).await, 1);
    let bodies = stub.bodies();
    assert_eq!(bodies.len(), 1);
    let request = idp_request(&w, &soap::body_message(&bodies[0]).unwrap()).await;
    assert_eq!(request.name_id.value, crate::signin::EMAIL);
    assert_eq!(request.session_indexes, vec![index]);
    assert_eq!(
        request.header.destination.as_deref(),
        Some(stub.uri.as_str())
    );
    assert_eq!(
        request.reason.as_deref(),
        Some(portcullis::saml::slo::REASON_USER)
    );
    assert_eq!(
        deliveries_of(&w).await,
        vec![("delivered".to_owned(), None)]
    );
});

both_backends!(a_soap_sp_answering_failure_is_failed_with_why, |backend| {
    let (stub, key) = soap_sp(STATUS_RESPONDER).await;
    let w = world(&backend, &stub.uri, "soap").await;
    key.set(w.sp_key.clone()).unwrap();
    let mut b = Browser::new(&w.app.address, UA);
    let index = sso(&w, &mut b, "_req-slo-fail").await;
    let sid = sid_of(&w, &index).await;
    // An admin revokes the session: the SP is told too (reason admin).
    revoke(&w, &sid).await;
    assert_eq!(run_once(&w.app).await, 1);
    let request = idp_request(&w, &soap::body_message(&stub.bodies()[0]).unwrap()).await;
    assert_eq!(
        request.reason.as_deref(),
        Some(portcullis::saml::slo::REASON_ADMIN)
    );
    let rows = deliveries_of(&w).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "failed");
    assert!(
        rows[0].1.as_deref().unwrap().contains(STATUS_RESPONDER),
        "{rows:?}"
    );
    // Failed for good: no other attempt.
    assert_eq!(run_once(&w.app).await, 0);
});

both_backends!(
    an_sp_initiated_soap_logout_ends_the_session_and_answers,
    |backend| {
        let w = world(&backend, "https://hr.example.com/saml/slo-soap", "soap").await;
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-sp-soap").await;
        let sid = sid_of(&w, &index).await;
        let xml = sp_logout_request(
            &w,
            "_lr-soap-1",
            std::slice::from_ref(&index),
            &slo_url(&w, "acme"),
        );
        let signed = Bergshamra.sign_enveloped(&xml, &w.sp_key).unwrap();
        let (status, body) = soap_post(&w, "acme", soap::envelope(&signed)).await;
        assert_eq!(status, 200, "{body}");
        let answer = soap::body_message(&body).unwrap();
        let certs = metadata(&w.app, "acme").await.certificates;
        let response = read_signed::<LogoutResponse>(&answer, &Bergshamra, &certs, false).unwrap();
        assert_eq!(response.in_response_to.as_deref(), Some("_lr-soap-1"));
        assert_eq!(response.status, STATUS_SUCCESS);
        assert_eq!(
            session_ended(&w.app, &w.acme, &sid).await,
            Some(EndReason::Logout)
        );
        // The SP asked: its own delivery is settled, never sent back to it.
        assert_eq!(run_once(&w.app).await, 0);
        assert_eq!(
            deliveries_of(&w).await,
            vec![("delivered".to_owned(), None)]
        );
        // Replayed: refused.
        let (status, _) = soap_post(&w, "acme", soap::envelope(&signed)).await;
        assert_eq!(status, 400);
        // Unsigned: refused, and nothing ends.
        let mut b2 = Browser::new(&w.app.address, UA);
        let index2 = sso(&w, &mut b2, "_req-sp-soap-2").await;
        let sid2 = sid_of(&w, &index2).await;
        let unsigned = sp_logout_request(&w, "_lr-soap-2", &[index2], &slo_url(&w, "acme"));
        let (status, body) = soap_post(&w, "acme", soap::envelope(&unsigned)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(session_ended(&w.app, &w.acme, &sid2).await, None);
    }
);

/// The SP's signed Redirect query for `xml` (a request or a response) to `/o/acme/saml/slo`.
fn sp_redirect(w: &World, kind: MessageKind, xml: &str, relay: Option<&str>) -> String {
    let dsig = Bergshamra;
    let signer: Option<(&dyn XmlSignatures, &SigningKey)> = Some((&dsig, &w.sp_key));
    format!(
        "/o/acme/saml/slo?{}",
        encode_redirect(kind, xml, relay, signer).unwrap()
    )
}

/// A message of the IdP's at the SP over HTTP-Redirect: the query verified with the IdP's
/// certificates; its XML.
fn idp_redirect(location: &str, certs: &[Certificate]) -> String {
    let (_, query) = location.split_once('?').unwrap();
    let q = RedirectQuery::parse(query).unwrap();
    q.verify(&Bergshamra, certs, false).unwrap();
    q.xml
}

both_backends!(
    an_sp_initiated_redirect_logout_answers_after_the_signed_out_page,
    |backend| {
        let w = world(&backend, FRONT_SLO, "redirect").await;
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-sp-redirect").await;
        let sid = sid_of(&w, &index).await;
        let xml = sp_logout_request(&w, "_lr-redirect", &[index], &slo_url(&w, "acme"));
        let page = b
            .get(&sp_redirect(
                &w,
                MessageKind::Request,
                &xml,
                Some("after-logout"),
            ))
            .await;
        assert_eq!(
            session_ended(&w.app, &w.acme, &sid).await,
            Some(EndReason::Logout)
        );
        // Nothing else to tell: the signed-out page sends the browser straight on.
        assert_eq!(page.status, 303, "{}", page.body);
        let answer = b.get(&local_path(page.location())).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert!(
            answer.location().starts_with(FRONT_SLO),
            "{}",
            answer.location()
        );
        let certs = metadata(&w.app, "acme").await.certificates;
        let response = LogoutResponse::parse(&idp_redirect(answer.location(), &certs)).unwrap();
        assert_eq!(response.in_response_to.as_deref(), Some("_lr-redirect"));
        assert_eq!(response.status, STATUS_SUCCESS);
        assert_eq!(response.header.destination.as_deref(), Some(FRONT_SLO));
        assert!(answer.location().contains("RelayState=after-logout"));
        // The answer is sent once.
        let again = b.get(&local_path(page.location())).await;
        assert_eq!(again.status, 400, "{}", again.body);
    }
);

/// The SAML front-channel frames (`/o/acme/saml/slo/front?…`) of a signed-out page.
pub(crate) fn saml_frames(page: &Page) -> Vec<String> {
    frontchannel_frames(page)
        .into_iter()
        .filter(|f| f.starts_with("/o/acme/saml/slo/front?"))
        .collect()
}

/// The SP's signed LogoutResponse to the IdP's `request`, over HTTP-Redirect.
fn sp_answer(w: &World, request: &LogoutRequest, status: &str) -> String {
    let xml = logout_response(&LogoutResponseParams {
        id: "_sp-front-answer",
        issue_instant: now(w),
        issuer: SP,
        destination: Some(&slo_url(w, "acme")),
        in_response_to: &request.header.id,
        status,
    });
    sp_redirect(w, MessageKind::Response, &xml, None)
}

both_backends!(
    a_front_channel_sp_is_told_through_the_signed_out_page,
    |backend| {
        let w = world(&backend, FRONT_SLO, "redirect").await;
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-front").await;
        let page = sign_out_form(&mut b, "acme").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let frames = saml_frames(&page);
        assert_eq!(frames.len(), 1, "{}", page.body);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-src 'self' https://hr.example.com"),
            "{csp}"
        );
        // A tampered token gets nothing.
        let forged = b.get(&format!("{}x", frames[0])).await;
        assert_eq!(forged.status, 400);
        let frame = b.get(&frames[0]).await;
        assert_eq!(frame.status, 303, "{}", frame.body);
        let certs = metadata(&w.app, "acme").await.certificates;
        let request = LogoutRequest::parse(&idp_redirect(frame.location(), &certs)).unwrap();
        assert_eq!(request.session_indexes, vec![index]);
        assert_eq!(request.name_id.value, crate::signin::EMAIL);
        assert_eq!(deliveries_of(&w).await[0].0, "pending");
        // The SP's answer comes back in the frame: recorded, and the page may be framed by ours.
        let done = b.get(&sp_answer(&w, &request, STATUS_SUCCESS)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("confirmed"), "{}", done.body);
        assert_eq!(done.headers["x-frame-options"], "SAMEORIGIN");
        assert_eq!(
            deliveries_of(&w).await,
            vec![("delivered".to_owned(), None)]
        );
        // The same answer again answers nothing of ours: refused.
        let again = b.get(&sp_answer(&w, &request, STATUS_SUCCESS)).await;
        assert_eq!(again.status, 400);
        assert!(again.body.contains("Unsolicited"), "{}", again.body);
        // The window passes: a settled delivery stays delivered.
        w.app.clock.advance(chrono::Duration::minutes(11));
        assert_eq!(run_once(&w.app).await, 0);
    }
);

both_backends!(
    a_front_channel_sp_no_browser_reached_is_failed_with_why,
    |backend| {
        let w = world(&backend, FRONT_SLO, "post").await;
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-front-expiry").await;
        let sid = sid_of(&w, &index).await;
        revoke(&w, &sid).await;
        // Not due before its window ends.
        assert_eq!(run_once(&w.app).await, 0);
        w.app.clock.advance(chrono::Duration::minutes(11));
        assert_eq!(run_once(&w.app).await, 1);
        let rows = deliveries_of(&w).await;
        assert_eq!(rows[0].0, "failed");
        assert!(
            rows[0].1.as_deref().unwrap().contains("admin_revoked"),
            "{rows:?}"
        );
    }
);

both_backends!(an_unsolicited_logout_response_is_refused, |backend| {
    let w = world(&backend, FRONT_SLO, "redirect").await;
    let mut b = Browser::new(&w.app.address, UA);
    let xml = logout_response(&LogoutResponseParams {
        id: "_unsolicited",
        issue_instant: now(&w),
        issuer: SP,
        destination: Some(&slo_url(&w, "acme")),
        in_response_to: "_never-sent",
        status: STATUS_SUCCESS,
    });
    let res = b
        .get(&sp_redirect(&w, MessageKind::Response, &xml, None))
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("Unsolicited"), "{}", res.body);
    assert!(deliveries(&w.app, &w.acme).await.is_empty());
});

both_backends!(
    a_logout_request_for_another_orgs_session_ends_nothing,
    |backend| {
        let w = world(&backend, FRONT_SLO, "soap").await;
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-other-org").await;
        let sid = sid_of(&w, &index).await;
        // The same SP registered in globex (same entity id, same key) names acme's session.
        let globex =
            crate::admin_api::org_with(&w.app, "globex", portcullis::accounts::Role::Admin).await;
        let mut req = CreateApp::new("HR", portcullis::apps::AppType::Saml);
        req.saml = Some(SamlRequest {
            sp_entity_id: SP.to_owned(),
            acs_urls: vec![portcullis::apps::AcsRequest {
                url: ACS.to_owned(),
                binding: None,
                index: None,
            }],
            slo_url: Some(FRONT_SLO.to_owned()),
            slo_binding: Some("soap".to_owned()),
            sp_certificate: Some(crate::saml_sso::pem(w.sp_key.certificate())),
            ..SamlRequest::default()
        });
        w.app.state.apps.create(&globex, req, "test").await.unwrap();
        let xml = sp_logout_request(
            &w,
            "_lr-other",
            std::slice::from_ref(&index),
            &slo_url(&w, "globex"),
        );
        let signed = Bergshamra.sign_enveloped(&xml, &w.sp_key).unwrap();
        let (status, body) = soap_post(&w, "globex", soap::envelope(&signed)).await;
        assert_eq!(status, 200, "{body}");
        let response = LogoutResponse::parse(&soap::body_message(&body).unwrap()).unwrap();
        assert_eq!(response.status, STATUS_REQUESTER);
        assert_eq!(session_ended(&w.app, &w.acme, &sid).await, None);
        // Sent to acme's endpoint, addressed to globex's: refused, nothing ends.
        let (status, _) = soap_post(&w, "acme", soap::envelope(&signed)).await;
        assert_eq!(status, 400);
        assert_eq!(session_ended(&w.app, &w.acme, &sid).await, None);
    }
);

both_backends!(
    a_mixed_session_tells_every_app_and_one_failure_stops_none,
    |backend| {
        // HR: SAML over the front channel. Payroll: SAML over SOAP, and it fails. Shop: OIDC
        // back-channel.
        let w = world(&backend, FRONT_SLO, "redirect").await;
        let (payroll_sp, key) = soap_sp(STATUS_RESPONDER).await;
        key.set(w.sp_key.clone()).unwrap();
        let payroll = "https://payroll.example.com/saml";
        let payroll_acs = "https://payroll.example.com/saml/acs";
        let mut req = CreateApp::new("Payroll", portcullis::apps::AppType::Saml);
        req.saml = Some(SamlRequest {
            sp_entity_id: payroll.to_owned(),
            acs_urls: vec![portcullis::apps::AcsRequest {
                url: payroll_acs.to_owned(),
                binding: None,
                index: None,
            }],
            slo_url: Some(payroll_sp.uri.clone()),
            slo_binding: Some("soap".to_owned()),
            sp_certificate: Some(crate::saml_sso::pem(w.sp_key.certificate())),
            ..SamlRequest::default()
        });
        let (payroll_app, _) = w.app.state.apps.create(&w.acme, req, "test").await.unwrap();
        let shop_rx = Receiver::start(200, std::time::Duration::ZERO).await;
        let shop = crate::slo::register(&w.app, &w.acme, "shop", |r| {
            r.backchannel_logout_uri = Some(shop_rx.uri.clone());
        })
        .await;

        let mut b = Browser::new(&w.app.address, UA);
        let hr_index = sso(&w, &mut b, "_req-mixed-hr").await;
        shop.sign_in(&mut b, &[]).await;
        let xml = authn_request(&w, "_req-mixed-payroll", &sso_url(&w), payroll, payroll_acs);
        let first = b.get(&redirect_path(&w, &xml, None, true)).await;
        let (action, _, _) = posted(&follow(&mut b, first).await);
        assert_eq!(action, payroll_acs);
        let sid = sid_of(&w, &hr_index).await;

        let page = sign_out_form(&mut b, "acme").await;
        assert_eq!(
            session_ended(&w.app, &w.acme, &sid).await,
            Some(EndReason::Logout)
        );
        // The outbox: Shop and Payroll at once, each on its own.
        assert_eq!(run_once(&w.app).await, 2);
        assert_eq!(shop_rx.count(), 1);
        assert_eq!(payroll_sp.bodies().len(), 1);
        // The browser: HR's frame, whatever Payroll did.
        let frames = saml_frames(&page);
        assert_eq!(frames.len(), 1, "{}", page.body);
        let frame = b.get(&frames[0]).await;
        let certs = metadata(&w.app, "acme").await.certificates;
        let request = LogoutRequest::parse(&idp_redirect(frame.location(), &certs)).unwrap();
        let done = b.get(&sp_answer(&w, &request, STATUS_SUCCESS)).await;
        assert_eq!(done.status, 200, "{}", done.body);

        assert_eq!(
            deliveries_to(&w, &shop.client_id).await,
            vec![("delivered".to_owned(), None)]
        );
        assert_eq!(
            deliveries_of(&w).await,
            vec![("delivered".to_owned(), None)]
        );
        let failed = deliveries_to(&w, &payroll_app.client_id).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "failed");
        assert!(
            failed[0].1.as_deref().unwrap().contains(STATUS_RESPONDER),
            "{failed:?}"
        );
    }
);

both_backends!(
    a_users_local_logout_of_a_soap_sp_tells_it_alone,
    |backend| {
        let (stub, key) = soap_sp(STATUS_SUCCESS).await;
        let w = world(&backend, &stub.uri, "soap").await;
        key.set(w.sp_key.clone()).unwrap();
        let mut b = Browser::new(&w.app.address, UA);
        let index = sso(&w, &mut b, "_req-local").await;
        let sid = sid_of(&w, &index).await;
        let user = w.app.state.store.users(w.acme.id, None).await.unwrap()[0].id;
        let id = portcullis::oidc::AppSessionId(index.parse().unwrap());
        assert!(
            w.app
                .state
                .oidc
                .sign_out_of_app(&w.acme, user, id)
                .await
                .unwrap()
        );
        assert_eq!(run_once(&w.app).await, 1);
        let request = idp_request(&w, &soap::body_message(&stub.bodies()[0]).unwrap()).await;
        assert_eq!(request.session_indexes, vec![index]);
        // Local logout: the IdP session goes on.
        assert_eq!(session_ended(&w.app, &w.acme, &sid).await, None);
        assert_eq!(
            deliveries_of(&w).await,
            vec![("delivered".to_owned(), None)]
        );
    }
);
