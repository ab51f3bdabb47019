//! Apps: the OpenID Connect clients of an org, their URIs and credentials.

mod error;
mod model;
mod service;

pub use error::AppError;
pub use model::{App, AppId, AppType, AppUri, InvalidUri, NewApp, SessionProfile};
pub use service::{AppService, CreateApp};
