//! The throwaway PostgreSQL cluster of `common::pg`: each fresh database is its own, empty, and
//! reachable through the URL given (by libpq's `psql`), and the server listens on no TCP address.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// `psql`: on PATH, else in the highest `/usr/lib/postgresql/*/bin` (where `common::pg` looks too).
fn psql() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("psql")).find(|p| p.is_file()));
    on_path
        .or_else(|| {
            let mut dirs: Vec<PathBuf> =
                std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
            dirs.sort_by_key(|d| d.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok()));
            dirs.into_iter().rev().map(|d| d.join("bin/psql")).find(|p| p.is_file())
        })
        .expect("the PostgreSQL server binaries are here but psql is not")
}

/// `psql URL -Atc SQL`, its stdout trimmed; panics naming the query and psql's stderr when it
/// fails.
fn query(url: &str, sql: &str) -> String {
    let out = Command::new(psql()).args(["-X", "-At", url, "-c", sql]).output().expect("run psql");
    assert!(out.status.success(), "psql {url} -c {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_string()
}

/// `%XX` escapes back to bytes: the socket folder from a URL's host.
fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn fresh_databases_are_distinct_empty_and_reachable_on_the_unix_socket_only() {
    if let Some(why) = common::pg::unavailable() {
        common::skip(&why);
        return;
    }
    let first = common::pg::fresh_database().expect("first fresh database");
    let second = common::pg::fresh_database().expect("second fresh database");
    assert_ne!(first, second, "two fresh databases share a URL");

    for url in [&first, &second] {
        let rest = url.strip_prefix("postgresql://postgres@").unwrap_or_else(|| panic!("URL shape: {url}"));
        let (host, name) = rest.split_once('/').unwrap_or_else(|| panic!("URL has no database: {url}"));
        assert_eq!(query(url, "select current_database()"), name, "{url} answers for another database");
        assert_eq!(
            query(url, "select count(*) from pg_class where relnamespace = 'public'::regnamespace"),
            "0",
            "{url} is not empty"
        );
        let socket_dir = percent_decode(host);
        assert!(socket_dir.starts_with('/'), "the URL's host {host} is not a socket folder");
        assert_eq!(query(url, "show unix_socket_directories"), socket_dir, "socket folder of {url}");
        assert_eq!(query(url, "show listen_addresses"), "", "the server listens on TCP");
    }

    // And no TCP connection reaches that database (whatever else may answer on 127.0.0.1).
    let name = first.rsplit('/').next().expect("database name");
    let tcp = Command::new(psql())
        .args(["-X", "-w", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", name, "-c", "select 1"])
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
        .expect("run psql");
    assert!(!tcp.status.success(), "database {name} answered on 127.0.0.1:5432");
}
