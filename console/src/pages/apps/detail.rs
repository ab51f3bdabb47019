//! One app at `/console/{org}/apps/{id}`: its facts, its settings in sections (the editor, with
//! a SAML app's SAML settings), its live app sessions, its recent logout deliveries and, for
//! apps that sign in with a client secret, the secret's rotation.

use leptos::prelude::*;
use portcullis_api_types::{AppSessionView, AppView, AppWithSecret, DeliveryView, Page};

use crate::api::{Auth, enc, fetch_into, post, spawn_call};
use crate::ui::{ErrorNote, Time};

use super::form::EditApp;

/// Live app sessions shown on the page (the newest; the total says how many more).
const SESSIONS_SHOWN: u64 = 20;

/// The app at `/console/{org}/apps/{id}`: loads it, then its page.
#[component]
pub(super) fn AppDetail(
    auth: Auth,
    id: String,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let app = RwSignal::new(None::<AppView>);
    let error = RwSignal::new(None::<String>);
    fetch_into(auth.clone(), format!("/apps/{}", enc(&id)), app, error);
    let list = format!("/console/{}/apps", auth.org);
    view! {
        <section data-testid="app-detail">
            <p><a href=list data-testid="app-back">"← All apps"</a></p>
            <ErrorNote error=error />
            {move || app.get().map(|a| view! { <AppPage auth=auth.clone() app=a apps=apps reload=reload /> })}
        </section>
    }
}

/// The loaded app: facts, settings, sessions, deliveries, secret.
#[component]
fn AppPage(
    auth: Auth,
    app: AppView,
    apps: RwSignal<Option<Page<AppView>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let secret_auth = app.client_auth == "client_secret";
    // Told when sessions end: over back-channel logout, or (SAML) to its Single Logout URL.
    let listens = app.backchannel_logout_uri.is_some()
        || app.saml.as_ref().is_some_and(|s| s.slo_url.is_some());
    let id = app.id.clone();
    let (name, client_id, app_type, profile, created) = (
        app.name.clone(),
        app.client_id.clone(),
        app.app_type.clone(),
        app.session_profile.clone(),
        app.created_at.clone(),
    );
    view! {
        <h2 data-testid="app-detail-name">{name}</h2>
        <dl class="facts" data-testid="app-facts">
            <dt>"Client id"</dt><dd><code data-testid="app-client-id">{client_id}</code></dd>
            <dt>"Type"</dt><dd>{app_type}</dd>
            <dt>"Session profile"</dt><dd>{profile}</dd>
            <dt>"Registered"</dt><dd><Time at=created /></dd>
        </dl>
        <EditApp auth=auth.clone() app=app apps=apps reload=reload />
        <AppSessions auth=auth.clone() id=id.clone() />
        <AppDeliveries auth=auth.clone() id=id.clone() listens=listens />
        {secret_auth.then(|| view! { <RotateSecret auth=auth id=id /> })}
    }
}

/// When an app session ends: the earlier of its idle deadline and its absolute expiry.
fn ends_at(s: &AppSessionView) -> String {
    match &s.idle_deadline {
        // RFC 3339 in UTC from the server: the same format, so the text order is the time order.
        Some(idle) if idle < &s.absolute_expiry => idle.clone(),
        _ => s.absolute_expiry.clone(),
    }
}

