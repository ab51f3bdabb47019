//! SP-initiated SAML Web Browser SSO (issue 20, item 3), driven by plain HTTP as an SP and a
//! browser would: the AuthnRequest over HTTP-Redirect (signed over the raw query) and
//! HTTP-POST (enveloped signature), the sign-in on the hosted pages, and the auto-submitting
//! form to the ACS URL with a signed Response, verified by our verifier and by `xmlsec1`
//! with the metadata's certificate; the app session it started, seen through the admin API;
//! and the refusals (replayed ID, wrong Destination, unregistered ACS URL, another org's SP,
//! an 81-byte RelayState, an unsigned request where signatures are required), each a page,
//! never a redirect.

use crate::admin_api::{call, org_with, service_token};
use crate::browser::{Browser, Page};
use crate::helpers::{TestApp, html_attr_after, local_path, submit_login};
use crate::saml::{metadata, xmlsec1_verifies_root};
use portcullis::accounts::Role;
use portcullis::apps::{AcsRequest, AppType, CreateApp, SamlRequest};
use portcullis::saml::binding::{MessageKind, encode_redirect};
use portcullis::saml::dsig::{Bergshamra, Certificate, SigningKey, VerifyPolicy, XmlSignatures};
use portcullis::saml::messages::format_instant;
use portcullis::saml::xml::{self, Element};
use portcullis::saml::{NS_ASSERTION, NS_PROTOCOL};
use portcullis::tenancy::Org;

pub(crate) const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
pub(crate) const SP: &str = "https://hr.example.com/saml/metadata";
pub(crate) const ACS: &str = "https://hr.example.com/saml/acs";

/// An org with Alice (an admin), its SAML app for `SP` and the SP's signing key (another
/// org's SAML key, whose certificate is registered as the SP's).
pub(crate) struct World {
    pub app: TestApp,
    pub acme: Org,
    pub sp_key: SigningKey,
    pub client_id: String,
}

pub(crate) fn pem(cert: &Certificate) -> String {
    let b64 = cert.base64();
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

pub(crate) async fn world(backend: &crate::helpers::Backend, require_signed: bool) -> World {
    world_with(backend, require_signed, |_| {}).await
}

pub(crate) async fn world_with(
    backend: &crate::helpers::Backend,
    require_signed: bool,
    tweak: impl FnOnce(&mut CreateApp),
) -> World {
    world_on(TestApp::spawn_oidc(backend).await, require_signed, tweak).await
}

/// `world_with` on a node of the caller's (e.g. one configured otherwise).
pub(crate) async fn world_on(
    app: TestApp,
    require_signed: bool,
    tweak: impl FnOnce(&mut CreateApp),
) -> World {
    let acme = org_with(&app, "acme", Role::Admin).await;
    let sp_org = app
        .state
        .orgs
        .create("sp-keys", None, "test")
        .await
        .unwrap();
    let sp_key = app.state.saml.signing_key(&sp_org).await.unwrap();
    let mut req = CreateApp::new("HR", AppType::Saml);
    req.saml = Some(SamlRequest {
        sp_entity_id: SP.to_owned(),
        acs_urls: vec![AcsRequest {
            url: ACS.to_owned(),
            binding: None,
            index: None,
        }],
        sp_certificate: Some(pem(sp_key.certificate())),
        require_signed_requests: require_signed,
        ..SamlRequest::default()
    });
    tweak(&mut req);
    let (saml_app, _) = app.state.apps.create(&acme, req, "test").await.unwrap();
    World {
        app,
        acme,
        sp_key,
        client_id: saml_app.client_id,
    }
}

/// An AuthnRequest as an SP writes it.
pub(crate) fn authn_request(
    w: &World,
    id: &str,
    destination: &str,
    issuer: &str,
    acs: &str,
) -> String {
    let now = portcullis::clock::Clock::now(w.app.clock.as_ref());
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{destination}\" AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>",
        format_instant(now)
    )
}

pub(crate) fn sso_url(w: &World) -> String {
    format!("{}/saml/sso", w.app.issuer("acme"))
}

