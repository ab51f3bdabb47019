//! App rows and their registered URIs. Every query is scoped by org id.

use super::entities::{app_redirect_uris, apps, saml_apps};
use super::{Store, StoreError, insert_audit};
use crate::apps::{App, AppId, AppSettings, AppType, AppUri, NewApp, SamlSettings, SessionProfile};
use crate::audit::AuditEvent;
use crate::tenancy::OrgId;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

const KIND_REDIRECT: &str = "redirect";
const KIND_POST_LOGOUT: &str = "post_logout";

fn corrupt(what: String) -> StoreError {
    StoreError::Encoding(what)
}

/// Rows were validated on the way in; a value that no longer parses is reported, not trusted.
fn stored_uri(raw: String, app_type: AppType) -> Result<AppUri, StoreError> {
    AppUri::parse(&raw, app_type, true).map_err(|e| corrupt(e.to_string()))
}

/// The settings column: the app's settings as JSON.
pub(super) fn settings_json(settings: &AppSettings) -> Result<String, StoreError> {
    serde_json::to_string(settings).map_err(|e| corrupt(e.to_string()))
}

/// A logout URI column.
pub(super) fn uri_column(uri: Option<&AppUri>) -> Option<String> {
    uri.map(|u| u.as_str().to_owned())
}

/// Inserts the app's redirect and post-logout redirect URIs.
pub(super) async fn insert_app_uris<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    app: Uuid,
    new: &NewApp,
) -> Result<(), StoreError> {
    let uris = new.redirect_uris.iter().map(|u| (KIND_REDIRECT, u)).chain(
        new.post_logout_redirect_uris
            .iter()
            .map(|u| (KIND_POST_LOGOUT, u)),
    );
    for (kind, uri) in uris {
        app_redirect_uris::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org.0),
            app_id: Set(app),
            kind: Set(kind.to_owned()),
            uri: Set(uri.as_str().to_owned()),
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

/// A SAML app's row (its settings as JSON; the entity id column is the one the unique index
/// guards, written from the same value).
pub(super) async fn insert_saml<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    app: Uuid,
    saml: &SamlSettings,
) -> Result<(), StoreError> {
    saml_apps::ActiveModel {
        org_id: Set(org.0),
        app_id: Set(app),
        sp_entity_id: Set(saml.sp_entity_id.as_str().to_owned()),
        settings: Set(serde_json::to_string(saml).map_err(|e| corrupt(e.to_string()))?),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The settings were checked on the way in; a row that no longer reads is reported, not
/// trusted (a SAML app without readable settings signs no one in).
pub(super) fn stored_saml(row: saml_apps::Model) -> Result<SamlSettings, StoreError> {
    let saml: SamlSettings =
        serde_json::from_str(&row.settings).map_err(|e| corrupt(format!("SAML settings: {e}")))?;
    if saml.sp_entity_id.as_str() != row.sp_entity_id {
        return Err(corrupt(
            "SAML settings: entity id differs from its column".into(),
        ));
    }
    Ok(saml)
}

async fn load_app<C: ConnectionTrait>(conn: &C, m: apps::Model) -> Result<App, StoreError> {
    let uris = app_redirect_uris::Entity::find()
        .filter(app_redirect_uris::Column::OrgId.eq(m.org_id))
        .filter(app_redirect_uris::Column::AppId.eq(m.id))
        .order_by_asc(app_redirect_uris::Column::Id)
        .all(conn)
        .await?;
    let saml = if m.app_type == AppType::Saml.as_str() {
        saml_apps::Entity::find()
            .filter(saml_apps::Column::OrgId.eq(m.org_id))
            .filter(saml_apps::Column::AppId.eq(m.id))
            .one(conn)
            .await?
    } else {
        None
    };
    build_app(m, uris, saml)
}

/// The SAML rows of those of `rows` that are SAML apps, by app id: one query.
async fn saml_rows<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    rows: &[apps::Model],
) -> Result<std::collections::HashMap<Uuid, saml_apps::Model>, StoreError> {
    let ids: Vec<Uuid> = rows
        .iter()
        .filter(|m| m.app_type == AppType::Saml.as_str())
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    Ok(saml_apps::Entity::find()
        .filter(saml_apps::Column::OrgId.eq(org.0))
        .filter(saml_apps::Column::AppId.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.app_id, r))
        .collect())
}

