//! Wire types shared by the Portcullis server, the console and tests.
//!
//! These are plain serde structs: no validation lives here (the server turns them into domain
//! types with validating constructors), and nothing here may depend on a native-only crate, so the
//! console can compile this crate to wasm32.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/deployment`: public facts about this deployment, shown by the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    /// Display name of the deployment (`deployment.name` in the configuration).
    pub name: String,
    /// Version of the running server.
    pub version: String,
}

/// `GET /readyz`: whether this node can serve traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready`, `degraded` (serving, but the cache is unreachable) or `unavailable`.
    pub status: String,
    /// `ok` or `unreachable`.
    pub database: String,
    /// `ok` or `degraded`.
    pub cache: String,
}

/// Output of `portcullis org create --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgCreated {
    pub id: String,
    pub slug: String,
    pub issuer: String,
}

/// Output of `portcullis user create --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    pub id: String,
    pub email: String,
}

/// Output of `portcullis app create --json`. The secret is shown once and never stored; public
/// clients (`spa`, `native`) have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCreated {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// The JSON body of every error answer from the HTTP API and of `--json` CLI errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `org_not_found`.
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
}
