//! Calls whose refusals name their fields (the admin API's 422 problems), for the forms that
//! show each field's message beside it, and calls outside one org (`/api/v1/orgs`).

use leptos::prelude::*;
use portcullis_api_types::{ErrorBody, Problem};
use serde::de::DeserializeOwned;

use crate::api::{Auth, unreachable};
use crate::oauth::start_sign_in;

/// Why a call failed: the message, and the fields the server named with theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// The server's message about `field`, when it named it.
    pub fn about(&self, field: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
    }
}

/// Reads a refusal's body: a problem (with its fields), an OAuth error, or the text.
async fn refusal(response: gloo_net::http::Response) -> Refusal {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if let Ok(p) = serde_json::from_str::<Problem>(&text) {
        return Refusal {
            message: format!("{status}: {}", p.detail),
            fields: p.errors.into_iter().map(|e| (e.field, e.message)).collect(),
        };
    }
    let detail = serde_json::from_str::<ErrorBody>(&text)
        .map(|e| e.message)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    Refusal::new(format!("{status}: {detail}"))
}

/// Calls the admin API at `url` (from `/api/v1/`) with the admin's bearer token; a JSON `body`
/// when given. A 401 starts a new sign-in, as every page does.
pub(crate) async fn send<T: DeserializeOwned>(
    auth: Auth,
    method: &'static str,
    url: String,
    body: Option<String>,
) -> Result<T, Refusal> {
    let builder = match method {
        "POST" => gloo_net::http::Request::post(&url),
        "PUT" => gloo_net::http::Request::put(&url),
        "PATCH" => gloo_net::http::Request::patch(&url),
        "DELETE" => gloo_net::http::Request::delete(&url),
        _ => gloo_net::http::Request::get(&url),
    }
    .header("Authorization", &format!("Bearer {}", auth.token))
    .header("Accept", "application/json");
    let request = match body {
        Some(b) => builder.header("Content-Type", "application/json").body(b),
        None => builder.build(),
    }
    .map_err(|e| Refusal::new(e.to_string()))?;
    let response = request
        .send()
        .await
        .map_err(|e| Refusal::new(unreachable(e)))?;
    if response.status() == 401 {
        leptos::task::spawn_local(async move {
            let _ = start_sign_in(auth.org).await;
        });
        return Err(Refusal::new("Your sign-in expired; signing in again…"));
    }
    if !response.ok() {
        return Err(refusal(response).await);
    }
    response
        .json::<T>()
        .await
        .map_err(|e| Refusal::new(format!("unexpected answer from the server: {e}")))
}

/// Runs `send` in the background: the answer goes to `done`, a refusal to `failure` (which a
/// success clears).
pub(crate) fn spawn_send<T: DeserializeOwned + 'static>(
    (auth, method, url, body): (Auth, &'static str, String, Option<String>),
    failure: RwSignal<Option<Refusal>>,
    done: impl FnOnce(T) + 'static,
) {
    leptos::task::spawn_local(async move {
        match send(auth, method, url, body).await {
            Ok(value) => {
                failure.set(None);
                done(value);
            }
            Err(r) => failure.set(Some(r)),
        }
    });
}

/// The failure's message, for the top of a form.
#[component]
pub(crate) fn RefusalNote(failure: RwSignal<Option<Refusal>>) -> impl IntoView {
    move || {
        failure.get().map(
            |r| view! { <p class="error" role="alert" data-testid="form-error">{r.message}</p> },
        )
    }
}

/// What the server said about `field`, beside it.
#[component]
pub(crate) fn FieldNote(failure: RwSignal<Option<Refusal>>, field: &'static str) -> impl IntoView {
    let id = format!("{field}-error");
    move || {
        failure.get().and_then(|r| r.about(field)).map(|m| {
            view! { <p class="field-error" id=id.clone() data-testid=format!("field-error-{field}")>{m}</p> }
        })
    }
}