/// The request's `GET /o/acme/saml/sso?…` path over HTTP-Redirect, signed or not.
pub(crate) fn redirect_path(w: &World, xml: &str, relay: Option<&str>, signed: bool) -> String {
    let dsig = Bergshamra;
    let signer: Option<(&dyn XmlSignatures, &SigningKey)> = signed.then_some((&dsig, &w.sp_key));
    let query = encode_redirect(MessageKind::Request, xml, relay, signer).unwrap();
    format!("/o/acme/saml/sso?{query}")
}

/// Follows the node's redirects from `first`, signing in when the sign-in form shows, until a
/// page that is not a redirect; returns it.
pub(crate) async fn follow(b: &mut Browser, first: Page) -> Page {
    follow_counting(b, first).await.0
}

/// `follow`, and how many times the sign-in form was filled in on the way.
pub(crate) async fn follow_counting(b: &mut Browser, first: Page) -> (Page, u32) {
    let (mut page, mut logins) = (first, 0);
    for _ in 0..10 {
        if page.status == 200 && page.body.contains("name=\"password\"") {
            page = submit_login(b, "acme", &page).await;
            logins += 1;
            continue;
        }
        if page.status != 303 {
            return (page, logins);
        }
        let next = local_path(page.location());
        assert!(next.starts_with("/o/acme/"), "{next}");
        page = b.get(&next).await;
    }
    panic!("too many redirects");
}

/// The ACS URL, the Response's XML and the RelayState of the form-post page.
pub(crate) fn posted(page: &Page) -> (String, String, Option<String>) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("/assets/form_post.js"), "{}", page.body);
    let action = html_attr_after(&page.body, "<form method=\"post\"", "action");
    let b64 = html_attr_after(&page.body, "name=\"SAMLResponse\"", "value");
    let xml = portcullis::saml::binding::decode_post(&b64).unwrap();
    let relay = page
        .body
        .contains("name=\"RelayState\"")
        .then(|| html_attr_after(&page.body, "name=\"RelayState\"", "value"));
    (action, xml, relay)
}

pub(crate) fn child<'a>(e: &'a Element, ns: &'static str, name: &'static str) -> &'a Element {
    e.child(ns, name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name}"))
}

