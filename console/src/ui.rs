//! Small pieces of UI the pages share.

use leptos::prelude::*;

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
