//! Readers of URLs and HTML pages.

use std::collections::HashMap;

/// The path and query of a URL (or of a path) on the node, for `Browser::get`.
pub fn local_path(location: &str) -> String {
    if location.starts_with('/') {
        return location.to_owned();
    }
    let url = url::Url::parse(location).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The (decoded) query parameters of a URL or path.
pub fn query_params(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location)
        .or_else(|_| {
            url::Url::parse("http://relative.invalid")
                .unwrap()
                .join(location)
        })
        .unwrap();
    url.query_pairs().into_owned().collect()
}

/// Undoes HTML escaping (named and numeric character references).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The unescaped value of the first `attr="…"` in the page after `marker` (e.g. the hidden field
/// `name="return_to"` and its `value`).
pub fn html_attr_after(body: &str, marker: &str, attr: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"))
        + marker.len();
    let tail = &body[start..];
    let key = format!("{attr}=\"");
    let at = tail
        .find(&key)
        .unwrap_or_else(|| panic!("{attr} after {marker}"))
        + key.len();
    html_unescape(tail[at..].split('"').next().unwrap())
}
