//! Test harness: `TestApp::spawn` runs the real application on port 0 with a fresh database
//! (a new SQLite file, or a new PostgreSQL database) and, for Redis, a per-test key prefix.
//! Every helper is reachable as `crate::helpers::name`.

#[macro_use]
mod backend;
mod app;
mod config;
mod flow;
mod jwt;
mod pages;
mod process;
mod rp;

pub use app::TestApp;
pub use backend::{Backend, TestDb};
pub use config::{TEST_KEY_ENCRYPTION_KEY, test_figment};
pub use flow::{follow_to_app, idp_session, org_with_alice, submit_login};
pub use jwt::{jwt_claims, jwt_header, pkce};
pub use pages::{html_attr_after, html_unescape, local_path, query_params};
pub use process::{Cli, eventually, free_port, start_node, start_node_with};
pub use rp::{Answer, Rp, Tokens};
// Public names no test uses by this path today, still reachable at it as before the split.
#[allow(unused_imports)]
pub use {
    jwt::jwt_part,
    process::{CliOutput, Node, bin},
};
