//! The org's audit sink: where its audit events are streamed (URL, HMAC secret — write-only —
//! and whether it is on), and how far delivery has come.

use leptos::prelude::*;
use portcullis_api_types::{AuditSinkRequest, AuditSinkView};

use crate::api::{Auth, api, spawn_call};
use crate::ui::{ErrorNote, Time, Toasts};

const PATH: &str = "/audit-sink";

#[component]
pub(crate) fn AuditSink(auth: Auth) -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let sink = RwSignal::new(None::<AuditSinkView>);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let (url, secret, enabled) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(true),
    );
    let show = move |v: Option<AuditSinkView>| {
        url.set(v.as_ref().map(|v| v.url.clone()).unwrap_or_default());
        enabled.set(v.as_ref().is_none_or(|v| v.enabled));
        secret.set(String::new());
        sink.set(v);
        loaded.set(true);
    };
    let load = {
        let auth = auth.clone();
        move || {
            let request = api::<AuditSinkView>(auth.clone(), "GET", PATH, None);
            leptos::task::spawn_local(async move {
                match request.await {
                    Ok(v) => show(Some(v)),
                    // No sink yet: the form to make one.
                    Err(e) if e.starts_with("404") => show(None),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    load();
    let save = {
        let auth = auth.clone();
        move || {
            let body = AuditSinkRequest {
                url: url.get_untracked(),
                secret: Some(secret.get_untracked()).filter(|s| !s.is_empty()),
                enabled: enabled.get_untracked(),
            };
            let body = serde_json::to_string(&body).unwrap_or_default();
            let request = api::<AuditSinkView>(auth.clone(), "PUT", PATH, Some(body));
            spawn_call(request, error, move |v| {
                error.set(None);
                show(Some(v));
                toasts.show(
                    "audit-sink-saved",
                    "Saved. Events are sent from the next pass.",
                );
            });
        }
    };
    let remove = move || {
        let request = api::<()>(auth.clone(), "DELETE", PATH, None);
        spawn_call(request, error, move |()| {
            error.set(None);
            show(None);
            toasts.show(
                "audit-sink-deleted",
                "Audit sink removed. Nothing more is sent.",
            );
        });
    };
    view! {
        <section data-testid="audit-sink-page">
            <h2>"Audit sink"</h2>
            <p class="help">"Streams this organization's audit events to your SIEM or log pipeline: batches of up to 100 events as JSON, POSTed in order, each signed with HMAC-SHA256 of the body (header X-Portcullis-Signature). Receivers drop events whose sequence number they already have."</p>
            <ErrorNote error=error />
            {move || loaded.get().then(|| {
                let exists = sink.with(Option::is_some);
                let save = save.clone();
                let remove = remove.clone();
                view! {
                    <form on:submit=move |ev| { ev.prevent_default(); save(); }>
                        <label for="sink-url">"Receiver URL"</label>
                        <input id="sink-url" type="url" data-testid="sink-url" required=true prop:value=move || url.get()
                            on:input=move |ev| url.set(event_target_value(&ev)) />
                        <p class="help">"https. Private and loopback addresses are refused unless the operator allowed them."</p>
                        <label for="sink-secret">"Signing secret"</label>
                        <input id="sink-secret" type="password" autocomplete="new-password" data-testid="sink-secret"
                            prop:value=move || secret.get() on:input=move |ev| secret.set(event_target_value(&ev)) />
                        <p class="help">{if exists { "Stored sealed and never shown. Leave empty to keep it; type a new one (16 to 256 characters) to replace it." } else { "16 to 256 characters. Stored sealed and never shown again: keep a copy for your receiver." }}</p>
                        <label class="check"><input type="checkbox" data-testid="sink-enabled" prop:checked=move || enabled.get()
                            on:change=move |ev| enabled.set(event_target_checked(&ev)) />
                            " Send events (when off, events wait and go out once it is on again)"</label>
                        <button type="submit" data-testid="sink-save">"Save"</button>
                        {exists.then(|| view! {
                            " " <button type="button" class="danger" data-testid="sink-delete" on:click=move |_| remove()>"Remove the sink"</button>
                        })}
                    </form>
                }
            })}
            {move || sink.get().map(|s| status_view(s, load.clone()))}
        </section>
    }
}

/// The sink's delivery status, with a button that reads it again.
fn status_view(s: AuditSinkView, reload: impl Fn() + Clone + 'static) -> impl IntoView {
    let st = s.status;
    let time = |at: Option<String>| {
        at.map_or_else(
            || "never".into_any(),
            |at| view! { <Time at=at /> }.into_any(),
        )
    };
    view! {
        <h3>"Delivery"</h3>
        <dl class="facts" data-testid="sink-status">
            <dt>"State"</dt><dd data-testid="sink-state">{if s.enabled { "sending" } else { "paused" }}</dd>
            <dt>"Delivered up to"</dt><dd data-testid="sink-delivered">{format!("event #{} of #{}", st.delivered_seq, st.last_seq)}</dd>
            <dt>"Waiting"</dt><dd data-testid="sink-pending">{st.pending}</dd>
            <dt>"Last success"</dt><dd>{time(st.last_success_at)}</dd>
            <dt>"Last attempt"</dt><dd>{time(st.last_attempt_at)}</dd>
            <dt>"Failed attempts"</dt><dd>{st.attempts}</dd>
            <dt>"Last error"</dt><dd data-testid="sink-error">{st.last_error.unwrap_or_else(|| "none".into())}</dd>
            <dt>"Next attempt"</dt><dd><Time at=st.next_attempt_at /></dd>
        </dl>
        <button type="button" data-testid="sink-refresh" on:click=move |_| reload()>"Refresh"</button>
    }
}
