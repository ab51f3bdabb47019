//! Session policy (timeouts, lifetimes, second factor) and sign-up settings.

use leptos::prelude::*;
use portcullis_api_types::{SessionPolicyView, SignupPolicyView};

use crate::api::{Auth, Settings};
use crate::human::{format_duration, parse_duration};
use crate::ui::{ErrorNote, Toasts};

#[component]
pub(crate) fn Policy(auth: Auth) -> impl IntoView {
    let auth_signup = auth.clone();
    let (policy, save) = Settings::<SessionPolicyView>::at(auth, "/session-policy");
    // A duration that does not read stops the save until it is corrected.
    let invalid = RwSignal::new(None::<String>);
    let set_duration =
        move |ev, field: &str, f: fn(&mut SessionPolicyView, i64)| match parse_duration(
            &event_target_value(&ev),
        ) {
            Ok(secs) => {
                invalid.set(None);
                policy.edit(|p| f(p, secs));
            }
            Err(e) => invalid.set(Some(format!("{field}: {e}"))),
        };
    let save = move || {
        if invalid.get_untracked().is_none() {
            save();
        }
    };
    view! {
        <section data-testid="policy-page">
            <h2>"Session policy"</h2>
            <ErrorNote error=invalid />
            {settings_form(policy, save, ("policy-saved", "Saved. It applies to every session from its next request."), move |p| view! {
                <label for="idle">"Idle timeout"</label>
                <input id="idle" data-testid="policy-idle" prop:value=format_duration(p.idle_timeout_secs)
                    on:change=move |ev| set_duration(ev, "Idle timeout", |p, v| p.idle_timeout_secs = v) />
                <p class="help">"A sign-in ends after this long without activity. Like 30 min or 2 h."</p>
                <label for="absolute">"Absolute lifetime"</label>
                <input id="absolute" data-testid="policy-absolute" prop:value=format_duration(p.absolute_lifetime_secs)
                    on:change=move |ev| set_duration(ev, "Absolute lifetime", |p, v| p.absolute_lifetime_secs = v) />
                <p class="help">"A sign-in ends after this long, however active. Like 8 h or 1 day."</p>
                <label for="remember">"Remember-me lifetime"</label>
                <input id="remember" data-testid="policy-remember" prop:value=format_duration(p.remember_me_lifetime_secs)
                    on:change=move |ev| set_duration(ev, "Remember-me lifetime", |p, v| p.remember_me_lifetime_secs = v) />
                <p class="help">"The absolute lifetime when users tick “Keep me signed in”. Like 30 days."</p>
                <label for="mfa">"Second factor"</label>
                <select id="mfa" on:change=move |ev| { let v = event_target_value(&ev); policy.edit(|p| p.mfa = v); }>
                    {["off", "optional", "required", "app_requested"].into_iter().map(|m| view! {
                        <option value=m selected=p.mfa == m>{m}</option>
                    }).collect_view()}
                </select>
                <p class="help">"off: never; optional: users who added a key use it; required: everyone adds one; app_requested: as optional, and whenever an app asks."</p>
                <button type="submit" data-testid="policy-save">"Save"</button>
            })}
            <SignupSettings auth=auth_signup />
        </section>
    }
}

/// Who may sign up on the org's hosted pages, and whether sign-in needs a verified address.
#[component]
fn SignupSettings(auth: Auth) -> impl IntoView {
    let (policy, save) = Settings::<SignupPolicyView>::at(auth, "/signup-policy");
    view! {
        <h2>"Sign-up"</h2>
        {settings_form(policy, save, ("signup-saved", "Saved."), move |p| view! {
            <label for="signup-mode">"Who may create an account"</label>
            <select id="signup-mode" data-testid="signup-mode" on:change=move |ev| { let v = event_target_value(&ev); policy.edit(|p| p.mode = v); }>
                {["off", "open", "invite_only"].into_iter().map(|m| view! {
                    <option value=m selected=p.mode == m>{m}</option>
                }).collect_view()}
            </select>
            <p class="help">"off: only admins create accounts; open: anyone, with a link to confirm the address; invite_only: the sign-up page says to ask for an invitation."</p>
            <label class="check"><input type="checkbox" data-testid="signup-require-verified" prop:checked=p.require_verified_email
                on:change=move |ev| { let v = event_target_checked(&ev); policy.edit(|p| p.require_verified_email = v); } />
                " Users must confirm their email address before signing in"</label>
            <button type="submit" data-testid="signup-save">"Save"</button>
        })}
    }
}

/// A settings page's failure, its notice once saved (test id and text) and, once the settings
/// have loaded, the form of `fields` that saves them.
fn settings_form<T, V>(
    settings: Settings<T>,
    save: impl Fn() + Clone + Send + 'static,
    (saved_id, saved_text): (&'static str, &'static str),
    fields: impl Fn(T) -> V + Send + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let toasts = expect_context::<Toasts>();
    Effect::new(move |_| {
        if settings.saved.get() {
            toasts.show(saved_id, saved_text);
            settings.saved.set(false);
        }
    });
    view! {
        <ErrorNote error=settings.error />
        {move || {
            let save = save.clone();
            settings.value.get().map(|p| view! {
                <form on:submit=move |ev| { ev.prevent_default(); save(); }>{fields(p)}</form>
            })
        }}
    }
}
