//! Regression tests for the holes a black-box security review found (issue 13). Each submodule
//! covers one item of that review; `cargo test -p portcullis --test api security` runs them all.
mod account;
mod cache;
mod edges;
mod mfa;
mod other_sessions;
mod quotas;
mod ssrf;
mod throttle;
