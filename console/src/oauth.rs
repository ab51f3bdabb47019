//! Sign-in with code + PKCE (S256): the console is a public app of each org. The verifier, the
//! state and the org's endpoints wait in session storage while the admin is at `/authorize`,
//! with the console page the admin was on (`pc.return`), where the console goes back afterwards.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_api_types::ConsoleClient;
use sha2::{Digest, Sha256};

use crate::api::{Auth, enc, read, unreachable};

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|_| "no Web Crypto")?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| "no randomness")?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The browser tab's session storage.
pub(crate) fn storage() -> Result<web_sys::Storage, String> {
    web_sys::window()
        .ok_or("no window")?
        .session_storage()
        .ok()
        .flatten()
        .ok_or_else(|| "no session storage".to_owned())
}

/// Starts the sign-in: PKCE verifier and state into session storage, then the org's /authorize.
pub(crate) async fn start_sign_in(org: String) -> Result<(), String> {
    let org = org.trim().to_lowercase();
    if org.is_empty() {
        return Err("Enter your organization's id (the slug in its URLs).".into());
    }
    let response =
        gloo_net::http::Request::get(&format!("/api/v1/console-client?org={}", enc(&org)))
            .send()
            .await
            .map_err(unreachable)?;
    let client: ConsoleClient = read(response)
        .await
        .map_err(|e| format!("No organization '{org}' ({e})"))?;
    let verifier = random_token()?;
    let state = random_token()?;
    let s = storage()?;
    // The page to come back to: where the admin is now, when it is this org's console.
    let here = web_sys::window()
        .map(|w| w.location())
        .map(|l| l.pathname().unwrap_or_default() + &l.search().unwrap_or_default())
        .unwrap_or_default();
    match return_path(Some(&here), &org) {
        Some(path) => s.set_item("pc.return", &path),
        None => s.remove_item("pc.return"),
    }
    .map_err(|_| "session storage refused")?;
    for (k, v) in [
        ("pc.org", org.as_str()),
        ("pc.verifier", verifier.as_str()),
        ("pc.state", state.as_str()),
        ("pc.issuer", client.issuer.as_str()),
        ("pc.client_id", client.client_id.as_str()),
        ("pc.redirect_uri", client.redirect_uri.as_str()),
    ] {
        s.set_item(k, v).map_err(|_| "session storage refused")?;
    }
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256",
        client.issuer,
        enc(&client.client_id),
        enc(&client.redirect_uri),
        enc("openid profile email"),
        enc(&state),
        enc(&pkce_challenge(&verifier)),
    );
    web_sys::window()
        .ok_or("no window")?
        .location()
        .assign(&url)
        .map_err(|_| "could not go to the sign-in page".to_owned())
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// The console page of `org` that `stored` names, if it is one: a same-origin path under
/// `/console/{org}` (never another origin, another org's page, or a path that climbs out).
pub fn return_path(stored: Option<&str>, org: &str) -> Option<String> {
    let path = stored?;
    let base = format!("/console/{org}");
    let rest = path.strip_prefix(&base)?;
    let safe = !org.is_empty()
        && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        && !path.contains("..")
        && !path.contains('\\')
        && !path.contains("//")
        && !path.chars().any(char::is_control);
    safe.then(|| path.to_owned())
}

/// Whether this load is the sign-in's callback (`/console/?code=…` or `?error=…`).
pub(crate) fn is_callback() -> bool {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return false;
    };
    let search = location.search().unwrap_or_default();
    location.pathname().is_ok_and(|p| p == "/console/")
        && (search.contains("code=") || search.contains("error="))
}

/// Back from /authorize with `?code=&state=`: exchanges the code, and answers the admin with
/// the console page to go back to. `Ok(None)` when this load is not a sign-in callback.
pub(crate) async fn finish_sign_in() -> Result<Option<(Auth, String)>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let search = window.location().search().unwrap_or_default();
    if !is_callback() {
        return Ok(None);
    }
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad URL")?;
    // Whatever happens next, the code leaves the address bar (the router then goes on to the
    // page the sign-in started from).
    let _ = window
        .history()
        .map(|h| h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/console/")));
    if let Some(error) = params.get("error") {
        return Err(format!(
            "Sign-in failed: {error} {}",
            params.get("error_description").unwrap_or_default()
        ));
    }
    let Some(code) = params.get("code") else {
        return Ok(None);
    };
    let s = storage()?;
    let get = |k: &str| s.get_item(k).ok().flatten().unwrap_or_default();
    if params.get("state").unwrap_or_default() != get("pc.state") || get("pc.state").is_empty() {
        return Err("Sign-in failed: the answer does not belong to this browser's request. Please sign in again.".into());
    }
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
        enc(&code),
        enc(&get("pc.redirect_uri")),
        enc(&get("pc.client_id")),
        enc(&get("pc.verifier")),
    );
    let _ = s.remove_item("pc.verifier");
    let _ = s.remove_item("pc.state");
    let response = gloo_net::http::Request::post(&format!("{}/token", get("pc.issuer")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(unreachable)?;
    if !response.ok() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("Sign-in failed: {text}"));
    }
    let answer: TokenAnswer = response.json().await.map_err(|e| e.to_string())?;
    let org = get("pc.org");
    let back = return_path(Some(&get("pc.return")), &org).unwrap_or(format!("/console/{org}"));
    let _ = s.remove_item("pc.return");
    Ok(Some((
        Auth {
            org,
            token: answer.access_token,
        },
        back,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_this_orgs_console_pages_are_returned_to() {
        let ok = |p: &str| return_path(Some(p), "demo");
        assert_eq!(
            ok("/console/demo/apps/a1").as_deref(),
            Some("/console/demo/apps/a1")
        );
        assert_eq!(ok("/console/demo").as_deref(), Some("/console/demo"));
        assert_eq!(
            ok("/console/demo/deliveries?status=failed").as_deref(),
            Some("/console/demo/deliveries?status=failed")
        );
        for bad in [
            "",
            "/console/",
            "/console/other/apps",
            "/console/demo2/apps",
            "https://evil.example/console/demo",
            "//evil.example/console/demo",
            "/console/demo//evil.example",
            "/console/demo/../../o/demo/account",
            "/console/demo/\\evil",
            "/o/demo/account",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
        assert_eq!(return_path(None, "demo"), None);
        assert_eq!(return_path(Some("/console/"), ""), None);
    }
}