pub(crate) fn text(e: &Element, path: &[&'static str]) -> String {
    let mut at = e;
    for name in path {
        at = child(at, NS_ASSERTION, name);
    }
    at.text().unwrap()
}

/// Checks a successful Response to `request_id` (None: unsolicited, IdP-initiated) and returns
/// its SessionIndex.
pub(crate) async fn check_response(w: &World, xml_text: &str, request_id: Option<&str>) -> String {
    let m = metadata(&w.app, "acme").await;
    // The Response's signature (the first) by xmlsec1; the Assertion, signed on its own and
    // verifiable alone (exclusive C14N), by our verifier and by xmlsec1.
    let cert = &m.certificates[0];
    assert!(xmlsec1_verifies_root(
        xml_text,
        cert,
        &format!("{NS_PROTOCOL}:Response")
    ));
    let start = xml_text.find("<saml:Assertion").unwrap();
    let end = xml_text.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let alone = &xml_text[start..end];
    let policy = VerifyPolicy {
        root_ns: NS_ASSERTION,
        root_name: "Assertion",
        allow_sha1: false,
    };
    Bergshamra
        .verify_enveloped(alone, &m.certificates, &policy)
        .unwrap();
    assert!(xmlsec1_verifies_root(
        alone,
        cert,
        &format!("{NS_ASSERTION}:Assertion")
    ));
    let other = Bergshamra.verify_enveloped(alone, &[w.sp_key.certificate().clone()], &policy);
    assert!(other.is_err(), "not by another key");
    let root = xml::parse(xml_text).unwrap();
    assert_eq!(root.attr("InResponseTo"), request_id);
    assert_eq!(root.attr("Destination"), Some(ACS));
    let status = child(
        child(&root, NS_PROTOCOL, "Status"),
        NS_PROTOCOL,
        "StatusCode",
    );
    assert_eq!(status.attr("Value"), Some(portcullis::saml::STATUS_SUCCESS));
    let assertion = child(&root, NS_ASSERTION, "Assertion");
    assert_eq!(
        text(assertion, &["Issuer"]),
        m.root.attr("entityID").unwrap()
    );
    assert_eq!(
        text(assertion, &["Subject", "NameID"]),
        crate::signin::EMAIL
    );
    let data = child(
        child(
            child(assertion, NS_ASSERTION, "Subject"),
            NS_ASSERTION,
            "SubjectConfirmation",
        ),
        NS_ASSERTION,
        "SubjectConfirmationData",
    );
    assert_eq!(data.attr("Recipient"), Some(ACS));
    assert_eq!(data.attr("InResponseTo"), request_id);
    let now = portcullis::clock::Clock::now(w.app.clock.as_ref());
    assert_eq!(
        data.attr("NotOnOrAfter"),
        Some(format_instant(now + chrono::Duration::minutes(5)).as_str())
    );
    assert_eq!(
        text(
            assertion,
            &["Conditions", "AudienceRestriction", "Audience"]
        ),
        SP
    );
    assert_eq!(
        text(
            assertion,
            &["AuthnStatement", "AuthnContext", "AuthnContextClassRef"]
        ),
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    );
    assert!(
        xml_text.contains(">Alice</saml:AttributeValue>"),
        "{xml_text}"
    );
    child(assertion, NS_ASSERTION, "AuthnStatement")
        .attr("SessionIndex")
        .unwrap()
        .to_owned()
}

/// The SessionIndex is a live app session of the SAML app in Alice's session list.
pub(crate) async fn app_session_listed(w: &World, session_index: &str) {
    let token = service_token(&w.app, &w.acme).await;
    let alice = w
        .app
        .state
        .store
        .users(w.acme.id, None)
        .await
        .unwrap()
        .remove(0)
        .id;
    let list = call(
        &w.app,
        "get",
        &format!("/orgs/acme/users/{alice}/sessions"),
        Some(&token),
    )
    .await;
    assert_eq!(list.status, 200, "{list:?}");
    let found = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["app_sessions"].as_array().unwrap().iter())
        .any(|a| a["id"] == session_index && a["client_id"] == w.client_id.as_str());
    assert!(found, "{session_index} in {}", list.json);
}

both_backends!(
    sso_over_redirect_signs_in_and_posts_a_signed_response,
    |backend| {
        let w = world(&backend, true).await;
        let xml = authn_request(&w, "_req-redirect-1", &sso_url(&w), SP, ACS);
        let relay = "x".repeat(80);
        let mut b = Browser::new(&w.app.address, UA);
        let first = b.get(&redirect_path(&w, &xml, Some(&relay), true)).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let page = follow(&mut b, first).await;
        let (action, response, relay_back) = posted(&page);
        assert_eq!(action, ACS);
        assert_eq!(
            relay_back.as_deref(),
            Some(relay.as_str()),
            "passed through unchanged"
        );
        let index = check_response(&w, &response, Some("_req-redirect-1")).await;
        app_session_listed(&w, &index).await;

        // Signed in now: a second request is answered at once, with a new app session.
        let xml = authn_request(&w, "_req-redirect-2", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, true)).await;
        let pending = local_path(first.location());
        let page = follow(&mut b, first).await;
        assert!(!page.body.contains("name=\"password\""));
        let (_, response, relay_back) = posted(&page);
        assert_eq!(relay_back, None);
        let second = check_response(&w, &response, Some("_req-redirect-2")).await;
        assert_ne!(second, index);
        // The pending request was used up by its answer.
        let again = b.get(&pending).await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert!(again.body.contains("no longer valid"), "{}", again.body);
    }
);

