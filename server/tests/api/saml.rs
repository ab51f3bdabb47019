//! SAML identity provider foundation (issue 20, items 1 and 5): the org's metadata, its
//! per-org signing certificate (made on first use, one per org, rotated with the org's keys)
//! and signatures made with it that verify with the certificate the metadata publishes.

use crate::helpers::TestApp;
use portcullis::saml::dsig::{Bergshamra, Certificate, VerifyPolicy, XmlSignatures};
use portcullis::saml::xml::{self, Element};
use portcullis::saml::{NS_ASSERTION, NS_DSIG, NS_METADATA, NS_PROTOCOL};
use portcullis::tenancy::{Org, OrgStatus};

/// The metadata of `org` as served, with its certificates.
pub(crate) struct Metadata {
    pub root: Element,
    pub certificates: Vec<Certificate>,
}

pub(crate) async fn metadata(app: &TestApp, org: &str) -> Metadata {
    let res = app.get(&format!("/o/{org}/saml/metadata")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/samlmetadata+xml"
    );
    let body = res.text().await.unwrap();
    let root = xml::parse(&body).unwrap();
    let certificates = idp(&root)
        .children_named(NS_METADATA, "KeyDescriptor")
        .map(|k| {
            assert_eq!(k.attr("use"), Some("signing"));
            let text = k
                .child(NS_DSIG, "KeyInfo")
                .unwrap()
                .unwrap()
                .child(NS_DSIG, "X509Data")
                .unwrap()
                .unwrap()
                .child(NS_DSIG, "X509Certificate")
                .unwrap()
                .unwrap()
                .text()
                .unwrap();
            Certificate::from_base64(&text).unwrap()
        })
        .collect();
    Metadata { root, certificates }
}

fn idp(root: &Element) -> &Element {
    root.child(NS_METADATA, "IDPSSODescriptor")
        .unwrap()
        .unwrap()
}

/// `(binding, location)` of every `md:{name}` of the IdP descriptor.
fn services(root: &Element, name: &str) -> Vec<(String, String)> {
    idp(root)
        .children_named(NS_METADATA, name)
        .map(|s| {
            (
                s.attr("Binding").unwrap().to_owned(),
                s.attr("Location").unwrap().to_owned(),
            )
        })
        .collect()
}

/// A LogoutResponse signed with the org's SAML key now.
async fn signed_by(app: &TestApp, org: &Org) -> String {
    let key = app.state.saml.signing_key(org).await.unwrap();
    let unsigned =
        portcullis::saml::build::logout_response(&portcullis::saml::build::LogoutResponseParams {
            id: "_resp1",
            issue_instant: portcullis::clock::Clock::now(app.clock.as_ref()),
            issuer: &app.state.saml.entity_id(org),
            destination: Some("https://sp.example/slo"),
            in_response_to: "_req1",
            status: portcullis::saml::STATUS_SUCCESS,
        });
    app.state
        .saml
        .dsig()
        .sign_enveloped(&unsigned, &key)
        .unwrap()
}

fn verifies(signed: &str, certs: &[Certificate]) -> bool {
    let policy = VerifyPolicy {
        root_ns: NS_PROTOCOL,
        root_name: "LogoutResponse",
        allow_sha1: false,
    };
    Bergshamra.verify_enveloped(signed, certs, &policy).is_ok()
}

/// Whether Debian's `xmlsec1` (an independent verifier, as SPs use it) verifies a signed
/// LogoutResponse with `cert` taken from the metadata.
fn xmlsec1_verifies(signed: &str, cert: &Certificate) -> bool {
    xmlsec1_verifies_root(
        signed,
        cert,
        "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
    )
}

/// Whether `xmlsec1` verifies `signed` with `cert`, the signed element being `node`
/// (`{namespace}:{name}`, whose `ID` is the reference).
pub(crate) fn xmlsec1_verifies_root(signed: &str, cert: &Certificate, node: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (doc, pem) = (dir.path().join("doc.xml"), dir.path().join("cert.pem"));
    std::fs::write(&doc, signed).unwrap();
    let b64 = cert.base64();
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let text = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    std::fs::write(&pem, text).unwrap();
    std::process::Command::new("xmlsec1")
        .args([
            "--verify",
            "--enabled-key-data",
            "raw-x509-cert",
            "--pubkey-cert-pem",
        ])
        .arg(&pem)
        .args(["--id-attr:ID", node])
        .arg(&doc)
        .output()
        .expect("xmlsec1 (Debian package xmlsec1) must be installed: .ci/run installs it")
        .status
        .success()
}