/// Apps of one org from their rows, with the URIs of all of them read in one query (no query
/// per app).
pub(super) async fn load_apps<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    rows: Vec<apps::Model>,
) -> Result<Vec<App>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut uris: std::collections::HashMap<Uuid, Vec<app_redirect_uris::Model>> =
        std::collections::HashMap::new();
    for row in app_redirect_uris::Entity::find()
        .filter(app_redirect_uris::Column::OrgId.eq(org.0))
        .filter(app_redirect_uris::Column::AppId.is_in(rows.iter().map(|m| m.id)))
        .order_by_asc(app_redirect_uris::Column::Id)
        .all(conn)
        .await?
    {
        uris.entry(row.app_id).or_default().push(row);
    }
    let mut saml = saml_rows(conn, org, &rows).await?;
    rows.into_iter()
        .map(|m| {
            let mine = uris.remove(&m.id).unwrap_or_default();
            let saml = saml.remove(&m.id);
            build_app(m, mine, saml)
        })
        .collect()
}

fn build_app(
    m: apps::Model,
    uris: Vec<app_redirect_uris::Model>,
    saml: Option<saml_apps::Model>,
) -> Result<App, StoreError> {
    let app_type: AppType = m.app_type.parse().map_err(corrupt)?;
    let saml = match (app_type, saml) {
        (AppType::Saml, Some(row)) => Some(stored_saml(row)?),
        (AppType::Saml, None) => return Err(corrupt(format!("SAML app {} has no settings", m.id))),
        (_, _) => None,
    };
    let mut redirect_uris = Vec::new();
    let mut post_logout_redirect_uris = Vec::new();
    for row in uris {
        let uri = stored_uri(row.uri, app_type)?;
        if row.kind == KIND_POST_LOGOUT {
            post_logout_redirect_uris.push(uri);
        } else {
            redirect_uris.push(uri);
        }
    }
    let profile = SessionProfile::from_db(&m.session_profile);
    // Rows from before settings existed hold `{}`: they get the defaults of type and profile.
    let settings = serde_json::from_str::<AppSettings>(&m.settings)
        .unwrap_or_else(|_| AppSettings::defaults(app_type, profile));
    Ok(App {
        id: AppId(m.id),
        org_id: OrgId(m.org_id),
        client_id: m.client_id,
        name: m.name,
        app_type,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri: m
            .backchannel_logout_uri
            .map(|u| stored_uri(u, app_type))
            .transpose()?,
        frontchannel_logout_uri: m
            .frontchannel_logout_uri
            .map(|u| stored_uri(u, app_type))
            .transpose()?,
        session_profile: profile,
        admin: m.role.as_deref() == Some("admin"),
        settings,
        created_at: m.created_at,
        saml,
    })
}

