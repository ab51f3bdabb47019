//! Signing keys: the published list and rotation.

use super::*;
use crate::admin_api::ApiError;
use crate::state::AppState;

use crate::tenancy::Org;
use portcullis_api_types::SigningKeyView;

pub async fn list_keys(state: &AppState, org: &Org) -> Result<Vec<SigningKeyView>, ApiError> {
    // Publishing the JWKS makes the first key if the org has none yet.
    state.keys.jwks(org.id).await.map_err(ApiError::internal)?;
    Ok(state
        .store
        .signing_keys(org.id, state.clock.now())
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(|k| SigningKeyView {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            activates_at: ts(k.activates_at),
            expires_at: k.expires_at.map(ts),
        })
        .collect())
}

pub async fn rotate_key(
    state: &AppState,
    org: &Org,
    alg: Option<&str>,
    publish_lead_secs: Option<i64>,
) -> Result<SigningKeyView, ApiError> {
    let alg = alg
        .map(|a| a.parse::<crate::keys::SigningAlg>())
        .transpose()
        .map_err(|m| ApiError::field("alg", m))?;
    let lead = publish_lead_secs.unwrap_or(state.config.keys.rotation_publish_lead_secs);
    if !(0..=crate::keys::MAX_PUBLISH_LEAD_SECS).contains(&lead) {
        return Err(ApiError::field(
            "publish_lead_secs",
            format!("must be 0 to {}", crate::keys::MAX_PUBLISH_LEAD_SECS),
        ));
    }
    let info = state
        .keys
        .rotate(org, alg, chrono::Duration::seconds(lead))
        .await
        .map_err(|e| match e {
            // Another rotation (or a first use) of this org won the race.
            crate::keys::KeyError::Store(crate::store::StoreError::Conflict) => {
                ApiError::Conflict("another key rotation is under way; try again".into())
            }
            other => ApiError::internal(other),
        })?;
    Ok(SigningKeyView {
        kid: info.kid,
        alg: info.alg.as_str().to_owned(),
        activates_at: ts(info.activates_at),
        expires_at: None,
    })
}