both_backends!(
    metadata_publishes_the_orgs_own_certificate_and_endpoints,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let acme = app.state.orgs.create("acme", None, "test").await.unwrap();
        let globex = app.state.orgs.create("globex", None, "test").await.unwrap();
        let issuer = format!("{}/o/acme", app.state.config.public_url());

        let m = metadata(&app, "acme").await;
        assert!(m.root.is(NS_METADATA, "EntityDescriptor"));
        assert_eq!(
            m.root.attr("entityID"),
            Some(format!("{issuer}/saml").as_str())
        );
        assert_eq!(
            idp(&m.root).attr("protocolSupportEnumeration"),
            Some(NS_PROTOCOL)
        );
        let (sso, slo) = (format!("{issuer}/saml/sso"), format!("{issuer}/saml/slo"));
        let bindings = |kinds: &[&str], at: &str| -> Vec<(String, String)> {
            kinds
                .iter()
                .map(|k| {
                    (
                        format!("urn:oasis:names:tc:SAML:2.0:bindings:{k}"),
                        at.to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(
            services(&m.root, "SingleSignOnService"),
            bindings(&["HTTP-Redirect", "HTTP-POST"], &sso)
        );
        assert_eq!(
            services(&m.root, "SingleLogoutService"),
            bindings(&["HTTP-Redirect", "HTTP-POST", "SOAP"], &slo)
        );
        let formats: Vec<String> = idp(&m.root)
            .children_named(NS_METADATA, "NameIDFormat")
            .map(|f| f.text().unwrap())
            .collect();
        assert_eq!(
            formats,
            [
                portcullis::saml::NAMEID_EMAIL,
                portcullis::saml::NAMEID_PERSISTENT,
                portcullis::saml::NAMEID_TRANSIENT
            ]
        );
        assert_eq!(m.certificates.len(), 1);

        // The certificate is the org's: what it signs verifies with it, and with no other org's.
        let signed = signed_by(&app, &acme).await;
        assert!(signed.contains(&m.certificates[0].base64()));
        assert!(verifies(&signed, &m.certificates));
        assert!(xmlsec1_verifies(&signed, &m.certificates[0]), "{signed}");
        let g = metadata(&app, "globex").await;
        assert_eq!(g.certificates.len(), 1);
        assert_ne!(g.certificates, m.certificates);
        assert!(!verifies(&signed, &g.certificates));
        assert!(!xmlsec1_verifies(&signed, &g.certificates[0]));
        assert!(verifies(&signed_by(&app, &globex).await, &g.certificates));
        // The issuer of our messages is the metadata's entity id.
        let parsed = xml::parse(&signed).unwrap();
        let issuer_text = parsed
            .child(NS_ASSERTION, "Issuer")
            .unwrap()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(Some(issuer_text.as_str()), m.root.attr("entityID"));

        // Stable: asked again, and at another node on the same database, the same certificate.
        assert_eq!(metadata(&app, "acme").await.certificates, m.certificates);
        let node2 = TestApp::spawn_on(&app.db_url, app.redis.clone(), |f| f).await;
        assert_eq!(metadata(&node2, "acme").await.certificates, m.certificates);
    }
);

both_backends!(
    metadata_of_an_unknown_or_disabled_org_is_refused_like_discovery,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        app.state.orgs.create("acme", None, "test").await.unwrap();
        assert_eq!(app.get("/o/nope/saml/metadata").await.status(), 404);
        assert_eq!(app.get("/o/acme/saml/metadata").await.status(), 200);
        app.state
            .orgs
            .set_status("acme", OrgStatus::Disabled, "test")
            .await
            .unwrap();
        for path in [
            "/o/acme/saml/metadata",
            "/o/acme/.well-known/openid-configuration",
        ] {
            let res = app.get(path).await;
            assert_eq!(res.status(), 403, "{path}");
            assert!(res.text().await.unwrap().contains("Organization disabled"));
        }
    }
);

both_backends!(
    the_certificate_rotates_with_the_orgs_signing_keys,
    |backend| {
        let app = TestApp::spawn(&backend).await;
        let acme = app.state.orgs.create("acme", None, "test").await.unwrap();
        let before = metadata(&app, "acme").await.certificates;
        assert_eq!(before.len(), 1);

        // The successor is published at once, beside the current one, and signs from its start.
        app.clock.advance(chrono::Duration::seconds(1));
        app.state
            .keys
            .rotate(&acme, None, chrono::Duration::hours(1))
            .await
            .unwrap();
        let during = metadata(&app, "acme").await.certificates;
        assert_eq!(during.len(), 2, "both published during the lead");
        assert!(during.contains(&before[0]));
        let next: Vec<Certificate> = during
            .iter()
            .filter(|c| **c != before[0])
            .cloned()
            .collect();
        assert!(
            verifies(&signed_by(&app, &acme).await, &before),
            "the old key signs until then"
        );

        app.clock
            .advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
        let signed = signed_by(&app, &acme).await;
        assert!(verifies(&signed, &next), "the new key signs from its start");
        assert!(!verifies(&signed, &before));
        // The old certificate leaves with its JOSE key (a day after the successor started).
        app.clock.advance(chrono::Duration::days(1));
        assert_eq!(metadata(&app, "acme").await.certificates, next);
    }
);

both_backends!(parallel_first_uses_make_one_certificate, |backend| {
    let app = TestApp::spawn(&backend).await;
    app.state.orgs.create("acme", None, "test").await.unwrap();
    let node2 = TestApp::spawn_on(&app.db_url, app.redis.clone(), |f| f).await;
    // Both nodes, four requests each, before the org has any SAML key: each may make one,
    // one is stored (a conditional update), and every answer names that one.
    let requests = (0..8).map(|i| {
        let node = if i % 2 == 0 { &app } else { &node2 };
        metadata(node, "acme")
    });
    let answers = futures_util::future::join_all(requests).await;
    let first = &answers[0].certificates;
    assert_eq!(first.len(), 1);
    for answer in &answers {
        assert_eq!(&answer.certificates, first);
    }
    assert_eq!(metadata(&app, "acme").await.certificates, *first);
    assert_eq!(metadata(&node2, "acme").await.certificates, *first);
});
