//! The admin API client: requests with the admin's bearer token, answers read into views or
//! into readable messages (the console's error type is that message, a `String`), and the
//! helpers that load answers into signals.

use leptos::prelude::*;
use portcullis_api_types::{DeploymentInfo, ErrorBody, Page, Problem};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::oauth::start_sign_in;

/// Where the console learns the deployment's name and version.
pub const DEPLOYMENT_URL: &str = "/api/v1/deployment";

/// A signed-in admin: the org and the access token (memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub org: String,
    pub token: String,
}

/// A string as one URL component.
pub(crate) fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// The message for a request that got no answer.
pub(crate) fn unreachable(err: impl std::fmt::Display) -> String {
    format!("could not reach the server: {err}")
}

/// Reads an answer: the body on success, the problem's detail (or status) otherwise.
pub(crate) async fn read<T: DeserializeOwned>(
    response: gloo_net::http::Response,
) -> Result<T, String> {
    if !response.ok() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<Problem>(&text)
            .map(|p| p.detail)
            .or_else(|_| serde_json::from_str::<ErrorBody>(&text).map(|e| e.message))
            .unwrap_or_else(|_| text.chars().take(200).collect());
        return Err(format!("{status}: {detail}"));
    }
    response
        .json::<T>()
        .await
        .map_err(|err| format!("unexpected answer from the server: {err}"))
}

/// Fetches [`DeploymentInfo`] from the server, turning every failure into a readable message.
pub async fn fetch_deployment() -> Result<DeploymentInfo, String> {
    let response = gloo_net::http::Request::get(DEPLOYMENT_URL)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    read(response).await
}

/// Calls the org's admin API at `path` with the admin's bearer token.
pub(crate) async fn api<T: DeserializeOwned>(
    auth: Auth,
    method: &'static str,
    path: impl AsRef<str>,
    body: Option<String>,
) -> Result<T, String> {
    let url = format!("/api/v1/orgs/{}{}", enc(&auth.org), path.as_ref());
    let bearer = format!("Bearer {}", auth.token);
    let builder = match method {
        "POST" => gloo_net::http::Request::post(&url),
        "PUT" => gloo_net::http::Request::put(&url),
        "PATCH" => gloo_net::http::Request::patch(&url),
        "DELETE" => gloo_net::http::Request::delete(&url),
        _ => gloo_net::http::Request::get(&url),
    }
    .header("Authorization", &bearer)
    .header("Accept", "application/json");
    let request = match body {
        Some(b) => builder
            .header("Content-Type", "application/json")
            .body(b)
            .map_err(|e| e.to_string())?,
        None => builder.build().map_err(|e| e.to_string())?,
    };
    let response = request.send().await.map_err(unreachable)?;
    if response.status() == 401 {
        // The access token expired or its session ended: sign in again (silently while the
        // IdP session lives; the sign-in form otherwise).
        leptos::task::spawn_local(async move {
            let _ = start_sign_in(auth.org).await;
        });
        return Err("Your sign-in expired; signing in again…".into());
    }
    if response.status() == 204 {
        return serde_json::from_str("null").map_err(|e| e.to_string());
    }
    read(response).await
}

/// An action without parameters: a POST of an empty JSON object.
pub(crate) async fn post<T: DeserializeOwned>(
    auth: Auth,
    path: impl AsRef<str>,
) -> Result<T, String> {
    api(auth, "POST", path, Some("{}".into())).await
}

/// Runs `request` in the background: its answer goes to `done`, its failure to `error`.
pub(crate) fn spawn_call<T: 'static>(
    request: impl Future<Output = Result<T, String>> + 'static,
    error: RwSignal<Option<String>>,
    done: impl FnOnce(T) + 'static,
) {
    leptos::task::spawn_local(async move {
        match request.await {
            Ok(value) => done(value),
            Err(e) => error.set(Some(e)),
        }
    });
}

/// Fetches `path` once into `into`; a failure goes to `error`.
pub(crate) fn fetch_into<T: DeserializeOwned + Send + Sync + 'static>(
    auth: Auth,
    path: impl AsRef<str> + 'static,
    into: RwSignal<Option<T>>,
    error: RwSignal<Option<String>>,
) {
    spawn_call(api(auth, "GET", path, None), error, move |value| {
        into.set(Some(value))
    });
}

/// Fetches the path `path()` makes into `into` (clearing `error`, or setting it), again whenever
/// a signal `path` reads changes.
pub(crate) fn watch<T: DeserializeOwned + Send + Sync + 'static>(
    auth: Auth,
    path: impl Fn() -> String + 'static,
    into: RwSignal<Option<T>>,
    error: RwSignal<Option<String>>,
) {
    Effect::new(move |_| {
        spawn_call(
            api(auth.clone(), "GET", path(), None),
            error,
            move |value| {
                error.set(None);
                into.set(Some(value));
            },
        );
    });
}

/// Loads `path` into `into` (and errors into `error`) whenever `reload` changes.
pub(crate) fn load<T: DeserializeOwned + Send + Sync + 'static>(
    auth: Auth,
    path: &'static str,
    into: RwSignal<Option<Page<T>>>,
    error: RwSignal<Option<String>>,
    reload: RwSignal<u32>,
) {
    watch(
        auth,
        move || {
            reload.track();
            path.to_owned()
        },
        into,
        error,
    );
}

/// The signals of a list page: its rows, its last failure, and the counter that loads it again.
type ListSignals<T> = (
    RwSignal<Option<Page<T>>>,
    RwSignal<Option<String>>,
    RwSignal<u32>,
);

/// Loads the list at `path` for a list page, and again whenever its counter changes.
pub(crate) fn list<T: DeserializeOwned + Send + Sync + 'static>(
    auth: Auth,
    path: &'static str,
) -> ListSignals<T> {
    let (page, error, reload) = (RwSignal::new(None), RwSignal::new(None), RwSignal::new(0));
    load(auth, path, page, error, reload);
    (page, error, reload)
}

/// Asks for the list (or figures) again.
pub(crate) fn bump(reload: RwSignal<u32>) {
    reload.update(|n| *n += 1);
}

/// A settings document the admin edits and saves whole: read with GET, written with PUT.
pub(crate) struct Settings<T: Send + Sync + 'static> {
    /// The document, once loaded.
    pub value: RwSignal<Option<T>>,
    /// The last failure, until a save succeeds.
    pub error: RwSignal<Option<String>>,
    /// Whether a save succeeded.
    pub saved: RwSignal<bool>,
}

impl<T: Send + Sync + 'static> Clone for Settings<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Settings<T> {}

impl<T> Settings<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Starts loading the document at `path`; the returned function saves it there.
    pub fn at(auth: Auth, path: &'static str) -> (Self, impl Fn() + Clone + 'static) {
        let settings = Self {
            value: RwSignal::new(None),
            error: RwSignal::new(None),
            saved: RwSignal::new(false),
        };
        fetch_into(auth.clone(), path, settings.value, settings.error);
        let save = move || {
            let Some(value) = settings.value.get() else {
                return;
            };
            let body = serde_json::to_string(&value).unwrap_or_default();
            let request = api::<T>(auth.clone(), "PUT", path, Some(body));
            spawn_call(request, settings.error, move |value| {
                settings.error.set(None);
                settings.value.set(Some(value));
                settings.saved.set(true);
            });
        };
        (settings, save)
    }

    /// Changes the loaded document (nothing before it has loaded).
    pub fn edit(&self, f: impl FnOnce(&mut T)) {
        self.value.update(|v| {
            if let Some(v) = v {
                f(v);
            }
        });
    }
}
