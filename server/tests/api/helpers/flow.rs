//! OpenID Connect in the browser: an org with Alice, her sign-in on the hosted pages, and the
//! redirects of an authorization request followed to the app.

use super::{TestApp, html_attr_after, local_path};
use crate::browser::{Browser, Page};
use portcullis::tenancy::Org;

/// An org with the user of `crate::signin` (EMAIL / PASSWORD, named Alice).
pub async fn org_with_alice(app: &TestApp, slug: &str) -> Org {
    let org = app
        .state
        .orgs
        .create(slug, Some("Test Org"), "test")
        .await
        .unwrap();
    let req = portcullis::accounts::CreateUser {
        email: crate::signin::EMAIL,
        password: Some(crate::signin::PASSWORD),
        name: Some("Alice"),
        role: portcullis::accounts::Role::Member,
    };
    app.state
        .accounts
        .create_user(&org, req, "test")
        .await
        .unwrap();
    org
}

/// Submits the password form of a sign-in page already fetched, echoing its hidden fields.
pub async fn submit_login(b: &mut Browser, org: &str, login: &Page) -> Page {
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let csrf = login.csrf();
    let return_to = html_attr_after(&login.body, "name=\"return_to\"", "value");
    b.post(
        &format!("/o/{org}/login"),
        &[
            ("email", crate::signin::EMAIL),
            ("password", crate::signin::PASSWORD),
            ("csrf", &csrf),
            ("return_to", &return_to),
        ],
    )
    .await
}

/// Opens `authorize` (a path or URL) and follows the node's redirects, signing in with the
/// password when the sign-in form shows, until the node sends the browser to `redirect_uri`;
/// returns that full location.
pub async fn follow_to_app(
    b: &mut Browser,
    org: &str,
    redirect_uri: &str,
    authorize: &str,
) -> String {
    let mut page = b.get(&local_path(authorize)).await;
    for _ in 0..10 {
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location().to_owned();
        if location.starts_with(redirect_uri) {
            return location;
        }
        let path = local_path(&location);
        page = b.get(&path).await;
        if page.status == 200
            && path.starts_with(&format!("/o/{org}/login"))
            && page.body.contains("name=\"password\"")
        {
            page = submit_login(b, org, &page).await;
        }
    }
    panic!("no redirect to {redirect_uri}");
}

/// The `pc_session` token of a browser at an org, hashed and looked up: the IdP session.
pub async fn idp_session(app: &TestApp, org: &Org, b: &Browser) -> portcullis::sessions::Session {
    let token = b.session(org.slug.as_str()).expect("a session cookie");
    let hash = portcullis::secrets::sha256_hex(&token);
    app.state
        .store
        .session_by_token_hash(org.id, &hash)
        .await
        .unwrap()
        .unwrap()
}
