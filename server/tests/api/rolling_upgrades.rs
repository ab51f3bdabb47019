//! Rolling upgrades (issue 21 item 6): a migration classified rolling-safe leaves everything
//! the previous release's store uses in place, and `portcullis migrate --check` reports the
//! pending migrations of a database at an older version without applying any.

use crate::helpers::{Cli, TestDb};
use portcullis_migrations::{MigratorTrait, ROLLING, Safety};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::{BTreeMap, BTreeSet};

/// A column as the previous release's code relies on it.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    data_type: String,
    nullable: bool,
    has_default: bool,
}

/// The parts of a schema that old code depends on.
#[derive(Debug, Default)]
struct Schema {
    tables: BTreeSet<String>,
    /// (table, column) → column.
    columns: BTreeMap<(String, String), Column>,
    /// index name → (table, unique, columns).
    indexes: BTreeMap<String, (String, bool, BTreeSet<String>)>,
}

const POSTGRES_COLUMNS: &str = "SELECT table_name::text AS t, column_name::text AS c, \
     data_type::text AS ty, is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS dflt \
     FROM information_schema.columns WHERE table_schema = current_schema()";
const POSTGRES_INDEXES: &str = "SELECT i.relname::text AS name, t.relname::text AS t, \
     ix.indisunique AS uniq, array_to_string(ARRAY(SELECT a.attname::text \
     FROM unnest(ix.indkey) k JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k), \
     ',') AS cols \
     FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
     JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE n.nspname = current_schema()";
const SQLITE_COLUMNS: &str = "SELECT m.name AS t, p.name AS c, p.type AS ty, \
     p.\"notnull\" = 0 AS nullable, p.dflt_value IS NOT NULL AS dflt \
     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'";
const SQLITE_INDEXES: &str = "SELECT il.name AS name, m.name AS t, il.\"unique\" = 1 AS uniq, \
     (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) ii) AS cols \
     FROM sqlite_master m JOIN pragma_index_list(m.name) il \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'";

async fn snapshot(db: &DatabaseConnection) -> Schema {
    let backend = db.get_database_backend();
    let (columns, indexes) = match backend {
        DbBackend::Postgres => (POSTGRES_COLUMNS, POSTGRES_INDEXES),
        _ => (SQLITE_COLUMNS, SQLITE_INDEXES),
    };
    let mut schema = Schema::default();
    for row in db
        .query_all_raw(Statement::from_string(backend, columns))
        .await
        .unwrap()
    {
        let table: String = row.try_get("", "t").unwrap();
        if table == "seaql_migrations" {
            continue;
        }
        schema.tables.insert(table.clone());
        let column = Column {
            data_type: row.try_get("", "ty").unwrap(),
            nullable: row.try_get("", "nullable").unwrap(),
            has_default: row.try_get("", "dflt").unwrap(),
        };
        schema
            .columns
            .insert((table, row.try_get("", "c").unwrap()), column);
    }
    for row in db
        .query_all_raw(Statement::from_string(backend, indexes))
        .await
        .unwrap()
    {
        let cols: BTreeSet<String> = row
            .try_get::<Option<String>>("", "cols")
            .unwrap()
            .unwrap_or_default()
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        schema.indexes.insert(
            row.try_get("", "name").unwrap(),
            (
                row.try_get("", "t").unwrap(),
                row.try_get("", "uniq").unwrap(),
                cols,
            ),
        );
    }
    schema
}

/// What a node of the previous release (built for `old`) would trip over in `new`.
fn contract_changes(old: &Schema, new: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    for table in old.tables.difference(&new.tables) {
        found.push(format!("table {table} removed or renamed"));
    }
    for ((table, name), was) in &old.columns {
        match new.columns.get(&(table.clone(), name.clone())) {
            None => found.push(format!("column {table}.{name} removed or renamed")),
            Some(now) if now.data_type != was.data_type => found.push(format!(
                "column {table}.{name} retyped {} → {}",
                was.data_type, now.data_type
            )),
            Some(now) if !now.nullable && (was.nullable || was.has_default) && !now.has_default => {
                found.push(format!(
                    "column {table}.{name} became NOT NULL without default"
                ))
            }
            Some(_) => {}
        }
    }
    for ((table, name), now) in &new.columns {
        let added = !old.columns.contains_key(&(table.clone(), name.clone()));
        if added && old.tables.contains(table) && !now.nullable && !now.has_default {
            found.push(format!(
                "new column {table}.{name} is NOT NULL without default"
            ));
        }
    }
    for name in old.indexes.keys().filter(|n| !new.indexes.contains_key(*n)) {
        found.push(format!("index {name} removed"));
    }
    for (name, (table, unique, cols)) in &new.indexes {
        // A new unique index on an old table is safe only if it covers a new column, which
        // old writes leave NULL (NULLs never collide).
        let old_columns_only = cols
            .iter()
            .all(|c| old.columns.contains_key(&(table.clone(), c.clone())));
        if *unique
            && !old.indexes.contains_key(name)
            && old.tables.contains(table)
            && old_columns_only
        {
            found.push(format!(
                "new unique index {name} on existing columns of {table}"
            ));
        }
    }
    found
}