/// The app's live app sessions (newest first), each linked to its sign-in session.
#[component]
fn AppSessions(auth: Auth, id: String) -> impl IntoView {
    let sessions = RwSignal::new(None::<Page<AppSessionView>>);
    let error = RwSignal::new(None::<String>);
    let path = format!("/apps/{}/sessions?per_page={SESSIONS_SHOWN}", enc(&id));
    fetch_into(auth.clone(), path, sessions, error);
    let org = auth.org.clone();
    let count = move || {
        sessions
            .get()
            .map(|p| match (p.total, p.items.len() as u64) {
                (0, _) => "Nobody is signed in to this app now.".to_owned(),
                (1, _) => "1 live app session.".to_owned(),
                (t, shown) if t > shown => format!("{t} live app sessions; the newest {shown}:"),
                (t, _) => format!("{t} live app sessions."),
            })
    };
    view! {
        <section class="app-section" data-testid="app-sessions" aria-labelledby="app-sessions-title">
            <h3 id="app-sessions-title">"Live sessions"</h3>
            <p class="help">"Each row is the app's session of one sign-in. One that outlives the sign-in keeps its refresh tokens after Single Logout."</p>
            <ErrorNote error=error />
            <p data-testid="app-sessions-count">{count}</p>
            <div class="table-scroll" hidden=move || sessions.get().is_none_or(|p| p.total == 0)><table>
                <thead><tr><th scope="col">"User"</th><th scope="col">"Started"</th><th scope="col">"Last active"</th><th scope="col">"Ends"</th><th scope="col">"Outlives the sign-in"</th><th scope="col">"Sign-in session"</th></tr></thead>
                <tbody>
                    {move || sessions.get().map(|p| p.items.into_iter().map(|s| {
                        let user = format!("/console/{org}/users/{}", enc(&s.user_id));
                        let session = format!("/console/{org}/sessions/{}", enc(&s.session_id));
                        let ends = ends_at(&s);
                        view! {
                            <tr data-testid="app-detail-session-row">
                                <td><a href=user>{s.user_email}</a></td>
                                <td><Time at=s.created_at /></td><td><Time at=s.last_active_at /></td><td><Time at=ends /></td>
                                <td>{if s.outlives_idp_session { "yes" } else { "no" }}</td>
                                <td><a href=session data-testid="app-detail-session-link">"Open"</a></td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table></div>
        </section>
    }
}

/// The app's ten newest logout deliveries with their outcomes, and the way to all of them.
#[component]
fn AppDeliveries(auth: Auth, id: String, listens: bool) -> impl IntoView {
    let deliveries = RwSignal::new(None::<Page<DeliveryView>>);
    let error = RwSignal::new(None::<String>);
    let path = format!("/logout-deliveries?app_id={}&per_page=10", enc(&id));
    fetch_into(auth.clone(), path, deliveries, error);
    let all = format!("/console/{}/deliveries?app_id={}", auth.org, enc(&id));
    let empty = if listens {
        "No logout deliveries yet: one is made when a session the app took part in ends."
    } else {
        "No back-channel logout URI or SAML Single Logout URL: the app is not told when sessions end."
    };
    view! {
        <section class="app-section" data-testid="app-deliveries" aria-labelledby="app-deliveries-title">
            <h3 id="app-deliveries-title">"Recent logout deliveries"</h3>
            <ErrorNote error=error />
            {move || deliveries.get().map(|p| (p.total == 0).then(|| view! { <p class="help">{empty}</p> }))}
            <div class="table-scroll" hidden=move || deliveries.get().is_none_or(|p| p.total == 0)><table>
                <thead><tr><th scope="col">"Since"</th><th scope="col">"Reason"</th><th scope="col">"Outcome"</th><th scope="col">"Attempts"</th><th scope="col">"Last error"</th></tr></thead>
                <tbody>
                    {move || deliveries.get().map(|p| p.items.into_iter().map(|d| view! {
                        <tr data-testid="app-delivery-row" data-status=d.status.clone()>
                            <td><Time at=d.created_at /></td><td>{d.reason}</td>
                            <td><span class=format!("outcome {}", d.status)>{d.status.clone()}</span></td>
                            <td>{d.attempts}</td><td>{d.last_error.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view())}
                </tbody>
            </table></div>
            <p><a href=all data-testid="app-deliveries-all">"All deliveries to this app"</a></p>
        </section>
    }
}

/// A new client secret, after a confirmation that says the old one stops working; the new one
/// is shown once.
#[component]
fn RotateSecret(auth: Auth, id: String) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let secret = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let rotate = move || {
        let path = format!("/apps/{}/secret", enc(&id));
        spawn_call(post(auth.clone(), path), error, move |a: AppWithSecret| {
            error.set(None);
            confirming.set(false);
            secret.set(a.client_secret);
        });
    };
    view! {
        <section class="app-section" data-testid="app-secret-section" aria-labelledby="app-secret-title">
            <h3 id="app-secret-title">"Client secret"</h3>
            <p class="help">"Portcullis keeps only a hash of the secret: a lost secret cannot be shown, only replaced."</p>
            <ErrorNote error=error />
            {move || (!confirming.get()).then(|| view! {
                <button type="button" data-testid="app-rotate-secret" on:click=move |_| { secret.set(None); confirming.set(true) }>"Rotate the secret…"</button>
            })}
            {move || confirming.get().then(|| {
                let rotate = rotate.clone();
                view! {
                    <div class="confirm" role="group" aria-labelledby="rotate-warning" data-testid="app-rotate-confirm">
                        <p id="rotate-warning">"The current secret stops working at once: the app gets no tokens until it uses the new one."</p>
                        <button type="button" class="danger" data-testid="app-rotate-secret-confirm" on:click=move |_| rotate()>"Rotate now"</button>
                        <button type="button" data-testid="app-rotate-secret-cancel" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </div>
                }
            })}
            {move || secret.get().map(|s| view! {
                <div class="notice new-secret" role="status" data-testid="app-new-secret">
                    <p>"The new secret, shown this once: copy it into the app's configuration now."</p>
                    <code data-testid="app-new-secret-value">{s}</code>
                </div>
            })}
        </section>
    }
}
