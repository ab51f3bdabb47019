//! Portcullis admin console: a client-side Leptos app, compiled to wasm32 and served at `/console/`.
//!
//! The JavaScript bootstrap (`bootstrap.js`) loads the wasm-bindgen glue and calls its `init()`,
//! which runs [`start`]; that mounts [`App`] on `<body>`. The page has no inline scripts or styles,
//! so it works under the server's strict Content-Security-Policy.
//!
//! Sign-in: the console is a public app of each org (`GET /api/v1/console-client?org=` makes it
//! on first use). It sends the admin through the org's `/authorize` with PKCE (S256), takes the
//! code back at `/console/`, exchanges it at the org's token endpoint, keeps the access token
//! in memory only (a reload signs in again, silently while the IdP session lives) and goes back
//! to the page the sign-in started from. Every call to the admin API carries it as a bearer token.
//!
//! Every page has its URL (`/console/{org}/apps/{id}`, `/console/{org}/deliveries?status=failed`,
//! …), kept by `leptos_router`: reload, links and the back button work.
//!
//! Modules: `api` (the admin API client), `oauth` (sign-in with PKCE), `ui` (shared pieces),
//! `human` (times and durations for people) and `pages` (the routes, one module per page).

mod api;
pub mod human;
mod oauth;
mod pages;
mod ui;

use leptos::prelude::*;
use portcullis_api_types::DeploymentInfo;
use wasm_bindgen::prelude::wasm_bindgen;

pub use api::{Auth, DEPLOYMENT_URL, fetch_deployment};
pub use oauth::{pkce_challenge, return_path};
pub use pages::Tab;

use leptos_router::components::Router;
use pages::Console;
use ui::{Toaster, Toasts};

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
    let toasts = Toasts::provide();
    view! {
        <Router>
        <header class="topbar">
            <a class="brand" href="/console/" aria-label="Portcullis console home">
                <img src="/console/favicon.svg" alt="" width="24" height="24" />
            </a>
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
                        <h1 data-testid="deployment-name">{info.name}</h1>
                        <p class="version" data-testid="deployment-version">"version " {info.version}</p>
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
        </header>
        <main class="console">
            <Console />
        </main>
        <Toaster toasts=toasts />
        </Router>
    }
}