impl Store {
    /// Inserts an app, its URIs and its audit event in one transaction: all or nothing.
    /// Registers an app unless the org already has `max_apps` (then `None`, nothing written).
    /// The org row is written first, so parallel registrations in one org take turns (a row
    /// lock on PostgreSQL, the write lock on SQLite) and the count cannot be raced past.
    pub async fn create_app(
        &self,
        org: OrgId,
        new: &NewApp,
        max_apps: u64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<App>, StoreError> {
        let txn = self.begin_write().await?;
        super::entities::orgs::Entity::update_many()
            .col_expr(
                super::entities::orgs::Column::Id,
                sea_orm::sea_query::Expr::col(super::entities::orgs::Column::Id),
            )
            .filter(super::entities::orgs::Column::Id.eq(org.0))
            .exec(&txn)
            .await?;
        let existing = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .count(&txn)
            .await?;
        if existing >= max_apps {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        let model = apps::ActiveModel {
            id: Set(id),
            org_id: Set(org.0),
            client_id: Set(new.client_id.clone()),
            name: Set(new.name.clone()),
            app_type: Set(new.app_type.as_str().to_owned()),
            client_secret_hash: Set(new.client_secret_hash.clone()),
            backchannel_logout_uri: Set(uri_column(new.backchannel_logout_uri.as_ref())),
            frontchannel_logout_uri: Set(uri_column(new.frontchannel_logout_uri.as_ref())),
            session_profile: Set(new.session_profile.as_str().to_owned()),
            role: Set(new.admin.then(|| "admin".to_owned())),
            settings: Set(settings_json(&new.settings)?),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        insert_app_uris(&txn, org, id, new).await?;
        if let Some(saml) = &new.saml {
            insert_saml(&txn, org, id, saml).await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "app.created",
            target: Some(new.client_id.clone()),
            details: match &new.saml {
                Some(saml) => serde_json::json!({
                    "name": new.name,
                    "type": new.app_type.as_str(),
                    "sp_entity_id": saml.sp_entity_id.as_str(),
                }),
                None => serde_json::json!({ "name": new.name, "type": new.app_type.as_str() }),
            },
        };
        insert_audit(&txn, &event, now).await?;
        let app = load_app(&txn, model).await?;
        txn.commit().await?;
        Ok(Some(app))
    }

    pub async fn app_by_id(&self, org: OrgId, id: AppId) -> Result<Option<App>, StoreError> {
        let found = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.eq(id.0))
            .one(&self.db)
            .await?;
        match found {
            Some(m) => Ok(Some(load_app(&self.db, m).await?)),
            None => Ok(None),
        }
    }

    pub async fn app_by_client_id(
        &self,
        org: OrgId,
        client_id: &str,
    ) -> Result<Option<App>, StoreError> {
        Ok(self
            .app_and_secret_by_client_id(org, client_id)
            .await?
            .map(|(app, _)| app))
    }

    /// An app of this org by client id with its stored secret hash (None for public apps):
    /// one read of the app row for client authentication.
    pub async fn app_and_secret_by_client_id(
        &self,
        org: OrgId,
        client_id: &str,
    ) -> Result<Option<(App, Option<String>)>, StoreError> {
        let found = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await?;
        match found {
            Some(m) => {
                let secret = m.client_secret_hash.clone();
                Ok(Some((load_app(&self.db, m).await?, secret)))
            }
            None => Ok(None),
        }
    }

    /// The stored secret hash of a confidential app of this org.
    pub async fn app_secret_hash(
        &self,
        org: OrgId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await?
            .and_then(|m| m.client_secret_hash))
    }

    /// Deletes an app of this org (its URIs go with it); `NotFound` when the org has no such app.
    pub async fn delete_app(&self, org: OrgId, id: AppId) -> Result<(), StoreError> {
        let result = apps::Entity::delete_many()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.eq(id.0))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The org's apps, oldest first.
    pub async fn apps(&self, org: OrgId) -> Result<Vec<App>, StoreError> {
        let rows = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .order_by_asc(apps::Column::CreatedAt)
            .order_by_asc(apps::Column::Id)
            .all(&self.db)
            .await?;
        load_apps(&self.db, org, rows).await
    }

    /// One page of the org's apps, oldest first (`offset` rows skipped, at most `limit`
    /// read), and how many the org has: the admin list, paged by the database.
    pub async fn apps_page(
        &self,
        org: OrgId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<App>, u64), StoreError> {
        use sea_orm::QuerySelect;
        let query = apps::Entity::find().filter(apps::Column::OrgId.eq(org.0));
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(apps::Column::CreatedAt)
            .order_by_asc(apps::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((load_apps(&self.db, org, rows).await?, total))
    }

    /// Client ids of the org's apps among `ids` (the apps a page of sessions or deliveries
    /// names), by app id; one query.
    pub async fn client_ids(
        &self,
        org: OrgId,
        ids: &[AppId],
    ) -> Result<std::collections::BTreeMap<Uuid, String>, StoreError> {
        use sea_orm::QuerySelect;
        if ids.is_empty() {
            return Ok(std::collections::BTreeMap::new());
        }
        Ok(apps::Entity::find()
            .select_only()
            .column(apps::Column::Id)
            .column(apps::Column::ClientId)
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.is_in(ids.iter().map(|a| a.0)))
            .into_tuple::<(Uuid, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect())
    }

    /// Client ids of the org's apps among `ids` that have a back-channel logout URI (whom a
    /// revocation tells); one query.
    pub async fn backchannel_client_ids(
        &self,
        org: OrgId,
        ids: &[AppId],
    ) -> Result<Vec<String>, StoreError> {
        use sea_orm::QuerySelect;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(apps::Entity::find()
            .select_only()
            .column(apps::Column::ClientId)
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.is_in(ids.iter().map(|a| a.0)))
            .filter(apps::Column::BackchannelLogoutUri.is_not_null())
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }

    /// The SAML app of this org whose SP has this entity id (exact match).
    pub async fn saml_app_by_entity_id(
        &self,
        org: OrgId,
        entity_id: &str,
    ) -> Result<Option<App>, StoreError> {
        let Some(row) = saml_apps::Entity::find()
            .filter(saml_apps::Column::OrgId.eq(org.0))
            .filter(saml_apps::Column::SpEntityId.eq(entity_id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.app_by_id(org, AppId(row.app_id)).await
    }

    /// The org's SAML apps users may start from the IdP (`SamlSettings::idp_initiated`): id
    /// and name, by name. Two queries; a row whose settings no longer read is left out (and
    /// logged), not the whole list.
    pub async fn idp_initiated_saml_apps(
        &self,
        org: OrgId,
    ) -> Result<Vec<(AppId, String)>, StoreError> {
        use sea_orm::QuerySelect;
        let rows = saml_apps::Entity::find()
            .filter(saml_apps::Column::OrgId.eq(org.0))
            .all(&self.db)
            .await?;
        let mut ids = Vec::new();
        for row in rows {
            let app_id = row.app_id;
            match stored_saml(row) {
                Ok(s) if s.idp_initiated => ids.push(app_id),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(org = %org, app = %app_id, error = %e, "SAML settings do not read")
                }
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(apps::Entity::find()
            .select_only()
            .column(apps::Column::Id)
            .column(apps::Column::Name)
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.is_in(ids))
            .order_by_asc(apps::Column::Name)
            .order_by_asc(apps::Column::Id)
            .into_tuple::<(Uuid, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(id, name)| (AppId(id), name))
            .collect())
    }

    pub async fn count_apps(&self, org: OrgId) -> Result<u64, StoreError> {
        Ok(apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .count(&self.db)
            .await?)
    }
}

impl Store {
    /// Replaces an app's settings and URIs (not its client id, secret, type or role) in one
    /// transaction with an audit event; `NotFound` if the org has no such app.
    pub async fn update_app(
        &self,
        org: OrgId,
        id: AppId,
        new: &NewApp,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<App, StoreError> {
        let txn = self.begin_write().await?;
        update_app_row(&txn, org, id, new, now).await?;
        app_redirect_uris::Entity::delete_many()
            .filter(app_redirect_uris::Column::OrgId.eq(org.0))
            .filter(app_redirect_uris::Column::AppId.eq(id.0))
            .exec(&txn)
            .await?;
        insert_app_uris(&txn, org, id.0, new).await?;
        saml_apps::Entity::delete_many()
            .filter(saml_apps::Column::OrgId.eq(org.0))
            .filter(saml_apps::Column::AppId.eq(id.0))
            .exec(&txn)
            .await?;
        if let Some(saml) = &new.saml {
            insert_saml(&txn, org, id.0, saml).await?;
        }
        let event = AuditEvent {
            org_id: org,
            actor: actor.to_owned(),
            action: "app.updated",
            target: Some(new.client_id.clone()),
            details: serde_json::json!({ "name": new.name }),
        };
        insert_audit(&txn, &event, now).await?;
        let model = apps::Entity::find()
            .filter(apps::Column::OrgId.eq(org.0))
            .filter(apps::Column::Id.eq(id.0))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let app = load_app(&txn, model).await?;
        txn.commit().await?;
        Ok(app)
    }
}

/// Writes the app row's settings and logout URIs (not its client id, secret, type or role);
/// `NotFound` if the org has no such app.
async fn update_app_row<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: AppId,
    new: &NewApp,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    let settings = settings_json(&new.settings)?;
    let result = apps::Entity::update_many()
        .col_expr(apps::Column::Name, Expr::value(new.name.clone()))
        .col_expr(
            apps::Column::BackchannelLogoutUri,
            Expr::value(uri_column(new.backchannel_logout_uri.as_ref())),
        )
        .col_expr(
            apps::Column::FrontchannelLogoutUri,
            Expr::value(uri_column(new.frontchannel_logout_uri.as_ref())),
        )
        .col_expr(
            apps::Column::SessionProfile,
            Expr::value(new.session_profile.as_str()),
        )
        .col_expr(apps::Column::Settings, Expr::value(settings))
        .col_expr(apps::Column::UpdatedAt, Expr::value(now))
        .filter(apps::Column::OrgId.eq(org.0))
        .filter(apps::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