both_backends!(sso_over_post_verifies_the_enveloped_signature, |backend| {
    let w = world(&backend, true).await;
    let xml = authn_request(&w, "_req-post-1", &sso_url(&w), SP, ACS);
    let signed = Bergshamra.sign_enveloped(&xml, &w.sp_key).unwrap();
    let b64 = portcullis::saml::binding::encode_post(&signed);
    let mut b = Browser::new(&w.app.address, UA);
    let first = b
        .post(
            "/o/acme/saml/sso",
            &[
                ("SAMLRequest", b64.as_str()),
                ("RelayState", "back/to?x=1&y"),
            ],
        )
        .await;
    assert_eq!(first.status, 303, "{}", first.body);
    let page = follow(&mut b, first).await;
    let (action, response, relay) = posted(&page);
    assert_eq!(action, ACS);
    assert_eq!(relay.as_deref(), Some("back/to?x=1&y"));
    let index = check_response(&w, &response, Some("_req-post-1")).await;
    app_session_listed(&w, &index).await;

    // Tampered after signing: refused.
    let tampered = signed.replace(ACS, "https://hr.example.com/saml/acs2");
    let res = b
        .post(
            "/o/acme/saml/sso",
            &[(
                "SAMLRequest",
                portcullis::saml::binding::encode_post(&tampered).as_str(),
            )],
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
});

/// The request is refused with a page (400, no redirect) whose text holds `why`.
pub(crate) async fn refused(w: &World, path: &str, why: &str) {
    let mut b = Browser::new(&w.app.address, UA);
    let res = b.get(path).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.headers.get("location").is_none());
    assert!(res.body.contains(why), "{why} in {}", res.body);
}

both_backends!(a_replayed_request_id_is_refused, |backend| {
    let w = world(&backend, false).await;
    let xml = authn_request(&w, "_req-replay", &sso_url(&w), SP, ACS);
    let path = redirect_path(&w, &xml, None, true);
    let mut b = Browser::new(&w.app.address, UA);
    assert_eq!(b.get(&path).await.status, 303);
    refused(&w, &path, "already used").await;
    // Signed or not, the same ID from the same SP.
    refused(&w, &redirect_path(&w, &xml, None, false), "already used").await;
});

both_backends!(a_wrong_destination_is_refused, |backend| {
    let w = world(&backend, false).await;
    let other = format!("{}/saml/sso", w.app.issuer("other"));
    let xml = authn_request(&w, "_req-dest", &other, SP, ACS);
    refused(&w, &redirect_path(&w, &xml, None, true), "Destination").await;
    refused(&w, &redirect_path(&w, &xml, None, false), "Destination").await;
});

both_backends!(an_unregistered_acs_url_is_refused, |backend| {
    let w = world(&backend, false).await;
    let xml = authn_request(&w, "_req-acs", &sso_url(&w), SP, "https://evil.example/acs");
    refused(&w, &redirect_path(&w, &xml, None, true), "not registered").await;
});

both_backends!(another_orgs_sp_entity_id_is_unknown, |backend| {
    let w = world(&backend, false).await;
    let globex = org_with(&w.app, "globex", Role::Admin).await;
    let mut req = CreateApp::new("Payroll", AppType::Saml);
    req.saml = Some(SamlRequest {
        sp_entity_id: "https://payroll.example.com".to_owned(),
        acs_urls: vec![AcsRequest {
            url: "https://payroll.example.com/acs".to_owned(),
            binding: None,
            index: None,
        }],
        ..SamlRequest::default()
    });
    w.app.state.apps.create(&globex, req, "test").await.unwrap();
    let xml = authn_request(
        &w,
        "_req-org",
        &sso_url(&w),
        "https://payroll.example.com",
        "https://payroll.example.com/acs",
    );
    refused(
        &w,
        &redirect_path(&w, &xml, None, false),
        "Unknown service provider",
    )
    .await;
});

