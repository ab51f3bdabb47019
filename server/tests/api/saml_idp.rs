//! IdP-initiated SAML SSO (issue 20, item 3): the account page lists the org's SAML apps
//! registered for it (no other app, no other org's); a CSRF-checked form post starts one,
//! through the same gates as an AuthnRequest (re-authentication age, MFA step-up, then back),
//! and the app gets an unsolicited signed Response (no `InResponseTo`) at its default ACS with
//! the RelayState it registered; pysaml2, configured to accept unsolicited Responses, takes it.
//! Any other id is the same 404 page.

use crate::admin_api::{org_with, service_token};
use crate::browser::{Browser, Page};
use crate::helpers::{local_path, query_params};
use crate::saml_sso::{
    ACS, SP, UA, World, app_session_listed, check_response, child, follow_counting, posted,
    pysaml2, pysaml2_ready, world_with,
};
use crate::signin::{EMAIL, PASSWORD};
use portcullis::accounts::Role;
use portcullis::apps::{AcsRequest, AppType, CreateApp, SamlRequest};
use portcullis::saml::NS_ASSERTION;
use portcullis::saml::messages::format_instant;
use portcullis::saml::xml;
use portcullis::tenancy::Org;

/// The app of `world_with` open to IdP-initiated SSO, with `relay` as its RelayState.
fn idp_on(relay: Option<&'static str>) -> impl FnOnce(&mut CreateApp) {
    move |r| {
        let s = r.saml.as_mut().unwrap();
        s.idp_initiated = true;
        s.idp_initiated_relay_state = relay.map(str::to_owned);
    }
}

/// Another SAML app of `org`, open to IdP-initiated SSO or not; its id.
async fn saml_app(w: &World, org: &Org, name: &str, entity: &str, idp: bool) -> String {
    let mut req = CreateApp::new(name, AppType::Saml);
    req.saml = Some(SamlRequest {
        sp_entity_id: entity.to_owned(),
        acs_urls: vec![AcsRequest {
            url: format!("{entity}/acs"),
            binding: None,
            index: None,
        }],
        idp_initiated: idp,
        ..SamlRequest::default()
    });
    let (app, _) = w.app.state.apps.create(org, req, "test").await.unwrap();
    app.id.to_string()
}

/// The HR app's id (the app of `world_with`).
async fn hr_id(w: &World) -> String {
    let hr = w.app.state.apps.saml_app(w.acme.id, SP).await.unwrap();
    hr.unwrap().id.to_string()
}

