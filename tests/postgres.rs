//! PostgreSQL as the database: `check` connects and names what is wrong, the schema has the same
//! tables and columns as SQLite's (a contract other tools read), and instances starting at once
//! create it once. Runs against a throwaway cluster (`common::pg`), or says SKIPPED.

mod common;

use ordersync::config::Database;
use ordersync::store::{Param, Store};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

fn cluster() -> Option<String> {
    if let Some(why) = common::pg::unavailable() {
        common::skip(&why);
        return None;
    }
    Some(common::pg::fresh_database().expect("a fresh database"))
}

/// `ordersync check` on a file whose database is `database`: (exit code, stdout + stderr).
fn check(database: &str, extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.toml");
    std::fs::write(&path, format!("[daemon]\ndatabase = \"{database}\"\n{extra}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .env("ORDERSYNC_TEST_DB_PASSWORD", "x")
        .arg("--config")
        .arg(&path)
        .arg("check")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_connects_and_names_what_is_wrong() {
    let Some(url) = cluster() else { return };
    let (code, said) = check(&url, "");
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("daemon.database: connected"), "{said}");

    let missing = format!("{}/no_such_db", url.rsplit_once('/').unwrap().0);
    let (code, said) = check(&missing, "");
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("daemon.database") && said.contains("no_such_db") && said.contains("does not exist"),
        "{said}"
    );

    // A password written in the URL is refused, and never repeated back.
    let inline = url.replace("postgres@", "postgres:hunter2secret@");
    let (code, said) = check(&inline, "");
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("daemon.database") && said.contains("database_password"), "{said}");
    assert!(!said.contains("hunter2secret"), "the password is not printed: {said}");

    // A password for an SQLite file makes no sense and is named.
    let (code, said) = check("o.db", "database_password = \"${ORDERSYNC_TEST_DB_PASSWORD}\"");
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("daemon.database_password"), "{said}");
}

#[test]
fn the_schema_has_the_same_tables_and_columns_on_both_backends() {
    let Some(url) = cluster() else { return };
    let pg = Store::connect(&Database::Postgres { url, password: None }, Duration::from_secs(10)).unwrap();
    assert_eq!(pg.backend(), "postgres");
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("o.db")).unwrap();
    let columns = |store: &Store, sql: &str| -> BTreeSet<(String, String)> {
        store.query(sql, &[]).unwrap().into_iter().map(|mut r| (r.text(0).unwrap(), r.text(1).unwrap())).collect()
    };
    let on_pg = columns(
        &pg,
        "SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> 'ordersync_schema'",
    );
    let on_sqlite = columns(
        &lite,
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    );
    assert!(on_sqlite.len() > 60, "the SQLite schema was read: {}", on_sqlite.len());
    assert_eq!(on_pg, on_sqlite, "tables and columns differ between schema.sql and schema.pg.sql");
}

#[test]
fn instances_starting_at_once_create_the_schema_once() {
    let Some(url) = cluster() else { return };
    let database = Database::Postgres { url, password: None };
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let database = database.clone();
            std::thread::spawn(move || Store::connect(&database, Duration::from_secs(10)).map(|s| s.backend()))
        })
        .collect();
    for o in opened {
        assert_eq!(o.join().unwrap().expect("every instance opens"), "postgres");
    }
    let store = Store::connect(&database, Duration::from_secs(10)).unwrap();
    let versions = store.query("SELECT version FROM ordersync_schema", &[]).unwrap();
    assert_eq!(versions.len(), 1, "one version row");
    let mut row = versions.into_iter().next().unwrap();
    assert_eq!(row.int(0).unwrap(), ordersync::store::SCHEMA_VERSION);
    // Parameters of every kind round-trip, including NULL where a type must be inferred.
    let n = store
        .query(
            "SELECT COUNT(*) FROM holders WHERE (CAST(?1 AS TEXT) IS NULL OR id = ?1) AND pid >= ?2",
            &[Param::Null, Param::Int(0)],
        )
        .unwrap()
        .remove(0)
        .int(0)
        .unwrap();
    assert_eq!(n, 0);
}

/// A PostgreSQL database at version 4 (before links) is brought to 5 by migrations/pg/0005.sql:
/// the link tables appear with the columns a new database gets, and stored rows are kept.
#[test]
fn a_version_4_database_gets_the_link_tables() {
    let Some(url) = cluster() else { return };
    let database = Database::Postgres { url, password: None };
    let fresh = Store::connect(&database, Duration::from_secs(10)).unwrap();
    let columns = |store: &Store| -> BTreeSet<(String, String)> {
        let sql = "SELECT table_name, column_name FROM information_schema.columns
                   WHERE table_schema = 'public' AND table_name LIKE '%link%'";
        store.query(sql, &[]).unwrap().into_iter().map(|mut r| (r.text(0).unwrap(), r.text(1).unwrap())).collect()
    };
    let new_columns = columns(&fresh);
    assert_eq!(new_columns.iter().map(|(t, _)| t.as_str()).collect::<BTreeSet<_>>().len(), 4, "{new_columns:?}");
    fresh.execute("DROP TABLE order_links, link_orders, link_forwards, link_alerts", &[]).unwrap();
    fresh.execute("UPDATE ordersync_schema SET version = 4", &[]).unwrap();
    fresh
        .execute(
            "INSERT INTO holders (id, host, pid, started, kind, seen_at) VALUES ('h', 'host', 1, 's', 'sync', 't')",
            &[],
        )
        .unwrap();
    assert!(columns(&fresh).is_empty(), "the link tables are gone: a version-4 database");
    drop(fresh);
    let store = Store::connect(&database, Duration::from_secs(10)).unwrap();
    let mut version = store.query("SELECT version FROM ordersync_schema", &[]).unwrap().remove(0);
    assert_eq!(version.int(0).unwrap(), 5);
    assert_eq!(columns(&store), new_columns, "migrated tables equal new ones");
    let mut holders = store.query("SELECT COUNT(*) FROM holders", &[]).unwrap().remove(0);
    assert_eq!(holders.int(0).unwrap(), 1, "rows are kept");
    // The default works on a migrated database.
    store
        .execute(
            "INSERT INTO order_links (from_shop, from_order, to_shop, to_order) VALUES ('lb', 'L1', 'ym', 'Y1')",
            &[],
        )
        .unwrap();
    let mut created = store.query("SELECT created_at FROM order_links", &[]).unwrap().remove(0);
    assert!(created.text(0).unwrap().ends_with('Z'));
}
