//! Regression tests for the holes the black-box security reviews found (issues 13 and 14). Each
//! submodule covers items of a review; `cargo test -p portcullis --test api security` runs them all.
mod account;
mod cache;
mod edges;
mod growth;
mod limits;
mod logs;
mod mfa;
mod oidc;
mod origins;
mod other_sessions;
mod outage_codes;
mod quotas;
mod signin;
mod ssrf;
mod throttle;