/// The account page and its "Open …" forms: (app name, form action).
async fn open_forms(b: &mut Browser) -> (Page, Vec<(String, String)>) {
    let page = b.get("/o/acme/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let forms = page
        .body
        .split("data-testid=\"startable-app\"")
        .skip(1)
        .map(|chunk| {
            let action = chunk.split("action=\"").nth(1).unwrap();
            let action = action.split('"').next().unwrap().to_owned();
            let name = chunk
                .split("data-testid=\"open-app\">Open ")
                .nth(1)
                .unwrap();
            let name = name.split("</button>").next().unwrap().to_owned();
            (name, action)
        })
        .collect();
    (page, forms)
}

/// A signed-in browser (password only).
async fn signed_in(w: &World) -> Browser {
    let mut b = Browser::new(&w.app.address, UA);
    b.sign_in("acme", EMAIL, PASSWORD, false).await;
    b
}

/// Posts the account page's form for the app `id` (with the page's CSRF token).
async fn open(b: &mut Browser, id: &str) -> Page {
    let csrf = b.get("/o/acme/account").await.csrf();
    b.post(
        &format!("/o/acme/saml/idp/{id}"),
        &[("csrf", csrf.as_str())],
    )
    .await
}

/// Checks an unsolicited, signed Response to the default ACS; returns its SessionIndex.
async fn check_unsolicited(w: &World, xml_text: &str) -> String {
    check_response(w, xml_text, None).await
}

both_backends!(
    the_account_page_opens_idp_initiated_apps_with_an_unsolicited_response,
    |backend| {
        let w = world_with(&backend, false, idp_on(Some("/welcome?tab=1&x"))).await;
        // Not listed: a SAML app not open to it, an OIDC app, another org's SAML app open to
        // it.
        let acme = w.acme.clone();
        saml_app(&w, &acme, "Payroll", "https://payroll.example.com", false).await;
        crate::helpers::Rp::web(&w.app, &w.acme, "shop").await;
        let globex = org_with(&w.app, "globex", Role::Admin).await;
        saml_app(&w, &globex, "Wiki", "https://wiki.example.com", true).await;

        let mut b = signed_in(&w).await;
        let (_, forms) = open_forms(&mut b).await;
        let hr = hr_id(&w).await;
        assert_eq!(forms, [("HR".to_owned(), format!("/o/acme/saml/idp/{hr}"))]);
        let page = open(&mut b, &hr).await;
        let (action, response, relay) = posted(&page);
        assert_eq!(action, ACS, "the default ACS");
        assert_eq!(relay.as_deref(), Some("/welcome?tab=1&x"), "as registered");
        let index = check_unsolicited(&w, &response).await;
        app_session_listed(&w, &index).await;
        // Again: a new answer and a new app session.
        let again = posted(&open(&mut b, &hr).await).1;
        assert_ne!(check_unsolicited(&w, &again).await, index);
    }
);

both_backends!(
    an_idp_initiated_start_needs_the_forms_csrf_token_and_a_session,
    |backend| {
        let w = world_with(&backend, false, idp_on(None)).await;
        let hr = hr_id(&w).await;
        let path = format!("/o/acme/saml/idp/{hr}");
        let mut b = signed_in(&w).await;
        b.get("/o/acme/account").await;
        for form in [vec![], vec![("csrf", "forged")]] {
            let res = b.post(&path, &form).await;
            assert_eq!(res.status, 403, "{}", res.body);
            assert!(!res.body.contains("SAMLResponse"));
        }
        // The right token from another origin: refused too.
        let csrf = b.csrf_cookie("acme");
        let res = w
            .app
            .client
            .post(format!("{}{path}", w.app.address))
            .header("origin", "https://evil.example")
            .header(
                "cookie",
                format!("pc_csrf={csrf}; pc_session={}", b.session("acme").unwrap()),
            )
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        // Not signed in (a valid token from the sign-in page): to the sign-in, no answer.
        let mut anonymous = Browser::new(&w.app.address, UA);
        let csrf = anonymous.get("/o/acme/login").await.csrf();
        let res = anonymous.post(&path, &[("csrf", csrf.as_str())]).await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert!(res.location().contains("/login"), "{}", res.location());
    }
);

both_backends!(
    apps_not_open_to_idp_initiated_sso_are_one_and_the_same_404,
    |backend| {
        let w = world_with(&backend, false, |_| {}).await;
        let acme = w.acme.clone();
        let globex = org_with(&w.app, "globex", Role::Admin).await;
        let other_org = saml_app(&w, &globex, "Wiki", "https://wiki.example.com", true).await;
        let oidc = crate::helpers::Rp::web(&w.app, &w.acme, "shop").await;
        let oidc_id = w
            .app
            .state
            .store
            .app_by_client_id(acme.id, &oidc.client_id)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string();
        let hr = hr_id(&w).await;
        let mut b = signed_in(&w).await;
        let (page, forms) = open_forms(&mut b).await;
        assert!(forms.is_empty() && !page.body.contains("startable-apps"));
        let random = uuid::Uuid::new_v4().to_string();
        let mut bodies = Vec::new();
        for id in [&hr, &other_org, &oidc_id, &random, &"not-an-id".to_owned()] {
            let res = open(&mut b, id).await;
            assert_eq!(res.status, 404, "{id}: {}", res.body);
            assert!(!res.body.contains("SAMLResponse"));
            bodies.push(res.body);
        }
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "no difference to learn from");
    }
);

