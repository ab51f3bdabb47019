//! Admin REST API under `/api/v1` (bearer-token protected endpoints arrive with sign-in).

pub mod routes;
