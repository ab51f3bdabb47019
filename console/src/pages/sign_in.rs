//! The sign-in form: the admin names the org, the console sends them to its sign-in page.

use leptos::prelude::*;

use crate::oauth::{start_sign_in, storage};

/// Asks for the org (the one of the page's URL, or the last one signed in to in this tab) and
/// starts the sign-in.
#[component]
pub(crate) fn SignIn(error: RwSignal<Option<String>>, org: Option<String>) -> impl IntoView {
    let org = RwSignal::new(org.unwrap_or_else(|| {
        storage()
            .ok()
            .and_then(|s| s.get_item("pc.org").ok().flatten())
            .unwrap_or_default()
    }));
    let go = move || {
        let org = org.get();
        leptos::task::spawn_local(async move {
            if let Err(e) = start_sign_in(org).await {
                error.set(Some(e));
            }
        });
    };
    view! {
        <section class="sign-in">
            <h2>"Sign in"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                go();
            }>
                <label for="org">"Organization"</label>
                <input id="org" data-testid="org" placeholder="your-org" required
                    prop:value=move || org.get()
                    on:input=move |ev| org.set(event_target_value(&ev)) />
                <button type="submit" data-testid="console-sign-in">"Sign in"</button>
            </form>
        </section>
    }
}
