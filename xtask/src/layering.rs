//! `cargo xtask check`: the layering and size rules of `server/src`, read from the source text.
//!
//! - SeaORM is imported only under `store/` (the one org-scoped store).
//! - actix-web (and actix-http) only under `http/` and in files named `*routes.rs` (the route
//!   files of the features and the route tree `routes.rs`).
//! - No function is longer than `MAX_FN_LINES` lines (from its `fn` line to its closing brace)
//!   unless a comment starting `// Long:` right above it (among its doc comments and attributes)
//!   says why.
//!
//! Comments, strings and character literals are blanked before the rules look, so a string
//! that names a crate (a log filter) or holds a brace does not count.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub const MAX_FN_LINES: usize = 80;

/// Every breach of the rules under `src` (the server crate's `src/`), one line each.
pub fn check(src: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    files.sort();
    let mut breaches = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let rel = path
            .strip_prefix(src)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        breaches.extend(check_file(&rel, &text));
    }
    Ok(breaches)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The breaches of one file; `rel` is its path below `src/`, with `/` separators.
pub fn check_file(rel: &str, text: &str) -> Vec<String> {
    let code = blank_comments_and_literals(text);
    let mut breaches = Vec::new();
    let in_store = rel.starts_with("store/");
    let at_edge = rel.starts_with("http/") || rel.ends_with("routes.rs");
    for (no, line) in code.lines().enumerate() {
        if !in_store && has_token(line, "sea_orm") {
            breaches.push(format!(
                "{rel}:{}: SeaORM outside store/ (only the store talks to the database)",
                no + 1
            ));
        }
        if !at_edge && (has_token(line, "actix_web") || has_token(line, "actix_http")) {
            breaches.push(format!(
                "{rel}:{}: actix outside http/ and *routes.rs (services do not know HTTP)",
                no + 1
            ));
        }
    }
    let original: Vec<&str> = text.lines().collect();
    for (start, end, name) in functions(&code) {
        let len = end - start + 1;
        if len > MAX_FN_LINES && !explained(&original, start) {
            breaches.push(format!(
                "{rel}:{}: fn {name} is {len} lines (more than {MAX_FN_LINES}); split it, or say why above it in a `// Long:` comment",
                start + 1
            ));
        }
    }
    breaches
}

/// `token` as a whole word (not part of a longer identifier) in `line`.
fn has_token(line: &str, token: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(token).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + token.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// A `// Long:` comment among the doc comments, attributes and comments right above line `fn_line`.
fn explained(lines: &[&str], fn_line: usize) -> bool {
    lines[..fn_line]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("//") || l.starts_with("#[") || l.starts_with(')'))
        .any(|l| l.starts_with("// Long:"))
}

/// Every `fn` with a body: (line of `fn`, line of its closing brace, name), 0-based.
fn functions(code: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (no, line) in lines.iter().enumerate() {
        for (i, _) in line.match_indices("fn ") {
            if !has_token(&line[i..i + 2], "fn")
                || line[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let name: String = line[i + 3..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            if let Some(end) = body_end(&lines, no, i) {
                found.push((no, end, name));
            }
        }
    }
    found
}

/// The line of the brace that closes the body of the `fn` at (`line`, `col`); None for a
/// declaration without a body (`;` before any `{`).
fn body_end(lines: &[&str], line: usize, col: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut opened = false;
    // Parentheses and angle brackets of the signature may hold braces only in const
    // generics; a `;` at depth 0 before the body ends a declaration.
    for (no, text) in lines.iter().enumerate().skip(line) {
        let from = if no == line { col } else { 0 };
        for c in text[from..].chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' if opened => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(no);
                    }
                }
                ';' if !opened => return None,
                _ => {}
            }
        }
    }
    None
}

/// The text with comments, string literals and character literals replaced by spaces (line
/// breaks kept, so line numbers stay).
pub fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br#"…"#: no escapes; ends at `"` and as many `#`.
            let open = chars[i..].iter().position(|&c| c == '"').unwrap_or(0) + 1;
            for _ in 0..open {
                out.push(' ');
            }
            i += open;
            while i < chars.len() {
                let closes =
                    chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                if closes {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if let Some(&escaped) = chars.get(i) {
                    blank(&mut out, escaped);
                }
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}', '\''); otherwise a lifetime.
            let len = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| p + 3)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            match len {
                Some(len) => {
                    for _ in 0..len {
                        out.push(' ');
                    }
                    i += len;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At a raw string literal (`r"`, `r#`…`"`, `br"`…): how many `#` close it.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    if prev_ident {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_fn(lines: usize) -> String {
        let mut f = String::from("fn big() {\n");
        for n in 0..lines - 2 {
            f.push_str(&format!("    let _x{n} = {n};\n"));
        }
        f.push_str("}\n");
        f
    }

    #[test]
    fn sea_orm_is_refused_outside_the_store() {
        let src = "use sea_orm::DbErr;\n";
        assert_eq!(check_file("store/users.rs", src), Vec::<String>::new());
        let found = check_file("accounts/service.rs", src);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("accounts/service.rs:1: SeaORM"));
        let inline = "fn f() -> sea_orm::DbErr { todo() }\n";
        assert_eq!(check_file("keys/service.rs", inline).len(), 1);
    }

    #[test]
    fn actix_is_refused_outside_the_edge() {
        let src = "use actix_web::HttpResponse;\n";
        for ok in [
            "http/pages.rs",
            "authn/routes.rs",
            "accounts/link_routes.rs",
            "routes.rs",
        ] {
            assert!(check_file(ok, src).is_empty(), "{ok}");
        }
        assert_eq!(check_file("sessions/service.rs", src).len(), 1);
        assert_eq!(
            check_file("app.rs", "fn f(_: actix_http::Request) {}\n").len(),
            1
        );
    }

    #[test]
    fn names_in_strings_comments_and_longer_identifiers_do_not_count() {
        let src = "// uses sea_orm\nconst F: &str = \"actix_web=warn\";\n/* actix_web */\nfn my_sea_orm_thing() {}\nconst R: &str = r#\"sea_orm \"quoted\" \"#;\n";
        assert!(
            check_file("telemetry.rs", src).is_empty(),
            "{:?}",
            check_file("telemetry.rs", src)
        );
    }

    #[test]
    fn a_long_function_needs_a_reason() {
        let ok = long_fn(MAX_FN_LINES);
        assert!(check_file("x.rs", &ok).is_empty());
        let long = long_fn(MAX_FN_LINES + 1);
        let found = check_file("x.rs", &long);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("fn big is 81 lines"), "{}", found[0]);
        let explained = format!(
            "/// Does much.\n// Long: one table of cases, read top to bottom.\n#[allow(dead_code)]\n{long}"
        );
        assert!(check_file("x.rs", &explained).is_empty());
    }

    #[test]
    fn braces_in_literals_and_declarations_do_not_confuse_the_count() {
        let src = "trait T { fn decl(&self); }\nfn f() -> char {\n    let _s = \"}}}\";\n    let _c = '}';\n    let _l: &'static str = \"{\";\n    '{'\n}\n";
        let found = functions(&blank_comments_and_literals(src));
        assert_eq!(found, vec![(1, 6, "f".to_owned())]);
    }
}
