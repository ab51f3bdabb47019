//! Small pieces of UI the pages share.

use leptos::prelude::*;

use portcullis_api_types::Page;

use crate::human::relative;

/// The last failure of a page, when there is one.
#[component]
pub fn ErrorNote(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|e| view! { <p class="error" role="alert">{e}</p> })
    }
}

/// A moment from the API (RFC 3339) as people read it: "3 min ago", "in 2 h", with the exact
/// local time on hover (`title`) and the original in `datetime`. Shown as sent when the browser
/// cannot read it.
#[component]
pub fn Time(at: String) -> impl IntoView {
    let ms = js_sys::Date::parse(&at);
    if ms.is_nan() {
        return view! { <span>{at}</span> }.into_any();
    }
    let delta = ((ms - js_sys::Date::now()) / 1000.0).round() as i64;
    view! { <time datetime=at title=local_time(ms)>{relative(delta)}</time> }.into_any()
}

/// The exact local date and time of a moment (milliseconds since the epoch), with its zone.
fn local_time(ms: f64) -> String {
    let options = js_sys::Object::new();
    for (key, value) in [("dateStyle", "medium"), ("timeStyle", "long")] {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    }
    js_sys::Date::new(&ms.into())
        .to_locale_string("default", &options)
        .into()
}

/// How long a toast stays, unless closed sooner.
const TOAST_MS: u64 = 8_000;

/// One outcome shown as a toast: its number, test id and text.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Toast {
    n: u64,
    test_id: &'static str,
    text: String,
}

/// The toasts on screen, shared by every page through the context.
#[derive(Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Toasts {
    /// Makes the toasts and provides them to every component below.
    pub fn provide() -> Self {
        let toasts = Toasts {
            list: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        };
        provide_context(toasts);
        toasts
    }

    /// Shows the outcome of an action for a few seconds (or until closed).
    pub fn show(&self, test_id: &'static str, text: impl Into<String>) {
        let n = self.next.get_value();
        self.next.set_value(n + 1);
        let toast = Toast {
            n,
            test_id,
            text: text.into(),
        };
        // The newest outcome of the same action replaces the one before.
        self.list.update(|l| {
            l.retain(|t| t.test_id != test_id);
            l.push(toast);
        });
        let list = self.list;
        set_timeout(
            move || list.update(|l| l.retain(|t| t.n != n)),
            std::time::Duration::from_millis(TOAST_MS),
        );
    }

    fn close(&self, n: u64) {
        self.list.update(|l| l.retain(|t| t.n != n));
    }
}

/// The toasts, in a polite live region at the bottom of the screen.
#[component]
pub fn Toaster(toasts: Toasts) -> impl IntoView {
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.list.get() key=|t| t.n let:t>
                <div class="toast" data-testid=t.test_id>
                    <span>{t.text.clone()}</span>
                    <button type="button" class="close" aria-label="Close"
                        on:click=move |_| toasts.close(t.n)>"×"</button>
                </div>
            </For>
        </div>
    }
}

/// The page header: breadcrumbs (each step a link but the last) and the page's title.
#[component]
pub fn PageHeader(
    /// The steps before the page, with their links.
    trail: Vec<(String, String)>,
    /// The page's title (also its last breadcrumb).
    title: String,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <nav aria-label="Breadcrumb" class="breadcrumbs">
                <ol>
                    {trail.into_iter().map(|(label, href)| view! { <li><a href=href>{label}</a></li> }).collect_view()}
                    <li aria-current="page">{title}</li>
                </ol>
            </nav>
        </header>
    }
}

/// What a list says when it has loaded empty: why, and what to do.
#[component]
pub fn Empty<T: Clone + Send + Sync + 'static>(
    /// The list's page, once loaded.
    list: RwSignal<Option<Page<T>>>,
    /// The test id of the message.
    test_id: &'static str,
    /// The message.
    text: &'static str,
) -> impl IntoView {
    move || {
        list.with(|p| p.as_ref().is_some_and(|p| p.items.is_empty()))
            .then(|| view! { <p class="empty" data-testid=test_id>{text}</p> })
    }
}