both_backends!(
    rolling_safe_migrations_keep_the_previous_schema_intact,
    |backend| {
        let db = TestDb::create(&backend).await;
        let conn = sea_orm::Database::connect(&db.url).await.unwrap();
        let mut before = snapshot(&conn).await;
        let mut caught = Vec::new();
        for (name, safety, _) in ROLLING {
            portcullis_migrations::Migrator::up(&conn, Some(1))
                .await
                .unwrap();
            let after = snapshot(&conn).await;
            let changes = contract_changes(&before, &after);
            match safety {
                Safety::Rolling => assert!(
                    changes.is_empty(),
                    "{name} is classified rolling-safe but a previous node would trip over: \
                     {changes:#?}"
                ),
                Safety::Drain if !changes.is_empty() => caught.push(*name),
                Safety::Drain => {}
            }
            before = after;
        }
        assert!(
            portcullis_migrations::Migrator::get_pending_migrations(&conn)
                .await
                .unwrap()
                .is_empty()
        );
        // The check can fail: the rename (20) and the unique index on old columns (25) are
        // caught; 28 needs a drain for a change of meaning no schema diff shows.
        assert_eq!(
            caught,
            [
                "m20261129_000020_email_links_and_signup",
                "m20261204_000025_one_open_signing_key"
            ]
        );
        conn.close().await.unwrap();
    }
);

/// Names of the migrations from index `from` on.
fn names_from(from: usize) -> Vec<String> {
    ROLLING[from..]
        .iter()
        .map(|(n, _, _)| (*n).to_owned())
        .collect()
}

/// Runs `migrate --check --json`; returns the exit code and the report.
async fn check(cli: &Cli) -> (Option<i32>, serde_json::Value) {
    let out = cli.run(&["migrate", "--check", "--json"]).await;
    let report = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {} {}", out.stdout, out.stderr));
    (out.code, report)
}

fn pending_names(report: &serde_json::Value) -> Vec<String> {
    report["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Index just after the last migration that needs a drain.
fn after_last_drain() -> usize {
    ROLLING
        .iter()
        .rposition(|(_, s, _)| *s == Safety::Drain)
        .unwrap()
        + 1
}

both_backends!(
    migrate_check_lists_pending_migrations_without_applying,
    |backend| {
        let db = TestDb::create(&backend).await;
        let cli = Cli::new(&db.url, None);
        let conn = sea_orm::Database::connect(&db.url).await.unwrap();
        let manager = portcullis_migrations::SchemaManager::new(&conn);

        // A fresh database: everything pending, drains among them; not even the migrations
        // table is created.
        let (code, report) = check(&cli).await;
        assert_eq!(code, Some(3), "{report}");
        assert_eq!(report["verdict"], "drain");
        assert_eq!(pending_names(&report), names_from(0));
        assert!(!manager.has_table("seaql_migrations").await.unwrap());

        // At the version before migration 20 (a drain): exactly the rest, each with its class.
        portcullis_migrations::Migrator::up(&conn, Some(19))
            .await
            .unwrap();
        let (code, report) = check(&cli).await;
        assert_eq!(code, Some(3));
        assert_eq!(pending_names(&report), names_from(19));
        for (entry, (name, safety, reason)) in report["pending"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&ROLLING[19..])
        {
            assert_eq!(entry["name"], *name);
            assert_eq!(entry["safety"], safety.as_str());
            assert_eq!(entry["reason"], *reason);
        }
        // Nothing was applied.
        let still = portcullis_migrations::Migrator::get_pending_migrations(&conn)
            .await
            .unwrap();
        assert_eq!(still.len(), ROLLING.len() - 19);
        let human = cli.run(&["migrate", "--check"]).await;
        assert_eq!(human.code, Some(3));
        assert!(
            human
                .stdout
                .contains("drain    m20261129_000020_email_links_and_signup"),
            "{}",
            human.stdout
        );
        assert!(human.stdout.contains("needs a drain"), "{}", human.stdout);

        // Past the last drain: the rest is rolling-safe, exit 0.
        let past = after_last_drain();
        portcullis_migrations::Migrator::up(&conn, Some(u32::try_from(past - 19).unwrap()))
            .await
            .unwrap();
        let (code, report) = check(&cli).await;
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(pending_names(&report), names_from(past));
        let expected = if past == ROLLING.len() {
            "up_to_date"
        } else {
            "rolling"
        };
        assert_eq!(report["verdict"], expected);

        // Migrated: nothing pending.
        assert!(cli.run(&["migrate"]).await.success);
        let (code, report) = check(&cli).await;
        assert_eq!(code, Some(0));
        assert_eq!(report["verdict"], "up_to_date");
        assert!(pending_names(&report).is_empty());

        // A database migrated by a newer release: an error (exit 1), not a verdict.
        conn.execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) \
             VALUES ('m20991231_000099_from_a_newer_release', 0)",
        )
        .await
        .unwrap();
        let out = cli.run(&["migrate", "--check", "--json"]).await;
        assert_eq!(out.code, Some(1), "{} {}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("m20991231_000099_from_a_newer_release"),
            "{}",
            out.stderr
        );
        conn.close().await.unwrap();
    }
);
