//! `cargo bench --bench scale_out -- --minutes 10`: several `ordersync run` instances on one
//! PostgreSQL database (docs/scale-out.md).
//!
//! 300 Liangben shops × 3 streams (orders, shipments, refunds), every stream on `0 * * * * *`,
//! served by one simulator in this process; 3 instances of the real binary (release build), one
//! shared config, one fresh database on a throwaway PostgreSQL cluster (`tests/common/pg.rs`),
//! started at the same moment 15 seconds before a minute boundary and stopped with SIGTERM
//! `--minutes M` later (default 10), 45 seconds after the last tick: M ticks for every shop × stream.
//! The push schedule is once a year (1 January, 03:00): no flush runs and the outbox stays empty.
//!
//! Reported: passes per stream (database `sync_runs`) against the expected shops × 3 × M, missed
//! and doubled shop × stream × minute, passes per instance (each instance's own `sync pass done`
//! log lines; `sync_runs` has no holder column), passes sending at once (the simulator's pass
//! headers, and overlapping `[started_at, finished_at]` in `sync_runs`), CPU and peak RSS per
//! instance (`/proc/<pid>/stat`, `/proc/<pid>/status`), database connections (peak of
//! `pg_stat_activity` for the database, sampled every 2 s), and the database's load over the run
//! (`pg_stat_database`, the server's own CPU). Options: `--minutes M`, `--shops N`, `--instances K`,
//! `--keep-logs DIR` (copies each instance's log there). Exits 1 when an instance does not exit 0
//! after SIGTERM or two passes of one shop × stream sent at once; a shop × stream run more than
//! once in a minute (one instance after another) is reported, not failed. Without PostgreSQL
//! server binaries it says why and exits 0.

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use ordersync::sim::liangben::LbSim;
use ordersync::sim::Simulator;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STREAMS: [&str; 3] = ["orders", "shipments", "refunds"];
/// How often connections, CPU and RSS are sampled.
const SAMPLE: Duration = Duration::from_secs(2);

/// One running `ordersync run` and what was seen of it.
struct Instance {
    child: Child,
    pid: u32,
    log: PathBuf,
    /// Last readable user + system CPU, in clock ticks.
    ticks: u64,
    /// Peak resident set (VmHWM), KiB.
    hwm_kib: u64,
    /// Resident set at the last sample before SIGTERM, KiB.
    rss_kib: u64,
    exit: Option<std::process::ExitStatus>,
}

impl Instance {
    fn sample(&mut self) {
        if let Some(t) = cpu_ticks_of(&format!("/proc/{}/stat", self.pid)) {
            self.ticks = t;
        }
        if let Some(k) = status_kib(self.pid, "VmHWM:") {
            self.hwm_kib = self.hwm_kib.max(k);
        }
        if let Some(k) = status_kib(self.pid, "VmRSS:") {
            self.rss_kib = k;
        }
    }
}

/// What one instance's log says it did, by stream: passes done, failed, skipped (held elsewhere).
#[derive(Default)]
struct LogCounts {
    done: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    /// Other lines at warn or error.
    warnings: Vec<String>,
    /// Job activations the cron scheduler's channel dropped (`Error receiving Lagged(N)`): ticks
    /// this instance never ran; and dropped job-state notifications (`… value Lagged(N)`).
    dropped_ticks: u64,
    dropped_notes: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let minutes: u64 = opt("--minutes").and_then(|v| v.parse().ok()).unwrap_or(10).max(1);
    let shops: usize = opt("--shops").and_then(|v| v.parse().ok()).unwrap_or(300);
    let instances: usize = opt("--instances").and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let keep_logs = opt("--keep-logs").map(PathBuf::from);
    let shown: Vec<&str> = args.iter().skip(1).map(String::as_str).filter(|a| *a != "--bench").collect();
    println!("command: cargo bench --bench scale_out -- {}", shown.join(" "));
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    println!("started: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    if let Some(why) = pg::unavailable() {
        println!("no result: PostgreSQL cannot run here: {why}");
        return;
    }
    let url = match pg::fresh_database() {
        Ok(url) => url,
        Err(why) => {
            println!("no result: could not start a throwaway PostgreSQL database: {why}");
            std::process::exit(1);
        }
    };
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("the bench connects to its database");
    let server_pid: u32 = {
        let backend: i32 = db.query_one("SELECT pg_backend_pid()", &[]).expect("backend pid").get(0);
        ppid_of(backend as u32).expect("the server's postmaster")
    };
    let version: String = db.query_one("SHOW server_version", &[]).expect("version").get(0);
    let max_conn: String = db.query_one("SHOW max_connections", &[]).expect("max_connections").get(0);