both_backends!(an_81_byte_relay_state_is_refused, |backend| {
    let w = world(&backend, false).await;
    let xml = authn_request(&w, "_req-relay", &sso_url(&w), SP, ACS);
    let query = encode_redirect(MessageKind::Request, &xml, None, None).unwrap();
    let path = format!("/o/acme/saml/sso?{query}&RelayState={}", "r".repeat(81));
    refused(&w, &path, "RelayState").await;
    let mut b = Browser::new(&w.app.address, UA);
    let b64 = portcullis::saml::binding::encode_post(&xml);
    let relay = "r".repeat(81);
    let res = b
        .post(
            "/o/acme/saml/sso",
            &[
                ("SAMLRequest", b64.as_str()),
                ("RelayState", relay.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
});

both_backends!(
    an_unsigned_request_is_refused_when_the_app_requires_signatures,
    |backend| {
        let w = world(&backend, true).await;
        let xml = authn_request(&w, "_req-unsigned", &sso_url(&w), SP, ACS);
        refused(&w, &redirect_path(&w, &xml, None, false), "not signed").await;
        let mut b = Browser::new(&w.app.address, UA);
        let b64 = portcullis::saml::binding::encode_post(&xml);
        let res = b
            .post("/o/acme/saml/sso", &[("SAMLRequest", b64.as_str())])
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        // Signed by another key than the registered certificate's: refused too.
        let stranger = w.app.state.saml.signing_key(&w.acme).await.unwrap();
        let dsig = Bergshamra;
        let query = encode_redirect(
            MessageKind::Request,
            &xml,
            None,
            Some((&dsig as &dyn XmlSignatures, &stranger)),
        )
        .unwrap();
        refused(&w, &format!("/o/acme/saml/sso?{query}"), "signature").await;
    }
);

fn status_codes(xml_text: &str) -> Vec<String> {
    let root = xml::parse(xml_text).unwrap();
    let mut out = Vec::new();
    let mut at = child(&root, NS_PROTOCOL, "Status");
    while let Ok(Some(code)) = at.child(NS_PROTOCOL, "StatusCode") {
        out.push(code.attr("Value").unwrap().to_owned());
        at = code;
    }
    out
}

fn authn_instant(xml_text: &str) -> String {
    let root = xml::parse(xml_text).unwrap();
    let assertion = child(&root, NS_ASSERTION, "Assertion");
    child(assertion, NS_ASSERTION, "AuthnStatement")
        .attr("AuthnInstant")
        .unwrap()
        .to_owned()
}

both_backends!(
    force_authn_signs_in_again_and_is_passive_never_shows_a_page,
    |backend| {
        let w = world(&backend, false).await;
        let now = || portcullis::clock::Clock::now(w.app.clock.as_ref());
        // IsPassive, not signed in: Responder/NoPassive to the ACS, signed, no page shown.
        let mut b = Browser::new(&w.app.address, UA);
        let passive = authn_request(&w, "_req-passive-1", &sso_url(&w), SP, ACS)
            .replace(" Version=", " IsPassive=\"true\" Version=");
        let first = b.get(&redirect_path(&w, &passive, None, false)).await;
        let (page, logins) = follow_counting(&mut b, first).await;
        assert_eq!(logins, 0);
        let (action, response, _) = posted(&page);
        assert_eq!(action, ACS);
        assert_eq!(
            status_codes(&response),
            [
                portcullis::saml::STATUS_RESPONDER,
                "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
            ]
        );
        assert!(response.contains("InResponseTo=\"_req-passive-1\""));
        let m = metadata(&w.app, "acme").await;
        let policy = VerifyPolicy {
            root_ns: NS_PROTOCOL,
            root_name: "Response",
            allow_sha1: false,
        };
        Bergshamra
            .verify_enveloped(&response, &m.certificates, &policy)
            .unwrap();

        // Signed in: a passive request is answered with the session as it is.
        let xml = authn_request(&w, "_req-first", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let (page, logins) = follow_counting(&mut b, first).await;
        assert_eq!(logins, 1);
        let signed_in_at = format_instant(now());
        assert_eq!(authn_instant(&posted(&page).1), signed_in_at);
        w.app.clock.advance(chrono::Duration::seconds(90));
        let passive = authn_request(&w, "_req-passive-2", &sso_url(&w), SP, ACS)
            .replace(" Version=", " IsPassive=\"true\" Version=");
        let first = b.get(&redirect_path(&w, &passive, None, false)).await;
        let (page, logins) = follow_counting(&mut b, first).await;
        assert_eq!(logins, 0);
        let response = posted(&page).1;
        assert_eq!(status_codes(&response), [portcullis::saml::STATUS_SUCCESS]);
        assert_eq!(authn_instant(&response), signed_in_at);

        // ForceAuthn: the password again, though signed in; the assertion says when.
        let forced = authn_request(&w, "_req-force", &sso_url(&w), SP, ACS)
            .replace(" Version=", " ForceAuthn=\"true\" Version=");
        let first = b.get(&redirect_path(&w, &forced, None, false)).await;
        let (page, logins) = follow_counting(&mut b, first).await;
        assert_eq!(logins, 1, "signed in again");
        let response = posted(&page).1;
        check_response(&w, &response, Some("_req-force")).await;
        assert_eq!(authn_instant(&response), format_instant(now()));
        assert_ne!(authn_instant(&response), signed_in_at);
    }
);

both_backends!(
    an_app_requiring_mfa_sends_a_password_session_to_step_up,
    |backend| {
        let w = world_with(&backend, false, |r| {
            let mut rules = r.session_profile.preset();
            rules.mfa_required = true;
            r.rules = Some(rules);
        })
        .await;
        let mut b = Browser::new(&w.app.address, UA);
        b.sign_in("acme", crate::signin::EMAIL, crate::signin::PASSWORD, false)
            .await;
        let xml = authn_request(&w, "_req-mfa", &sso_url(&w), SP, ACS);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let pending = local_path(first.location());
        let next = b.get(&pending).await;
        assert_eq!(next.status, 303, "{}", next.body);
        let expected = format!(
            "/o/acme/login/step-up?return_to={}",
            url::form_urlencoded::byte_serialize(pending.as_bytes()).collect::<String>()
        );
        assert_eq!(next.location(), expected);
    }
);

both_backends!(
    an_sp_asking_for_mfa_gets_step_up_though_the_app_does_not_require_it,
    |backend| {
        let w = world(&backend, false).await;
        let mut b = Browser::new(&w.app.address, UA);
        b.sign_in("acme", crate::signin::EMAIL, crate::signin::PASSWORD, false)
            .await;
        let asks = |class: &str| {
            authn_request(&w, &format!("_req-ctx-{}", class.len()), &sso_url(&w), SP, ACS).replace(
                "</saml:Issuer>",
                &format!(
                    "</saml:Issuer><samlp:RequestedAuthnContext Comparison=\"exact\"><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"
                ),
            )
        };
        // The MFA profile: never answered with a password alone.
        let first = b
            .get(&redirect_path(
                &w,
                &asks("https://refeds.org/profile/mfa"),
                None,
                false,
            ))
            .await;
        let pending = local_path(first.location());
        let next = b.get(&pending).await;
        assert_eq!(next.status, 303, "{}", next.body);
        assert!(
            next.location().starts_with("/o/acme/login/step-up?"),
            "{}",
            next.location()
        );
        // A password class is met by the password session: the Response is posted.
        let xml = asks("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport");
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let page = b.get(&local_path(first.location())).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("SAMLResponse"), "{}", page.body);
    }
);

both_backends!(persistent_name_ids_are_stable_and_pairwise, |backend| {
    let w = world_with(&backend, false, |r| {
        if let Some(s) = r.saml.as_mut() {
            s.name_id_format = Some("persistent".to_owned());
        }
    })
    .await;
    let mut other = CreateApp::new("Payroll", AppType::Saml);
    other.saml = Some(SamlRequest {
        sp_entity_id: "https://payroll.example.com".to_owned(),
        acs_urls: vec![AcsRequest {
            url: "https://payroll.example.com/acs".to_owned(),
            binding: None,
            index: None,
        }],
        name_id_format: Some("persistent".to_owned()),
        ..SamlRequest::default()
    });
    w.app
        .state
        .apps
        .create(&w.acme, other, "test")
        .await
        .unwrap();
    let mut b = Browser::new(&w.app.address, UA);
    let mut name_id = async |id: &str, sp: &str, acs: &str| {
        let xml = authn_request(&w, id, &sso_url(&w), sp, acs);
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        let response = posted(&follow(&mut b, first).await).1;
        let root = xml::parse(&response).unwrap();
        let name = child(
            child(
                child(&root, NS_ASSERTION, "Assertion"),
                NS_ASSERTION,
                "Subject",
            ),
            NS_ASSERTION,
            "NameID",
        );
        assert_eq!(
            name.attr("Format"),
            Some(portcullis::saml::NAMEID_PERSISTENT)
        );
        name.text().unwrap()
    };
    let first = name_id("_req-p1", SP, ACS).await;
    let again = name_id("_req-p2", SP, ACS).await;
    let payroll = name_id(
        "_req-p3",
        "https://payroll.example.com",
        "https://payroll.example.com/acs",
    )
    .await;
    assert_eq!(first, again, "stable");
    assert_ne!(first, payroll, "pairwise");
    assert!(!first.contains('@') && first.len() >= 20, "{first}");
});

both_backends!(a_stale_request_is_refused, |backend| {
    let w = world(&backend, false).await;
    let xml = authn_request(&w, "_req-stale", &sso_url(&w), SP, ACS);
    w.app.clock.advance(chrono::Duration::minutes(6));
    refused(&w, &redirect_path(&w, &xml, None, false), "Expired").await;
});

/// Runs the pysaml2 SP (`tests/sp/pysaml2_sp.py`, PyPI `pysaml2`, installed by `.ci/run`):
/// its JSON answer, or its refusal.
pub(crate) fn pysaml2(mode: &str, args: &serde_json::Value) -> Result<serde_json::Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sp/pysaml2_sp.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(mode)
        .arg(args.to_string())
        .output()
        .expect("python3 with pysaml2 (.ci/run installs it)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

/// Sets the node's clock to the real one (pysaml2 checks the validity times against it) and
/// writes the IdP's metadata to a file for pysaml2: the file's folder (kept while in use) and
/// path.
pub(crate) async fn pysaml2_ready(w: &World) -> (tempfile::TempDir, std::path::PathBuf) {
    let node_now = portcullis::clock::Clock::now(w.app.clock.as_ref());
    w.app.clock.advance(chrono::Utc::now() - node_now);
    let dir = tempfile::tempdir().unwrap();
    let md_path = dir.path().join("idp.xml");
    let md = w.app.get("/o/acme/saml/metadata").await;
    std::fs::write(&md_path, md.text().await.unwrap()).unwrap();
    (dir, md_path)
}

/// pysaml2 reads the Response we posted for its request `request` and accepts it.
async fn pysaml2_accepts(
    w: &World,
    base: &serde_json::Value,
    request: &serde_json::Value,
    page: &Page,
) {
    let b64 = html_attr_after(&page.body, "name=\"SAMLResponse\"", "value");
    let mut args = base.clone();
    args["request_id"] = request["id"].clone();
    args["saml_response"] = b64.clone().into();
    let got = pysaml2("response", &args).unwrap();
    let m = metadata(&w.app, "acme").await;
    assert_eq!(got["name_id"], crate::signin::EMAIL);
    assert_eq!(got["name_id_format"], portcullis::saml::NAMEID_EMAIL);
    assert_eq!(got["attributes"]["email"][0], crate::signin::EMAIL);
    assert_eq!(got["attributes"]["name"][0], "Alice");
    assert_eq!(got["in_response_to"], request["id"]);
    assert_eq!(got["issuer"], m.root.attr("entityID").unwrap());
    app_session_listed(w, got["session_index"].as_str().unwrap()).await;
    // The same Response for another outstanding request: pysaml2 refuses it.
    args["request_id"] = "_another-request".into();
    assert!(pysaml2("response", &args).is_err());
}

both_backends!(pysaml2_signs_in_over_redirect_and_post, |backend| {
    let w = world(&backend, false).await;
    let (_dir, md_path) = pysaml2_ready(&w).await;
    let base = serde_json::json!({ "idp_metadata": md_path, "entity_id": SP, "acs": ACS });
    let mut b = Browser::new(&w.app.address, UA);

    // HTTP-Redirect, with the sign-in on the way.
    let mut args = base.clone();
    args["binding"] = "redirect".into();
    args["relay_state"] = "rs-redirect".into();
    let request = pysaml2("request", &args).unwrap();
    let url = request["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}?", sso_url(&w))), "{url}");
    let first = b.get(&local_path(url)).await;
    let (page, logins) = follow_counting(&mut b, first).await;
    assert_eq!(logins, 1);
    let (action, _, relay) = posted(&page);
    assert_eq!(action, ACS);
    assert_eq!(relay.as_deref(), Some("rs-redirect"));
    pysaml2_accepts(&w, &base, &request, &page).await;

    // HTTP-POST, signed in already.
    let mut args = base.clone();
    args["binding"] = "post".into();
    args["relay_state"] = "rs-post".into();
    let request = pysaml2("request", &args).unwrap();
    assert_eq!(request["destination"], sso_url(&w).as_str());
    let first = b
        .post(
            "/o/acme/saml/sso",
            &[
                ("SAMLRequest", request["SAMLRequest"].as_str().unwrap()),
                ("RelayState", "rs-post"),
            ],
        )
        .await;
    let page = follow(&mut b, first).await;
    assert_eq!(posted(&page).2.as_deref(), Some("rs-post"));
    pysaml2_accepts(&w, &base, &request, &page).await;
});

both_backends!(
    the_acs_is_chosen_by_index_or_default_and_posted_to_only,
    |backend| {
        let second = "https://hr.example.com/saml/acs-eu";
        let w = world_with(&backend, false, |r| {
            if let Some(s) = r.saml.as_mut() {
                s.acs_urls = vec![
                    AcsRequest {
                        url: ACS.to_owned(),
                        binding: None,
                        index: Some(1),
                    },
                    AcsRequest {
                        url: second.to_owned(),
                        binding: None,
                        index: Some(7),
                    },
                ];
            }
        })
        .await;
        let mut b = Browser::new(&w.app.address, UA);
        let no_acs = |id: &str| {
            authn_request(&w, id, &sso_url(&w), SP, ACS)
                .replace(&format!(" AssertionConsumerServiceURL=\"{ACS}\""), "")
        };
        // By index.
        let xml = no_acs("_req-index")
            .replace(" Version=", " AssertionConsumerServiceIndex=\"7\" Version=");
        let first = b.get(&redirect_path(&w, &xml, None, false)).await;
        assert_eq!(posted(&follow(&mut b, first).await).0, second);
        // Neither: the default (the first listed).
        let first = b
            .get(&redirect_path(&w, &no_acs("_req-default"), None, false))
            .await;
        assert_eq!(posted(&follow(&mut b, first).await).0, ACS);
        // An unknown index, both a URL and an index, a binding other than POST: refused.
        let unknown = no_acs("_req-idx9")
            .replace(" Version=", " AssertionConsumerServiceIndex=\"9\" Version=");
        refused(
            &w,
            &redirect_path(&w, &unknown, None, false),
            "not registered",
        )
        .await;
        let both = authn_request(&w, "_req-both", &sso_url(&w), SP, ACS)
            .replace(" Version=", " AssertionConsumerServiceIndex=\"1\" Version=");
        refused(&w, &redirect_path(&w, &both, None, false), "both").await;
        let artifact = authn_request(&w, "_req-artifact", &sso_url(&w), SP, ACS)
            .replace("bindings:HTTP-POST", "bindings:HTTP-Artifact");
        refused(
            &w,
            &redirect_path(&w, &artifact, None, false),
            "HTTP-POST binding only",
        )
        .await;
    }
);
