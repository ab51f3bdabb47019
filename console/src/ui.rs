//! Small pieces of UI the pages share.

use leptos::prelude::*;

/// The last failure of a page, when there is one.
#[component]
pub fn ErrorNote(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|e| view! { <p class="error" role="alert">{e}</p> })
    }
}
