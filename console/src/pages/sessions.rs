//! Live sign-in sessions, each revocable after a preview of what revoking it ends.

use leptos::prelude::*;
use portcullis_api_types::{RevokeOutcome, SessionView};

use crate::api::{Auth, bump, list, post, spawn_call};
use crate::ui::{ErrorNote, Time};

#[component]
pub(crate) fn Sessions(auth: Auth) -> impl IntoView {
    let (sessions, error, reload) = list::<SessionView>(auth.clone(), "/sessions?per_page=200");
    let preview = RwSignal::new(None::<(String, RevokeOutcome)>);
    let auth_preview = auth.clone();
    let ask = move |id: String| {
        let request = post(
            auth_preview.clone(),
            format!("/sessions/{id}/revoke?dry_run=true"),
        );
        spawn_call(request, error, move |p| preview.set(Some((id, p))));
    };
    let confirm = move |id: String| {
        let request = post(auth.clone(), format!("/sessions/{id}/revoke"));
        spawn_call(request, error, move |_: RevokeOutcome| {
            preview.set(None);
            bump(reload);
        });
    };
    view! {
        <section data-testid="sessions-page">
            <h2>"Live sessions"</h2>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"User"</th><th>"Signed in"</th><th>"Apps"</th><th></th></tr></thead>
                <tbody>
                    {move || sessions.get().map(|p| p.items.into_iter().map(|s| {
                        let id = s.id.clone();
                        let ask = ask.clone();
                        let apps = s.app_sessions.iter().map(|a| a.client_id.clone()).collect::<Vec<_>>().join(", ");
                        view! {
                            <tr data-testid="session-row"><td>{s.user_email}</td><td><Time at=s.created_at /></td><td>{apps}</td>
                            <td><button type="button" data-testid="session-revoke" on:click=move |_| ask(id.clone())>"Revoke…"</button></td></tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            {move || preview.get().map(|(id, p)| {
                let confirm = confirm.clone();
                view! {
                    <div role="dialog" aria-label="Revoke preview" data-testid="revoke-preview">
                        <p>"This ends " {p.sessions.len()} " sign-in session(s) and " {p.app_sessions.len()} " app session(s)."</p>
                        <p>"Apps told through back-channel logout: " {if p.apps_notified.is_empty() { "none".to_owned() } else { p.apps_notified.join(", ") }}</p>
                        <button type="button" data-testid="revoke-confirm" on:click=move |_| confirm(id.clone())>"Revoke"</button>
                        <button type="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                    </div>
                }
            })}
        </section>
    }
}
