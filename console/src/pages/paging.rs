//! Lists that scale: filters and the page number live in the URL query (so a reload, a link
//! and the back button keep them), the admin API is asked for one page of [`PER_PAGE`], and a
//! pager moves between pages ("51–100 of 240").

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use portcullis_api_types::Page;

use crate::api::enc;

/// Rows per page of every list.
pub(crate) const PER_PAGE: u64 = 50;

/// The URL query of a list page: read one key, or go to the same page with one key changed.
#[derive(Clone, Copy)]
pub(crate) struct UrlQuery {
    keys: &'static [&'static str],
    query: Memo<ParamsMap>,
}

impl UrlQuery {
    /// The query of the current page; `keys` are the filters it keeps (besides `page`).
    pub fn new(keys: &'static [&'static str]) -> Self {
        Self {
            keys,
            query: use_query_map(),
        }
    }

    /// The value of `key` in the URL ("" when absent), tracked.
    pub fn get(&self, key: &'static str) -> Memo<String> {
        let query = self.query;
        Memo::new(move |_| query.read().get(key).unwrap_or_default())
    }

    /// The admin API path for `base` with the URL's filters (renamed through `api_keys` where
    /// the API calls them otherwise) and page. Reads the URL tracked.
    pub fn api_path(&self, base: &str) -> String {
        let q = self.query.read();
        let mut path = format!("{base}?per_page={PER_PAGE}");
        for key in self.keys.iter().copied().chain(["page"]) {
            if let Some(v) = q.get(key).filter(|v| !v.trim().is_empty()) {
                path.push_str(&format!("&{key}={}", enc(v.trim())));
            }
        }
        path
    }

    /// A function that goes to this page with `key` set to a value (removed when empty); a
    /// change of filter goes back to the first page. Each change is a history entry.
    pub fn setter(&self) -> impl Fn(&'static str, String) + Clone + 'static + use<> {
        let keys = self.keys;
        let query = self.query;
        let location = use_location();
        let navigate = use_navigate();
        move |key, value| {
            let q = query.get_untracked();
            let mut parts = Vec::new();
            for k in keys.iter().copied().chain(["page"]) {
                let v = if k == key {
                    value.clone()
                } else if k == "page" {
                    String::new()
                } else {
                    q.get(k).unwrap_or_default()
                };
                if !v.is_empty() {
                    parts.push(format!("{k}={}", enc(&v)));
                }
            }
            let path = location.pathname.get_untracked();
            let url = if parts.is_empty() {
                path
            } else {
                format!("{path}?{}", parts.join("&"))
            };
            navigate(&url, NavigateOptions::default());
        }
    }
}

/// "51–100 of 240", or "none" for an empty list.
pub(crate) fn range_text(page: u64, per_page: u64, shown: usize, total: u64) -> String {
    if total == 0 || shown == 0 {
        return format!("0 of {total}");
    }
    let first = (page - 1) * per_page + 1;
    let last = first + shown as u64 - 1;
    format!("{first}–{last} of {total}")
}

/// Previous / next for a list loaded into `list`, moving the URL's `page`.
#[component]
pub(crate) fn Pager<T: Clone + Send + Sync + 'static>(
    list: RwSignal<Option<Page<T>>>,
    query: UrlQuery,
) -> impl IntoView {
    let set = query.setter();
    let set_next = set.clone();
    let facts = move || {
        list.with(|l| {
            l.as_ref()
                .map(|p| (p.page, p.per_page, p.items.len(), p.total))
        })
    };
    let has_prev = move || facts().is_some_and(|(page, ..)| page > 1);
    let has_next = move || facts().is_some_and(|(page, per, _, total)| page * per < total);
    view! {
        <nav class="pager" aria-label="Pages" data-testid="pager">
            <button type="button" data-testid="pager-prev" disabled=move || !has_prev()
                on:click=move |_| if let Some((page, ..)) = facts() { set("page", (page - 1).to_string()) }>"Previous"</button>
            <span data-testid="pager-range" aria-live="polite">
                {move || facts().map(|(page, per, shown, total)| range_text(page, per, shown, total))}
            </span>
            <button type="button" data-testid="pager-next" disabled=move || !has_next()
                on:click=move |_| if let Some((page, ..)) = facts() { set_next("page", (page + 1).to_string()) }>"Next"</button>
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::range_text;

    #[test]
    fn the_range_names_the_rows_shown_and_the_total() {
        assert_eq!(range_text(1, 50, 50, 60), "1–50 of 60");
        assert_eq!(range_text(2, 50, 10, 60), "51–60 of 60");
        assert_eq!(range_text(3, 50, 50, 240), "101–150 of 240");
        assert_eq!(range_text(1, 50, 0, 0), "0 of 0");
        // A page past the end (the list shrank meanwhile) shows nothing, not a made-up range.
        assert_eq!(range_text(4, 50, 0, 60), "0 of 60");
    }
}
