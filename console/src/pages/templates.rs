//! Email templates (`/console/{org}/templates`): each kind of message the org sends, and the
//! editor of one (`/console/{org}/templates/{kind}`) with its placeholders, the server's
//! refusals beside their fields, a preview (rendered by the mailer's own code with sample
//! values: subject, text, and the HTML as source) and the way back to the built-in text.

use leptos::prelude::*;
use portcullis_api_types::{EmailPreviewView, EmailTemplateRequest, EmailTemplateView};

use super::refusal::{FieldNote, Refusal, RefusalNote, spawn_send};
use crate::api::{Auth, enc, fetch_into};
use crate::ui::Toasts;

/// What each kind of message is for.
fn purpose(kind: &str) -> &'static str {
    match kind {
        "password_reset" => "Sent when someone asks to reset a password.",
        "invitation" => "Sent when an admin invites a user to set up their account.",
        "verify_email" => "Sent on sign-up, to confirm the address.",
        "email_change" => "Sent to a new address a user wants to use.",
        "signup_existing" => "Sent when someone signs up with an address that has an account.",
        "notice" => "Security notices (a new passkey, a changed password).",
        _ => "",
    }
}

#[component]
pub(crate) fn Templates(auth: Auth, selected: Signal<Option<String>>) -> impl IntoView {
    let org = auth.org.clone();
    move || match selected.get() {
        Some(kind) => view! { <TemplateEditor auth=auth.clone() kind=kind /> }.into_any(),
        None => view! { <TemplateList auth=auth.clone() org=org.clone() /> }.into_any(),
    }
}

/// Every kind, with its subject and whether the org changed it.
#[component]
fn TemplateList(auth: Auth, org: String) -> impl IntoView {
    let templates = RwSignal::new(None::<Vec<EmailTemplateView>>);
    let error = RwSignal::new(None::<String>);
    fetch_into(auth, "/email-templates", templates, error);
    view! {
        <section data-testid="templates-page">
            <h2>"Email templates"</h2>
            <crate::ui::ErrorNote error=error />
            <ul class="template-list">
                {move || templates.get().map(|ts| ts.into_iter().map(|t| {
                    let href = format!("/console/{org}/templates/{}", enc(&t.kind));
                    view! {
                        <li data-testid="template-row" data-kind=t.kind.clone()>
                            <a href=href>{t.kind.clone()}</a>
                            " " <span class=if t.custom { "badge custom" } else { "badge" }>{if t.custom { "changed" } else { "built-in" }}</span>
                            <p class="help">{purpose(&t.kind)} " Subject: " <q>{t.subject}</q></p>
                        </li>
                    }
                }).collect_view())}
            </ul>
        </section>
    }
}

/// The fields being edited.
#[derive(Clone, Copy)]
struct Draft {
    subject: RwSignal<String>,
    text: RwSignal<String>,
    html: RwSignal<String>,
}

impl Draft {
    fn load(&self, t: &EmailTemplateView) {
        self.subject.set(t.subject.clone());
        self.text.set(t.text.clone());
        self.html.set(t.html.clone());
    }

    fn body(&self) -> String {
        serde_json::to_string(&EmailTemplateRequest {
            subject: self.subject.get_untracked(),
            text: self.text.get_untracked(),
            html: self.html.get_untracked(),
        })
        .unwrap_or_default()
    }
}