    // The simulator runs on its own runtime; this thread stays synchronous (the postgres client
    // runs its own runtime inside and must not be called from within another).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let sim = LbSim::new(7);
    for i in 0..shops {
        sim.add_shop(&format!("scale-{i}"), 5, 3);
    }
    let server = rt.block_on(sim.serve()).expect("simulator");

    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = write_config(dir.path(), &url, &server.base_url(), shops);

    // Start 15 s before a minute boundary: start-up is done before the first tick, and the
    // SIGTERM M minutes later comes 45 s after the M-th tick (an instance took up to 40 s to work
    // through one tick's 900 jobs in the first 10-minute run).
    let now = chrono::Utc::now().timestamp_millis();
    let start_at = (now / 60_000 + 1) * 60_000 - 15_000;
    let start_at = if start_at - now < 3_000 { start_at + 60_000 } else { start_at };
    println!("database: PostgreSQL {version}, max_connections {max_conn}; {shops} shops × 3 streams; {instances} instances; {minutes} min");
    eprintln!("waiting {:.0} s to start on :45", (start_at - now) as f64 / 1000.0);
    std::thread::sleep(Duration::from_millis((start_at - chrono::Utc::now().timestamp_millis()).max(0) as u64));

    let stats0 = db_stats(&mut db);
    let pg_cpu0 = tree_cpu_ticks(server_pid);
    let mut commands: Vec<(Command, PathBuf)> = (0..instances)
        .map(|k| {
            let log = dir.path().join(format!("instance-{k}.log"));
            let mut c = Command::new(env!("CARGO_BIN_EXE_ordersync"));
            c.arg("--config")
                .arg(&cfg)
                .arg("run")
                .env("RUST_LOG", "warn,ordersync::sync=info")
                .env("NO_COLOR", "1")
                .env_remove("JOURNAL_STREAM")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            (c, log)
        })
        .collect();
    let t0 = Instant::now();
    let started_utc = chrono::Utc::now();
    let mut running: Vec<Instance> = commands
        .iter_mut()
        .map(|(c, log)| {
            let child = c.spawn().expect("ordersync run starts");
            let pid = child.id();
            Instance { child, pid, log: log.clone(), ticks: 0, hwm_kib: 0, rss_kib: 0, exit: None }
        })
        .collect();
    let spawn_spread = t0.elapsed();

