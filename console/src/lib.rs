//! Portcullis admin console: a client-side Leptos app, compiled to wasm32 and served at `/console/`.
//!
//! The JavaScript bootstrap (`bootstrap.js`) loads the wasm-bindgen glue and calls its `init()`,
//! which runs [`start`]; that mounts [`App`] on `<body>`. The page has no inline scripts or styles,
//! so it works under the server's strict Content-Security-Policy.

use leptos::prelude::*;
use portcullis_api_types::{DeploymentInfo, ErrorBody};
use wasm_bindgen::prelude::wasm_bindgen;

/// Where the console learns the deployment's name and version.
pub const DEPLOYMENT_URL: &str = "/api/v1/deployment";

/// What the console knows about the deployment while and after it asks the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// The request is in flight.
    Loading,
    /// The server answered.
    Loaded(DeploymentInfo),
    /// The request failed; the message is shown to the user.
    Failed(String),
}

/// Entry point, run by wasm-bindgen's `init()` once the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Fetches [`DeploymentInfo`] from the server, turning every failure into a readable message.
pub async fn fetch_deployment() -> Result<DeploymentInfo, String> {
    let response = gloo_net::http::Request::get(DEPLOYMENT_URL)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|err| format!("could not reach the server: {err}"))?;
    if !response.ok() {
        let status = response.status();
        let detail = match response.json::<ErrorBody>().await {
            Ok(body) => body.message,
            Err(_) => response.status_text(),
        };
        return Err(format!("the server answered {status}: {detail}"));
    }
    response
        .json::<DeploymentInfo>()
        .await
        .map_err(|err| format!("unexpected answer from the server: {err}"))
}

/// The console's root component.
#[component]
pub fn App() -> impl IntoView {
    let deployment = RwSignal::new(Deployment::Loading);
    leptos::task::spawn_local(async move {
        let next = match fetch_deployment().await {
            Ok(info) => Deployment::Loaded(info),
            Err(message) => Deployment::Failed(message),
        };
        deployment.set(next);
    });

    view! {
        <main class="console">
            {move || match deployment.get() {
                Deployment::Loading => {
                    view! {
                        <p class="status" data-testid="loading" aria-busy="true">
                            "Loading deployment information…"
                        </p>
                    }
                        .into_any()
                }
                Deployment::Loaded(info) => {
                    view! {
                        <header>
                            <h1 data-testid="deployment-name">{info.name}</h1>
                            <p data-testid="deployment-version">"version " {info.version}</p>
                        </header>
                    }
                        .into_any()
                }
                Deployment::Failed(message) => {
                    view! {
                        <div class="error" role="alert" data-testid="load-error">
                            <h1>"Portcullis console"</h1>
                            <p>"Could not load deployment information: " {message}</p>
                        </div>
                    }
                        .into_any()
                }
            }}
        </main>
    }
}