/// The editor of one kind.
#[component]
fn TemplateEditor(auth: Auth, kind: String) -> impl IntoView {
    let current = RwSignal::new(None::<EmailTemplateView>);
    let failure = RwSignal::new(None::<Refusal>);
    let toasts = expect_context::<Toasts>();
    let preview = RwSignal::new(None::<EmailPreviewView>);
    let draft = Draft {
        subject: RwSignal::new(String::new()),
        text: RwSignal::new(String::new()),
        html: RwSignal::new(String::new()),
    };
    let back = format!("/console/{}/templates", auth.org);
    let url = format!(
        "/api/v1/orgs/{}/email-templates/{}",
        enc(&auth.org),
        enc(&kind)
    );
    let wanted = kind.clone();
    let call = (
        auth.clone(),
        "GET",
        format!("/api/v1/orgs/{}/email-templates", enc(&auth.org)),
        None,
    );
    spawn_send(call, failure, move |all: Vec<EmailTemplateView>| match all
        .into_iter()
        .find(|t| t.kind == wanted)
    {
        Some(t) => {
            draft.load(&t);
            current.set(Some(t));
        }
        None => failure.set(Some(Refusal {
            message: "No such kind of message.".into(),
            fields: vec![],
        })),
    });
    let act = move |method: &'static str, suffix: &'static str, done: &'static str| {
        let (auth, url) = (auth.clone(), format!("{url}{suffix}"));
        move || {
            let body = (method != "DELETE").then(|| draft.body());
            let call = (auth.clone(), method, url.clone(), body);
            if suffix.is_empty() {
                spawn_send(call, failure, move |t: EmailTemplateView| {
                    draft.load(&t);
                    current.set(Some(t));
                    preview.set(None);
                    toasts.show("template-notice", done);
                });
            } else {
                spawn_send(call, failure, move |p: EmailPreviewView| {
                    preview.set(Some(p));
                });
            }
        }
    };
    let save = act("PUT", "", "Saved. The next message of this kind uses it.");
    let show = act("POST", "/preview", "");
    let reset = act("DELETE", "", "Back to the built-in text.");
    view! {
        <section data-testid="template-editor" data-kind=kind.clone()>
            <p><a href=back data-testid="templates-back">"← All email templates"</a></p>
            <h2>"Email template: " {kind.clone()}</h2>
            <p class="help">{purpose(&kind)}</p>
            {move || current.get().map(|t| view! {
                <p data-testid="template-state">{if t.custom { "This org uses its own text." } else { "This org uses the built-in text." }}</p>
                <p class="placeholders" data-testid="template-placeholders">"Placeholders: "
                    {t.placeholders.into_iter().map(|p| view! { <code>{p}</code> " " }).collect_view()}
                </p>
            })}
            <RefusalNote failure=failure />
            {template_form(draft, failure, (save, show, reset))}
            {move || preview.get().map(|p| view! { <Preview preview=p /> })}
        </section>
    }
}

/// The fields of a template with the server's refusal beside each, and the buttons that save,
/// preview and reset it.
fn template_form(
    draft: Draft,
    failure: RwSignal<Option<Refusal>>,
    (save, show, reset): (
        impl Fn() + 'static,
        impl Fn() + 'static,
        impl Fn() + 'static,
    ),
) -> impl IntoView {
    view! {
        <form class="template-form" on:submit=move |ev| { ev.prevent_default(); save(); }>
            <label for="tpl-subject">"Subject (one line)"</label>
            <input id="tpl-subject" data-testid="tpl-subject" prop:value=move || draft.subject.get()
                on:input=move |ev| draft.subject.set(event_target_value(&ev)) />
            <FieldNote failure=failure field="subject" />
            <label for="tpl-text">"Text part"</label>
            <textarea id="tpl-text" data-testid="tpl-text" rows="8" prop:value=move || draft.text.get()
                on:input=move |ev| draft.text.set(event_target_value(&ev))></textarea>
            <FieldNote failure=failure field="text" />
            <label for="tpl-html">"HTML part (inside the org's branded frame; placeholders are escaped)"</label>
            <textarea id="tpl-html" data-testid="tpl-html" rows="8" prop:value=move || draft.html.get()
                on:input=move |ev| draft.html.set(event_target_value(&ev))></textarea>
            <FieldNote failure=failure field="html" />
            <div class="actions">
                <button type="submit" data-testid="tpl-save">"Save"</button>
                <button type="button" data-testid="tpl-preview" on:click=move |_| show()>"Preview"</button>
                <button type="button" data-testid="tpl-reset" on:click=move |_| reset()>"Reset to the built-in text"</button>
            </div>
        </form>
    }
}

/// A rendered message: subject, text, and the HTML document as escaped source. (Not in a
/// `<iframe srcdoc>`: a srcdoc frame inherits the console's CSP, whose `style-src 'self'` blocks
/// the message's inline styles, so it would show the mail unstyled.)
#[component]
fn Preview(preview: EmailPreviewView) -> impl IntoView {
    view! {
        <div class="email-preview" data-testid="tpl-preview-out">
            <h3>"Preview (sample values)"</h3>
            <p>"To: " <code>{preview.to}</code></p>
            <p>"Subject: " <strong data-testid="preview-subject">{preview.subject}</strong></p>
            <h4>"Text"</h4>
            <pre data-testid="preview-text">{preview.text}</pre>
            <h4>"HTML (source, as sent)"</h4>
            <pre class="html-source" data-testid="preview-html-source">{preview.html}</pre>
        </div>
    }
}