    let run_for = Duration::from_secs(minutes * 60);
    let mut peak_conn = 0i64;
    let mut peak_conn_at = 0.0;
    let mut conn_by_minute: Vec<i64> = vec![0; minutes as usize + 1];
    let mut samples = 0u64;
    let mut conn_sum = 0i64;
    let mut early_exit = Vec::new();
    let mut next_report = Duration::from_secs(60);
    // Holders retire (their rows go) when they exit: noted while they run.
    let mut holders: BTreeMap<String, (i64, String)> = BTreeMap::new();
    while t0.elapsed() < run_for {
        std::thread::sleep(SAMPLE.min(run_for.saturating_sub(t0.elapsed())));
        for (k, inst) in running.iter_mut().enumerate() {
            inst.sample();
            if inst.exit.is_none() {
                if let Ok(Some(status)) = inst.child.try_wait() {
                    inst.exit = Some(status);
                    early_exit.push(format!("instance {k} exited early: {status}"));
                }
            }
        }
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .map(|r| r.get(0))
            .unwrap_or(0);
        let minute = (t0.elapsed().as_secs() / 60) as usize;
        if let Some(m) = conn_by_minute.get_mut(minute) {
            *m = (*m).max(n);
        }
        if holders.len() < instances {
            for r in db.query("SELECT id, pid, kind FROM holders", &[]).unwrap_or_default() {
                holders.insert(r.get(0), (r.get(1), r.get(2)));
            }
        }
        samples += 1;
        conn_sum += n;
        if n > peak_conn {
            peak_conn = n;
            peak_conn_at = t0.elapsed().as_secs_f64();
        }
        if t0.elapsed() >= next_report {
            let runs: i64 = db.query_one("SELECT count(*) FROM sync_runs", &[]).map(|r| r.get(0)).unwrap_or(-1);
            eprintln!(
                "  {:>4.0} s: {runs} sync_runs, {n} connections now (peak {peak_conn}), {} requests",
                t0.elapsed().as_secs_f64(),
                sim.requests().len()
            );
            next_report += Duration::from_secs(60);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let stopped_utc = chrono::Utc::now();

    // SIGTERM every instance at once, then wait for each (drain_timeout_secs = 30 bounds it).
    for inst in &running {
        Command::new("kill").args(["-TERM", &inst.pid.to_string()]).status().expect("kill");
    }
    let stop0 = Instant::now();
    let mut drain_secs = vec![0.0; running.len()];
    while running.iter().any(|i| i.exit.is_none()) && stop0.elapsed() < Duration::from_secs(90) {
        for (k, inst) in running.iter_mut().enumerate() {
            if inst.exit.is_none() {
                inst.sample();
                if let Ok(Some(status)) = inst.child.try_wait() {
                    inst.exit = Some(status);
                    drain_secs[k] = stop0.elapsed().as_secs_f64();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for inst in running.iter_mut().filter(|i| i.exit.is_none()) {
        let _ = inst.child.kill();
        inst.exit = inst.child.wait().ok();
    }
    // Exited backends report their counters on the way out; give the server a moment.
    std::thread::sleep(Duration::from_secs(2));
    let pg_cpu = tree_cpu_ticks(server_pid).saturating_sub(pg_cpu0) as f64 / 100.0;
    let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("reconnect");
    let stats1 = db_stats(&mut db);

    // ---- what the database says ----
    let one = |db: &mut postgres::Client, sql: &str| -> i64 {
        db.query_one(sql, &[]).map(|r| r.get::<_, i64>(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let total_runs = one(&mut db, "SELECT count(*) FROM sync_runs");
    let unfinished = one(&mut db, "SELECT count(*) FROM sync_runs WHERE finished_at IS NULL");
    let db_overlaps = one(
        &mut db,
        "SELECT count(*) FROM sync_runs a JOIN sync_runs b
           ON a.shop_id = b.shop_id AND a.stream = b.stream AND a.id < b.id
          AND b.started_at::timestamptz <= COALESCE(a.finished_at::timestamptz, 'infinity')
          AND a.started_at::timestamptz <= COALESCE(b.finished_at::timestamptz, 'infinity')",
    );
    let errors: Vec<(String, i64)> = db
        .query(
            "SELECT left(error, 200), count(*) FROM sync_runs WHERE error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 8",
            &[],
        )
        .expect("errors")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // Which shop × stream × minute (UTC, the tick's minute) ran at all.
    let ran: std::collections::HashSet<(String, String, String)> = db
        .query(
            "SELECT DISTINCT shop_id, stream,
                    to_char(date_trunc('minute', started_at::timestamptz AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:MI')
               FROM sync_runs",
            &[],
        )
        .expect("cells")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let tick_minutes: Vec<String> = (0..minutes as i64)
        .map(|k| {
            let at = chrono::DateTime::from_timestamp_millis(start_at + 15_000 + k * 60_000).expect("tick time");
            at.format("%Y-%m-%dT%H:%M").to_string()
        })
        .collect();
    let mut missed: Vec<(String, String, String)> = Vec::new();
    for i in 0..shops {
        for stream in STREAMS {
            for m in &tick_minutes {
                let cell = (format!("s{i}"), stream.to_string(), m.clone());
                if !ran.contains(&cell) {
                    missed.push(cell);
                }
            }
        }
    }
    // Per stream: runs, failed, shop × stream × minute cells present / doubled, min..max per shop.
    struct StreamFig {
        runs: i64,
        failed: i64,
        doubled: i64,
        per_shop_min: i64,
        per_shop_max: i64,
        shops_seen: i64,
        rows_seen: i64,
        rows_changed: i64,
        avg_ms: f64,
        max_ms: f64,
    }
    let mut by_stream: BTreeMap<&str, StreamFig> = BTreeMap::new();
    for stream in STREAMS {
        let r = db
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE ok IS DISTINCT FROM 1),
                        COALESCE(sum(rows_seen), 0)::bigint, COALESCE(sum(rows_changed), 0)::bigint,
                        COALESCE(avg(EXTRACT(EPOCH FROM finished_at::timestamptz - started_at::timestamptz)) * 1000, 0)::float8,
                        COALESCE(max(EXTRACT(EPOCH FROM finished_at::timestamptz - started_at::timestamptz)) * 1000, 0)::float8
                   FROM sync_runs WHERE stream = $1",
                &[&stream],
            )
            .expect("per stream");
        let cells = db
            .query_one(
                "SELECT count(*) FILTER (WHERE n > 1) FROM (
                   SELECT shop_id, date_trunc('minute', started_at::timestamptz) m, count(*) n
                     FROM sync_runs WHERE stream = $1 GROUP BY 1, 2) c",
                &[&stream],
            )
            .expect("cells");
        let per_shop = db
            .query_one(
                "SELECT COALESCE(min(n), 0), COALESCE(max(n), 0), count(*) FROM (
                   SELECT shop_id, count(*) n FROM sync_runs WHERE stream = $1 GROUP BY 1) s",
                &[&stream],
            )
            .expect("per shop");
        by_stream.insert(
            stream,
            StreamFig {
                runs: r.get(0),
                failed: r.get(1),
                rows_seen: r.get(2),
                rows_changed: r.get(3),
                avg_ms: r.get(4),
                max_ms: r.get(5),
                doubled: cells.get(0),
                per_shop_min: per_shop.get(0),
                per_shop_max: per_shop.get(1),
                shops_seen: per_shop.get(2),
            },
        );
    }
    let stored: Vec<(&str, i64)> =
        ["orders", "order_lines", "shipments", "refunds", "status_changes", "rejected_records"]
            .into_iter()
            .map(|t| (t, one(&mut db, &format!("SELECT count(*) FROM {t}"))))
            .collect();
    let outbox = one(&mut db, "SELECT count(*) FROM outbox");
    let sizes = db
        .query_one("SELECT pg_database_size(current_database()), (SELECT count(*) FROM rate_slots), (SELECT count(*) FROM leases)", &[])
        .expect("sizes");
    let (db_bytes, rate_slots, leases): (i64, i64, i64) = (sizes.get(0), sizes.get(1), sizes.get(2));

    // ---- what the simulator and the logs say ----
    let overlapping = sim.core().overlapping_passes();
    let sim_passes = sim.core().pass_count();
    let requests = sim.requests().len();
    let logs: Vec<LogCounts> = running.iter().map(|i| read_log(&i.log)).collect();
    drop(server);

    // ---- report ----
    let expected_per_stream = shops as i64 * minutes as i64;
    println!(
        "window: {} → {} UTC ({wall:.1} s; instances spawned within {:.1} ms; SIGTERM 45 s after the last tick)",
        started_utc.format("%H:%M:%S%.3f"),
        stopped_utc.format("%H:%M:%S%.3f"),
        spawn_spread.as_secs_f64() * 1000.0
    );
    println!();
    println!("| instance | pid (holder) | passes run (orders / shipments / refunds) | share | ticks skipped (held by another) | ticks dropped by the cron scheduler (Lagged) | failed | CPU s | % of one core | peak RSS (MiB) | RSS at stop (MiB) | exit | drain s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    let all_done: u64 = logs.iter().map(|l| l.done.values().sum::<u64>()).sum();
    for (k, (inst, log)) in running.iter().zip(&logs).enumerate() {
        let per = |m: &BTreeMap<String, u64>| STREAMS.map(|s| m.get(s).copied().unwrap_or(0));
        let done = per(&log.done);
        let n: u64 = done.iter().sum();
        let cpu = inst.ticks as f64 / 100.0;
        println!(
            "| {k} | {} ({}) | {} ({} / {} / {}) | {:.1} % | {} | {} | {} | {:.1} | {:.2} % | {:.1} | {:.1} | {} | {:.2} |",
            inst.pid,
            holders.iter().find(|(_, (pid, _))| *pid == i64::from(inst.pid)).map_or("?", |(id, _)| id.as_str()),
            n,
            done[0],
            done[1],
            done[2],
            100.0 * n as f64 / all_done.max(1) as f64,
            log.skipped.values().sum::<u64>(),
            log.dropped_ticks,
            log.failed.values().sum::<u64>(),
            cpu,
            cpu / wall * 100.0,
            inst.hwm_kib as f64 / 1024.0,
            inst.rss_kib as f64 / 1024.0,
            inst.exit.map_or("not reaped".to_string(), |s| s.to_string()),
            drain_secs[k],
        );
    }
    println!();
    println!("| stream | expected passes (shops × minutes) | run (sync_runs) | shop × minute cells with no pass | shop × minute cells with 2+ passes | passes per shop min..max | failed | rows seen / changed | pass ms avg / max |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (stream, f) in &by_stream {
        println!(
            "| {stream} | {expected_per_stream} | {} | {} | {} | {}..{} ({} shops) | {} | {} / {} | {:.0} / {:.0} |",
            f.runs,
            missed.iter().filter(|c| c.1 == *stream).count(),
            f.doubled,
            f.per_shop_min,
            f.per_shop_max,
            f.shops_seen,
            f.failed,
            f.rows_seen,
            f.rows_changed,
            f.avg_ms,
            f.max_ms
        );
    }
    let d = |k: &str| stats1.get(k).copied().unwrap_or(0) - stats0.get(k).copied().unwrap_or(0);
    let expected = expected_per_stream * 3;
    let doubled_cells: i64 = by_stream.values().map(|f| f.doubled).sum();
    let exits_ok = running.iter().all(|i| i.exit.is_some_and(|s| s.success()));
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| passes expected / run (sync_runs) / in the instances' logs / distinct pass headers at the simulator | {expected} / {total_runs} / {all_done} / {sim_passes} |");
    println!("| passes sending at once (simulator, `overlapping_passes`) | {} |", overlapping.len());
    println!("| sync_runs of one shop × stream overlapping in [started_at, finished_at] | {db_overlaps} |");
    println!("| sync_runs never finished | {unfinished} |");
    println!("| requests to the simulator | {requests} ({:.1} per pass) |", requests as f64 / total_runs.max(1) as f64);
    println!(
        "| database connections, peak (sampled every {} s, the bench's own excluded) | {peak_conn} at {peak_conn_at:.0} s; mean {:.1}; peak by minute {} |",
        SAMPLE.as_secs(),
        conn_sum as f64 / samples.max(1) as f64,
        conn_by_minute.iter().map(i64::to_string).collect::<Vec<_>>().join("/")
    );
    println!(
        "| pg_stat_database over the run: xact_commit / xact_rollback | {} / {} ({:.1} commits per pass, {:.0}/s) |",
        d("xact_commit"),
        d("xact_rollback"),
        d("xact_commit") as f64 / total_runs.max(1) as f64,
        d("xact_commit") as f64 / wall
    );
    println!(
        "| tup_inserted / tup_updated / tup_deleted | {} / {} / {} |",
        d("tup_inserted"),
        d("tup_updated"),
        d("tup_deleted")
    );
    println!("| tup_returned / tup_fetched | {} / {} |", d("tup_returned"), d("tup_fetched"));
    println!("| blks_read / blks_hit | {} / {} |", d("blks_read"), d("blks_hit"));
    println!(
        "| sessions (connections opened) | {} ({:.1} per pass) |",
        d("sessions"),
        d("sessions") as f64 / total_runs.max(1) as f64
    );
    println!(
        "| PostgreSQL server CPU (postmaster and every backend) | {pg_cpu:.1} s, {:.2} % of one core |",
        pg_cpu / wall * 100.0
    );
    println!(
        "| rows stored | {}; outbox {outbox}; rate_slots {rate_slots}; leases {leases}; database {:.1} MiB |",
        stored.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", "),
        db_bytes as f64 / 1048576.0
    );
    println!(
        "| holders seen while running (id pid kind) | {} |",
        holders.iter().map(|(id, (pid, kind))| format!("{id} {pid} {kind}")).collect::<Vec<_>>().join("; ")
    );
    println!("| shop × stream × minute run more than once (across instances) | {doubled_cells} of {expected} |");
    for (e, n) in &errors {
        println!("| failed passes' error ({n}) | {} |", e.replace('|', "/"));
    }
    println!("| every instance exited 0 after SIGTERM | {} |", if exits_ok { "yes" } else { "**no**" });
    for line in &early_exit {
        println!("note: {line}");
    }
    for (a, b) in overlapping.iter().take(10) {
        println!("note: pass {a} was sending while {b} was");
    }
    for (shop, stream, minute) in missed.iter().take(6) {
        println!("missed: {shop} {stream} at {minute}; the instances' logs of it:");
        for (k, inst) in running.iter().enumerate() {
            let text = std::fs::read_to_string(&inst.log).unwrap_or_default();
            let quoted = format!("shop=\"{shop}\"");
            let plain = format!("shop={shop} ");
            for line in text.lines().map(strip_ansi).filter(|l| {
                l.starts_with(minute.as_str())
                    && (l.contains(&quoted) || l.contains(&plain))
                    && l.contains(&format!("stream={stream}"))
            }) {
                println!("  instance {k}: {line}");
            }
        }
    }
    for (k, log) in logs.iter().enumerate() {
        if log.dropped_notes > 0 {
            println!(
                "instance {k}: the cron scheduler dropped {} job-state notifications (`Error receiving value Lagged`)",
                log.dropped_notes
            );
        }
        // Grouped by message: the text after the level, numbers blanked.
        let mut groups: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for w in &log.warnings {
            let msg = w.split_once("WARN").or_else(|| w.split_once("ERROR")).map_or(w.as_str(), |(_, m)| m).trim();
            let key: String = msg.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).take(160).collect();
            let e = groups.entry(key).or_insert((0, w.clone()));
            e.0 += 1;
        }
        for (n, first) in groups.values() {
            println!("instance {k} logged {n}× like: {first}");
        }
    }
    if let Some(to) = &keep_logs {
        std::fs::create_dir_all(to).expect("log folder");
        for (k, inst) in running.iter().enumerate() {
            std::fs::copy(&inst.log, to.join(format!("instance-{k}.log"))).expect("copy log");
        }
        println!("logs kept in {}", to.display());
    }
    let ok = exits_ok && overlapping.is_empty() && db_overlaps == 0;
    if !ok {
        println!("FAILED: an instance did not exit 0, or two passes of one shop × stream ran at once");
        std::process::exit(1);
    }
}

fn write_config(dir: &Path, url: &str, base_url: &str, shops: usize) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mut text = format!(
        "[daemon]\ndatabase = \"{url}\"\ndrain_timeout_secs = 30\n\n[push]\n# once a year: no flush during the bench\nschedule = \"0 0 3 1 1 *\"\n\n[http]\nretries = 2\n\n"
    );
    for i in 0..shops {
        let token = dir.join(format!("scale-{i}.token"));
        std::fs::write(&token, format!("scale-{i}\n")).expect("secret");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        text.push_str(&format!(
            "[[shops]]\nid = \"s{i}\"\nplatform = \"liangben\"\nbase_url = \"{base_url}\"\ntoken_file = \"{}\"\n[shops.schedule]\norders = \"0 * * * * *\"\nshipments = \"0 * * * * *\"\nrefunds = \"0 * * * * *\"\n\n",
            token.display()
        ));
    }
    let path = dir.join("scale_out.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// The counters of `pg_stat_database` for the current database.
fn db_stats(db: &mut postgres::Client) -> BTreeMap<String, i64> {
    db.batch_execute("SELECT pg_stat_clear_snapshot()").ok();
    let cols = [
        "xact_commit",
        "xact_rollback",
        "tup_inserted",
        "tup_updated",
        "tup_deleted",
        "tup_returned",
        "tup_fetched",
        "blks_read",
        "blks_hit",
        "sessions",
    ];
    let sql = format!(
        "SELECT {} FROM pg_stat_database WHERE datname = current_database()",
        cols.map(|c| format!("{c}::bigint")).join(", ")
    );
    // `sessions` is PostgreSQL 14+; older servers get the list without it.
    let row = db.query_one(&sql, &[]).or_else(|_| {
        let sql = format!(
            "SELECT {}, 0::bigint FROM pg_stat_database WHERE datname = current_database()",
            cols[..9].iter().map(|c| format!("{c}::bigint")).collect::<Vec<_>>().join(", ")
        );
        db.query_one(&sql, &[])
    });
    let row = row.expect("pg_stat_database");
    cols.iter().enumerate().map(|(i, c)| (c.to_string(), row.get::<_, i64>(i))).collect()
}

/// Counts each instance's pass lines by stream (`sync pass done|failed`, `sync pass skipped`).
fn read_log(path: &Path) -> LogCounts {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut c = LogCounts::default();
    for line in text.lines() {
        let line = strip_ansi(line);
        let stream = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("stream="))
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default();
        if line.contains("sync pass done") {
            *c.done.entry(stream).or_default() += 1;
        } else if line.contains("sync pass failed") {
            *c.failed.entry(stream).or_default() += 1;
        } else if line.contains("sync pass skipped") {
            *c.skipped.entry(stream).or_default() += 1;
        } else if let Some(n) = lagged(&line, "Error receiving Lagged(") {
            c.dropped_ticks += n;
        } else if let Some(n) = lagged(&line, "Error receiving value Lagged(") {
            c.dropped_notes += n;
        } else if line.contains("WARN") || line.contains("ERROR") {
            c.warnings.push(line);
        }
    }
    c
}

/// N from `…<prefix>N)` in a line.
fn lagged(line: &str, prefix: &str) -> Option<u64> {
    line.split_once(prefix)?.1.split(')').next()?.parse().ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmHWM:`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// Fields after the `)` that ends the command name in `/proc/<pid>/stat` (field 3 is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_string).collect())
}

/// User + system CPU in clock ticks (1/100 s) from a `/proc/<pid>/stat` file; None when it cannot
/// be read (the process is gone).
fn cpu_ticks_of(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // utime and stime, fields 14 and 15, counted after the ")" that ends the command name.
    let f: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(field(11) + field(12))
}

fn ppid_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// CPU ticks of a server: its own, its reaped children's (cutime + cstime: backends that exited)
/// and its live children's.
fn tree_cpu_ticks(server: u32) -> u64 {
    let num = |f: &[String], i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let Some(own) = stat_fields(server) else { return 0 };
    let mut total = num(&own, 11) + num(&own, 12) + num(&own, 13) + num(&own, 14);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Some(f) = stat_fields(pid) {
            if num(&f, 1) == u64::from(server) {
                total += num(&f, 11) + num(&f, 12);
            }
        }
    }
    total
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
