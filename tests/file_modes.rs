//! Files ordersync creates hold buyers' data or secrets: the database (and its WAL files) is 0600
//! whatever the caller's umask, and the demo's folder is unpredictable and 0700.

mod common;

use common::{count, spawn_ymcart};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_and_its_wal_files_are_0600_under_a_zero_umask() {
    if common::sqlite_only("the SQLite file's mode") {
        return;
    }
    let env = spawn_ymcart(20, 5, 301).await;
    // A shell with umask 000 runs the pass that creates the database.
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" --config \"$1\" sync")
        .arg(env!("CARGO_BIN_EXE_ordersync"))
        .arg(&env.config_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = env.dir.join("ordersync.db");
    assert_eq!(mode(&db), 0o600, "database file");
    // While a connection is open the WAL files exist; SQLite gives them the database's mode.
    let store = env.store();
    assert!(count(&store, "SELECT COUNT(*) FROM orders") > 0);
    for suffix in ["-wal", "-shm"] {
        let p = env.dir.join(format!("ordersync.db{suffix}"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn the_demo_folder_is_unpredictable_and_private() {
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .args(["demo", "--seconds", "1", "--orders", "5"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let config = stdout
        .split_whitespace()
        .find(|w| w.ends_with("ordersync.toml"))
        .unwrap_or_else(|| panic!("the demo names its config: {stdout}"));
    let dir = Path::new(config).parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("ordersync-demo-"), "{name}");
    assert_ne!(name, format!("ordersync-demo-{}", out.status.code().unwrap_or_default()));
    assert!(name.len() > "ordersync-demo-".len() + 5, "a random suffix: {name}");
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "toml") {
            assert_eq!(mode(&p) & 0o077, 0, "{} is readable by others", p.display());
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
