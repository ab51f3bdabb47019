//! The org's signing keys, and their rotation.

use leptos::prelude::*;
use portcullis_api_types::SigningKeyView;

use crate::api::{Auth, bump, list, post, spawn_call};
use crate::ui::{ErrorNote, Time};

#[component]
pub(crate) fn Keys(auth: Auth) -> impl IntoView {
    let (keys, error, reload) = list::<SigningKeyView>(auth.clone(), "/signing-keys");
    let rotate = move || {
        let request = post(auth.clone(), "/signing-keys/rotate");
        spawn_call(request, error, move |_: SigningKeyView| bump(reload));
    };
    view! {
        <section data-testid="keys-page">
            <h2>"Signing keys"</h2>
            <ErrorNote error=error />
            <table>
                <thead><tr><th>"Key id"</th><th>"Algorithm"</th><th>"Signs from"</th><th>"Published until"</th></tr></thead>
                <tbody>
                    {move || keys.get().map(|p| p.items.into_iter().map(|k| view! {
                        <tr data-testid="key-row"><td><code>{k.kid}</code></td><td>{k.alg}</td><td><Time at=k.activates_at /></td><td>{k.expires_at.map_or_else(|| "—".into_any(), |at| view! { <Time at=at /> }.into_any())}</td></tr>
                    }).collect_view())}
                </tbody>
            </table>
            <p class="help">"Rotating publishes a new key at once and signs with it after the publish lead; the old key stays published until every token it signed has expired."</p>
            <button type="button" data-testid="key-rotate" on:click=move |_| rotate()>"Rotate"</button>
        </section>
    }
}