/// Sets the HR app's `idp_initiated` through the admin API.
async fn set_idp_initiated(w: &World, on: bool) {
    let token = service_token(&w.app, &w.acme).await;
    let hr = hr_id(w).await;
    let res = w
        .app
        .client
        .patch(format!("{}/api/v1/orgs/acme/apps/{hr}", w.app.address))
        .bearer_auth(token)
        .json(&serde_json::json!({ "saml": { "idp_initiated": on } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

both_backends!(idp_initiated_sso_honours_mfa_step_up, |backend| {
    let w = world_with(&backend, false, |r| {
        idp_on(None)(r);
        let mut rules = r.session_profile.preset();
        rules.mfa_required = true;
        r.rules = Some(rules);
    })
    .await;
    let hr = hr_id(&w).await;
    let mut b = signed_in(&w).await;
    let res = open(&mut b, &hr).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let step_up = "/o/acme/login/step-up?return_to=";
    assert!(res.location().starts_with(step_up), "{}", res.location());
    let back = query_params(res.location())["return_to"].clone();
    assert!(back.starts_with("/o/acme/saml/sso/continue?p="), "{back}");
    // Back without the second factor: still the step-up, never an answer.
    let again = b.get(&back).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again.location().starts_with(step_up));
});

both_backends!(
    idp_initiated_sso_signs_in_again_past_the_apps_reauth_age,
    |backend| {
        let w = world_with(&backend, false, |r| {
            idp_on(None)(r);
            let mut rules = r.session_profile.preset();
            rules.reauth_max_age_secs = Some(300);
            r.rules = Some(rules);
        })
        .await;
        let hr = hr_id(&w).await;
        let mut b = signed_in(&w).await;
        w.app.clock.advance(chrono::Duration::minutes(10));
        let first = open(&mut b, &hr).await;
        assert_eq!(first.status, 303, "{}", first.body);
        assert!(
            first.location().contains("reauth=1"),
            "{}",
            first.location()
        );
        let (page, logins) = follow_counting(&mut b, first).await;
        assert_eq!(logins, 1, "the password again");
        let response = posted(&page).1;
        check_unsolicited(&w, &response).await;
        let now = portcullis::clock::Clock::now(w.app.clock.as_ref());
        let root = xml::parse(&response).unwrap();
        let assertion = child(&root, NS_ASSERTION, "Assertion");
        let statement = child(assertion, NS_ASSERTION, "AuthnStatement");
        assert_eq!(
            statement.attr("AuthnInstant"),
            Some(format_instant(now).as_str())
        );

        // Pending at the sign-in when the app stops allowing it: the way back is a 404.
        w.app.clock.advance(chrono::Duration::minutes(10));
        let first = open(&mut b, &hr).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let back = query_params(first.location())["return_to"].clone();
        set_idp_initiated(&w, false).await;
        let res = b.get(&local_path(&back)).await;
        assert_eq!(res.status, 404, "{}", res.body);
        let (_, forms) = open_forms(&mut b).await;
        assert!(forms.is_empty(), "no longer listed");
    }
);

both_backends!(pysaml2_accepts_an_unsolicited_response, |backend| {
    let w = world_with(&backend, false, idp_on(Some("rs-idp"))).await;
    let (_dir, md_path) = pysaml2_ready(&w).await;
    let mut b = signed_in(&w).await;
    let page = open(&mut b, &hr_id(&w).await).await;
    let (_, _, relay) = posted(&page);
    assert_eq!(relay.as_deref(), Some("rs-idp"));
    let b64 = crate::helpers::html_attr_after(&page.body, "name=\"SAMLResponse\"", "value");
    let args = serde_json::json!({
        "idp_metadata": md_path, "entity_id": SP, "acs": ACS, "saml_response": b64,
    });
    let got = pysaml2("unsolicited", &args).unwrap();
    assert_eq!(got["name_id"], EMAIL);
    assert_eq!(got["attributes"]["email"][0], EMAIL);
    assert!(got["in_response_to"].is_null(), "{got}");
    app_session_listed(&w, got["session_index"].as_str().unwrap()).await;
    // An SP that takes only answers to its own requests refuses it.
    let mut solicited = args.clone();
    solicited["request_id"] = "_a-request".into();
    assert!(pysaml2("response", &solicited).is_err());
});
