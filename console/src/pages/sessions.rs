//! Sign-in sessions: the live ones (`/console/{org}/sessions?user_id=&app_id=&page=`), one at its
//! own URL (`/console/{org}/sessions/{id}`) with its app sessions, and the revoke dialog that
//! shows the server's dry run before anything ends.

use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;
use portcullis_api_types::{AppSessionView, AppView, Page, RevokeOutcome, SessionView};
use wasm_bindgen::JsCast;

use crate::api::{Auth, api, bump, enc, post, spawn_call, watch};
use crate::pages::paging::{Pager, UrlQuery};
use crate::ui::{Empty, ErrorNote, Time, Toasts};

/// The filters of the sessions list, as the URL and the API name them.
const KEYS: &[&str] = &["user_id", "app_id"];

#[component]
pub(crate) fn Sessions(auth: Auth, selected: Signal<Option<String>>) -> impl IntoView {
    let a = auth.clone();
    move || match selected.get() {
        Some(id) => view! { <SessionDetail auth=a.clone() id=id /> }.into_any(),
        None => view! { <SessionList auth=a.clone() /> }.into_any(),
    }
}

/// The live sessions, filtered by user and app, a page at a time.
#[component]
fn SessionList(auth: Auth) -> impl IntoView {
    let query = UrlQuery::new(KEYS);
    let (sessions, error, reload) = (
        RwSignal::new(None::<Page<SessionView>>),
        RwSignal::new(None::<String>),
        RwSignal::new(0u32),
    );
    watch(
        auth.clone(),
        move || {
            reload.track();
            query.api_path("/sessions")
        },
        sessions,
        error,
    );
    let apps = RwSignal::new(None::<Page<AppView>>);
    crate::api::fetch_into(auth.clone(), "/apps?per_page=200", apps, error);
    let (user, app) = (query.get("user_id"), query.get("app_id"));
    let set = query.setter();
    let set_app = set.clone();
    let revoking = RwSignal::new(None::<(String, Vec<AppSessionView>)>);
    let org = auth.org.clone();
    view! {
        <section data-testid="sessions-page">
            <h2>"Live sessions"</h2>
            <div class="filters">
                <label for="session-user">"User id"</label>
                <input id="session-user" data-testid="session-filter-user" prop:value=move || user.get()
                    on:change=move |ev| set("user_id", event_target_value(&ev).trim().to_owned()) />
                <label for="session-app">"App"</label>
                <select id="session-app" data-testid="session-filter-app" prop:value=move || app.get()
                    on:change=move |ev| set_app("app_id", event_target_value(&ev))>
                    <option value="">"All apps"</option>
                    {move || apps.get().map(|p| p.items.into_iter().map(|a| {
                        let selected = a.id == app.get_untracked();
                        view! { <option value=a.id selected=selected>{a.name}</option> }
                    }).collect_view())}
                </select>
            </div>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"User"</th><th>"Signed in"</th><th>"Last active"</th><th>"Apps"</th><th></th></tr></thead>
                <tbody>
                    {move || sessions.get().map(|p| p.items.into_iter().map(|s| {
                        let href = format!("/console/{org}/sessions/{}", enc(&s.id));
                        let apps = s.app_sessions.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>().join(", ");
                        let target = (s.id.clone(), s.app_sessions.clone());
                        view! {
                            <tr data-testid="session-row">
                                <td><a href=href data-testid="session-link">{s.user_email}</a></td>
                                <td><Time at=s.created_at /></td><td><Time at=s.last_seen_at /></td><td>{apps}</td>
                                <td><button type="button" data-testid="session-revoke"
                                    on:click=move |_| revoking.set(Some(target.clone()))>"Revoke…"</button></td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            <Empty list=sessions test_id="sessions-empty"
                text="No live sign-in session matches. Clear the filters, or wait for someone to sign in." />
            <Pager list=sessions query=query />
            {move || revoking.get().map(|(id, known)| view! {
                <RevokeDialog auth=auth.clone() title="Revoke this sign-in session"
                    path=format!("/sessions/{}/revoke", enc(&id)) known=known
                    close=Callback::new(move |done: bool| { revoking.set(None); if done { bump(reload) } }) />
            })}
        </section>
    }
}

/// One IdP session at its own URL: who, since when, its app sessions, and the ways to end it
/// or one of its app sessions.
#[component]
fn SessionDetail(auth: Auth, id: String) -> impl IntoView {
    let (session, error, reload) = (
        RwSignal::new(None::<SessionView>),
        RwSignal::new(None::<String>),
        RwSignal::new(0u32),
    );
    let path = format!("/sessions/{}", enc(&id));
    watch(
        auth.clone(),
        move || {
            reload.track();
            path.clone()
        },
        session,
        error,
    );
    let toasts = expect_context::<Toasts>();
    // What the open dialog revokes: the path, its title, and the app sessions it may end.
    let revoking = RwSignal::new(None::<(String, &'static str, Vec<AppSessionView>)>);
    let org = auth.org.clone();
    let back = format!("/console/{org}/sessions");
    view! {
        <section data-testid="session-detail" aria-labelledby="session-title">
            <p><a href=back>"← All live sessions"</a></p>
            <h2 id="session-title">"Sign-in session"</h2>
            <ErrorNote error=error />
            {move || session.get().map(|s| {
                let user_href = format!("/console/{org}/users/{}", enc(&s.user_id));
                let live = s.ended_at.is_none();
                let revoke_path = format!("/sessions/{}/revoke", enc(&s.id));
                let known = s.app_sessions.clone();
                view! {
                    <dl class="facts">
                        <dt>"User"</dt><dd><a href=user_href>{s.user_email.clone()}</a></dd>
                        <dt>"Signed in"</dt><dd><Time at=s.created_at.clone() /></dd>
                        <dt>"Last active"</dt><dd><Time at=s.last_seen_at.clone() /></dd>
                        <dt>"Device"</dt><dd>{s.user_agent.clone().unwrap_or_else(|| "unknown".into())} " — " {s.ip.clone().unwrap_or_default()}</dd>
                        <dt>"Assurance"</dt><dd>{s.acr.clone()}</dd>
                        <dt>"State"</dt><dd data-testid="session-state">{match (&s.ended_at, &s.end_reason) {
                            (None, _) => "live".to_owned(),
                            (Some(_), r) => format!("ended ({})", r.clone().unwrap_or_default()),
                        }}</dd>
                    </dl>
                    {live.then(|| view! {
                        <button type="button" data-testid="session-revoke"
                            on:click=move |_| revoking.set(Some((revoke_path.clone(), "Revoke this sign-in session", known.clone())))>"Revoke…"</button>
                    })}
                    <h3>"App sessions"</h3>
                    {s.app_sessions.is_empty().then(|| view! { <p data-testid="no-app-sessions">"No app is signed in under this session."</p> })}
                    <AppSessionTable sessions=s.app_sessions.clone() revoking=revoking />
                }
            })}
            {move || revoking.get().map(|(path, title, known)| view! {
                <RevokeDialog auth=auth.clone() title=title path=path known=known
                    close=Callback::new(move |done: bool| {
                        revoking.set(None);
                        if done {
                            toasts.show("session-notice", "Done: what the preview listed has ended.");
                            bump(reload);
                        }
                    }) />
            })}
        </section>
    }
}

/// The app sessions of an IdP session, each with "End this app session…".
#[component]
fn AppSessionTable(
    sessions: Vec<AppSessionView>,
    revoking: RwSignal<Option<(String, &'static str, Vec<AppSessionView>)>>,
) -> impl IntoView {
    view! {
        <table>
            <thead><tr><th>"App"</th><th>"Started"</th><th>"Last active"</th><th>"Ends"</th><th>"Outlives the sign-in session"</th><th></th></tr></thead>
            <tbody>
                {sessions.clone().into_iter().map(|a| {
                    let path = format!("/app-sessions/{}/revoke", enc(&a.id));
                    let ends = a.idle_deadline.clone().filter(|d| *d < a.absolute_expiry).unwrap_or_else(|| a.absolute_expiry.clone());
                    let known = sessions.clone();
                    view! {
                        <tr data-testid="app-session-row" data-id=a.id.clone()>
                            <td>{app_label(&a)}</td><td><Time at=a.created_at.clone() /></td><td><Time at=a.last_active_at.clone() /></td>
                            <td><Time at=ends /></td><td>{if a.outlives_idp_session { "yes" } else { "no" }}</td>
                            <td><button type="button" data-testid="app-session-end"
                                on:click=move |_| revoking.set(Some((path.clone(), "End this app session", known.clone())))>"End this app session…"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// An app session's app as people know it: its name and client id.
fn app_label(a: &AppSessionView) -> String {
    if a.app_name.is_empty() {
        a.client_id.clone()
    } else {
        format!("{} ({})", a.app_name, a.client_id)
    }
}

/// A modal dialog that asks the server for the dry run of `path` (a revoke endpoint), shows
/// exactly what it reports, and on confirmation does it. `known` are the app sessions the page
/// shows (to name their apps, and to list those the revocation leaves alone). `close` runs
/// with whether the revocation happened; focus goes back to where it was when it opened.
#[component]
pub(crate) fn RevokeDialog(
    auth: Auth,
    title: &'static str,
    path: String,
    known: Vec<AppSessionView>,
    close: Callback<bool>,
) -> impl IntoView {
    let preview = RwSignal::new(None::<RevokeOutcome>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let opener = document()
        .active_element()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    let finish = move |done: bool| {
        if let Some(o) = &opener {
            let _ = o.focus();
        }
        close.run(done);
    };
    let finish = StoredValue::new_local(finish);
    let request = post::<RevokeOutcome>(auth.clone(), format!("{path}?dry_run=true"));
    spawn_call(request, error, move |p| preview.set(Some(p)));
    let dialog = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        if let Some(d) = dialog.get() {
            let _ = d.focus();
        }
    });
    let confirm = move |_| {
        busy.set(true);
        let request = api::<RevokeOutcome>(auth.clone(), "POST", path.clone(), Some("{}".into()));
        spawn_call(request, error, move |_| finish.with_value(|f| f(true)));
    };
    let (first, last) = (
        NodeRef::<html::Button>::new(),
        NodeRef::<html::Button>::new(),
    );
    let on_key = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            finish.with_value(|f| f(false));
        } else if ev.key() == "Tab" {
            // Focus stays in the modal dialog: past its last button it wraps to the first
            // (the dialog itself while that one is disabled), and back again.
            let active = document().active_element();
            let is = |b: Option<web_sys::HtmlButtonElement>| {
                b.is_some_and(|b| {
                    active
                        .as_ref()
                        .is_some_and(|a| a == b.unchecked_ref::<web_sys::Element>())
                })
            };
            let on_dialog = dialog.get().is_some_and(|d| {
                active
                    .as_ref()
                    .is_some_and(|a| a == d.unchecked_ref::<web_sys::Element>())
            });
            if !ev.shift_key() && is(last.get()) {
                ev.prevent_default();
                match first.get().filter(|b| !b.disabled()) {
                    Some(b) => drop(b.focus()),
                    None => drop(dialog.get().map(|d| d.focus())),
                }
            } else if ev.shift_key() && (is(first.get()) || on_dialog) {
                ev.prevent_default();
                if let Some(b) = last.get() {
                    let _ = b.focus();
                }
            }
        }
    };
    view! {
        <div class="backdrop">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="revoke-title" tabindex="-1"
                data-testid="revoke-preview" node_ref=dialog on:keydown=on_key>
                <h3 id="revoke-title">{title}</h3>
                <ErrorNote error=error />
                {move || match preview.get() {
                    None => view! { <p aria-busy="true">"Asking the server what this would end…"</p> }.into_any(),
                    Some(p) => view! { <PreviewText preview=p known=known.clone() /> }.into_any(),
                }}
                <div class="actions">
                    <button type="button" class="danger" data-testid="revoke-confirm" node_ref=first
                        disabled=move || preview.with(Option::is_none) || busy.get() on:click=confirm>
                        {if title.starts_with("End") { "End it" } else { "Revoke" }}</button>
                    <button type="button" data-testid="revoke-cancel" node_ref=last on:click=move |_| finish.with_value(|f| f(false))>"Cancel"</button>
                </div>
            </div>
        </div>
    }
}

/// The dry run in words: the sessions and app sessions that end, the apps told, and the app
/// sessions that keep their refresh tokens.
#[component]
fn PreviewText(preview: RevokeOutcome, known: Vec<AppSessionView>) -> impl IntoView {
    let name = |id: &String| {
        known
            .iter()
            .find(|a| &a.id == id)
            .map(app_label)
            .unwrap_or_else(|| format!("app session {id}"))
    };
    let outliving = |id: &String| known.iter().any(|a| &a.id == id && a.outlives_idp_session);
    let kept: Vec<String> = known
        .iter()
        .filter(|a| !preview.app_sessions.contains(&a.id))
        .map(app_label)
        .collect();
    let ending = preview
        .app_sessions
        .iter()
        .map(|id| {
            let note = (outliving(id) && !preview.sessions.is_empty())
                .then_some(" — outlives sign-outs, but a revocation ends it too");
            view! { <li data-testid="preview-app-session" data-id=id.clone()>{name(id)}{note}</li> }
        })
        .collect_view();
    let told = if preview.apps_notified.is_empty() {
        "none (no app listens for back-channel logout)".to_owned()
    } else {
        preview.apps_notified.join(", ")
    };
    view! {
        <p data-testid="preview-summary">"This ends " {preview.sessions.len()} " sign-in session(s) and "
            {preview.app_sessions.len()} " app session(s):"</p>
        <ul>{ending}</ul>
        <p data-testid="preview-told">"Apps told by back-channel logout: " {told}</p>
        <p data-testid="preview-kept">"App sessions that keep their refresh tokens: "
            {if kept.is_empty() { "none".to_owned() } else { kept.join(", ") }}</p>
    }
}
