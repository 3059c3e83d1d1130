//! A throwaway PostgreSQL cluster for tests that run the same bodies against SQLite and PostgreSQL.
//!
//! The first call to [`fresh_database`] runs `initdb` into a new folder under `/tmp` and starts the
//! server with `pg_ctl`, listening only on a Unix socket in that folder (no TCP, trust auth for the
//! database user `postgres`). Every later call of the same test process creates one more empty
//! database on it and returns its URL. A detached watcher stops the server and deletes the folder
//! once the test process is gone, however it ended (success, panic, SIGKILL).
//!
//! As root (CI), `initdb` and `pg_ctl` run as the `postgres` OS user through `runuser`, since
//! `initdb` refuses to run as root; the folder is given to that user.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use tempfile::TempDir;

/// The database user every test connects as (the cluster's superuser; trust auth on the socket).
const DB_USER: &str = "postgres";
/// The OS user that runs the server when the tests run as root.
const OS_USER: &str = "postgres";
/// The server's port: only the socket file's name (`.s.PGSQL.5432`), as nothing listens on TCP.
const PORT: &str = "5432";

/// The server programs this machine has.
struct Tools {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    /// `createdb`, or else `psql` (then the database is made with `CREATE DATABASE`).
    create: CreateWith,
}

#[derive(Clone)]
enum CreateWith {
    Createdb(PathBuf),
    Psql(PathBuf),
}

/// What this process runs the server as.
enum RunAs {
    /// Ourselves (not root).
    Me,
    /// Root: through `runuser -u postgres --`, with the folder chowned to that user.
    Postgres { runuser: PathBuf, uid: u32, gid: u32 },
}

/// The running cluster: its folder (kept for the life of the process; the watcher deletes it).
struct Cluster {
    _dir: TempDir,
    socket_dir: PathBuf,
    create: CreateWith,
}

/// Why PostgreSQL tests cannot run on this machine (no server binaries found, …), or None.
pub fn unavailable() -> Option<String> {
    match (tools(), run_as()) {
        (Err(why), _) | (_, Err(why)) => Some(why.clone()),
        (Ok(_), Ok(_)) => None,
    }
}

/// A fresh, empty database on this test process's throwaway cluster (started at the first call,
/// shared by every test of the process): its connection URL, e.g.
/// `postgresql://postgres@%2Ftmp%2F.tmpXYZ%2Fsock/t3` (user, percent-encoded socket folder as host, database).
pub fn fresh_database() -> Result<String, String> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let cluster = CLUSTER.get_or_init(start_cluster).as_ref().map_err(Clone::clone)?;
    let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let socket = cluster.socket_dir.to_str().ok_or("socket folder is not UTF-8")?;
    let (what, out) = match &cluster.create {
        CreateWith::Createdb(createdb) => {
            let mut cmd = Command::new(createdb);
            cmd.args(["-h", socket, "-p", PORT, "-U", DB_USER, &name]);
            ("createdb", run(&mut cmd)?)
        }
        CreateWith::Psql(psql) => {
            let mut cmd = Command::new(psql);
            cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socket, "-p", PORT, "-U", DB_USER, "-d", "postgres"])
                .args(["-c", &format!("CREATE DATABASE \"{name}\"")]);
            ("psql CREATE DATABASE", run(&mut cmd)?)
        }
    };
    check(&format!("{what} {name}"), &out)?;
    Ok(format!("postgresql://{DB_USER}@{}/{name}", percent_encode(socket)))
}

/// The server programs, found once: on PATH, else in the highest `/usr/lib/postgresql/*/bin`.
fn tools() -> &'static Result<Tools, String> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let initdb = on_path("initdb").or_else(|| in_debian_dir("initdb")).ok_or(
            "no PostgreSQL server binaries: initdb is neither on PATH nor in /usr/lib/postgresql/*/bin \
             (Debian: apt-get install postgresql)",
        )?;
        // The other programs from the same folder as initdb (PATH may hold wrappers of another version).
        let home = fs::canonicalize(&initdb).ok().and_then(|p| p.parent().map(Path::to_path_buf));
        let find =
            |name: &str| home.as_ref().map(|h| h.join(name)).filter(|p| is_executable(p)).or_else(|| on_path(name));
        let pg_ctl = find("pg_ctl").ok_or_else(|| format!("initdb found at {} but no pg_ctl", initdb.display()))?;
        let create = match (find("createdb"), find("psql")) {
            (Some(createdb), _) => CreateWith::Createdb(createdb),
            (None, Some(psql)) => CreateWith::Psql(psql),
            (None, None) => return Err(format!("initdb found at {} but neither createdb nor psql", initdb.display())),
        };
        Ok(Tools { initdb, pg_ctl, create })
    })
}

/// Who runs the server: ourselves, or (as root) the `postgres` OS user through `runuser`.
fn run_as() -> &'static Result<RunAs, String> {
    static RUN_AS: OnceLock<Result<RunAs, String>> = OnceLock::new();
    RUN_AS.get_or_init(|| {
        if id(&["-u"]).map_err(|e| format!("cannot tell whether the tests run as root: {e}"))? != 0 {
            return Ok(RunAs::Me);
        }
        let runuser = on_path("runuser")
            .or_else(|| {
                ["/usr/sbin/runuser", "/sbin/runuser"].map(PathBuf::from).into_iter().find(|p| is_executable(p))
            })
            .ok_or("running as root (initdb refuses to) and no runuser to run it as the postgres user")?;
        let uid = id(&["-u", OS_USER])
            .map_err(|e| format!("running as root (initdb refuses to) and no OS user {OS_USER} to run it as: {e}"))?;
        let gid = id(&["-g", OS_USER])?;
        Ok(RunAs::Postgres { runuser, uid, gid })
    })
}

/// `initdb`, the watcher that cleans up after this process, then `pg_ctl start`.
fn start_cluster() -> Result<Cluster, String> {
    let tools = tools().as_ref().map_err(Clone::clone)?;
    let run_as = run_as().as_ref().map_err(Clone::clone)?;
    // Under /tmp (not $TMPDIR): every parent is traversable by the postgres user, and the socket's
    // path stays well under the 107 bytes a Unix socket address may hold. The folder stays 0700 (its
    // owner only, plus root): with trust auth, whoever reaches the socket is a database superuser.
    let dir = tempfile::Builder::new()
        .prefix("ordersync-pg-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("creating the cluster folder under /tmp: {e}"))?;
    let data_dir = dir.path().join("data");
    let socket_dir = dir.path().join("sock");
    let log = dir.path().join("server.log");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod 0700 {}: {e}", dir.path().display()))?;
    fs::create_dir(&socket_dir).map_err(|e| format!("creating {}: {e}", socket_dir.display()))?;
    if let RunAs::Postgres { uid, gid, .. } = run_as {
        for p in [dir.path(), &socket_dir] {
            std::os::unix::fs::chown(p, Some(*uid), Some(*gid))
                .map_err(|e| format!("chown {} to {OS_USER}: {e}", p.display()))?;
        }
    }

    let mut initdb = as_server_user(run_as, &tools.initdb);
    initdb.arg("-D").arg(&data_dir).args(["-U", DB_USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]);
    check("initdb", &run(&mut initdb)?)?;

    // From here on there may be a server: the watcher stops it and deletes the folder once this
    // process is gone. It runs as us (kill -0 on a root process fails for another user) in its own
    // process group (a Ctrl-C to the tests does not reach it), with no inherited stdout/stderr (a
    // caller reading our output must not wait for it).
    let stop = shell_words(&server_user_argv(run_as, &tools.pg_ctl, &["-D".as_ref(), data_dir.as_os_str()]))?;
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = shell_quote(dir.path().to_str().ok_or("cluster folder is not UTF-8")?),
    );
    Command::new("sh")
        .args(["-c", &script])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the cluster's clean-up watcher (sh): {e}"))?;

    let options = format!(
        "-c listen_addresses='' -k {} -p {PORT} -c fsync=off -c max_connections=300",
        shell_quote(socket_dir.to_str().ok_or("socket folder is not UTF-8")?)
    );
    let mut pg_ctl = as_server_user(run_as, &tools.pg_ctl);
    pg_ctl.arg("-D").arg(&data_dir).arg("-l").arg(&log).args(["-w", "-o", &options, "start"]);
    let out = run(&mut pg_ctl)?;
    if let Err(e) = check("pg_ctl start", &out) {
        let server_log = fs::read_to_string(&log).unwrap_or_default();
        // A server may still be coming up: leave the folder to the watcher, which stops it first.
        std::mem::forget(dir);
        return Err(format!("{e}\nserver log {}:\n{server_log}", log.display()));
    }
    Ok(Cluster { _dir: dir, socket_dir, create: tools.create.clone() })
}

/// `program` to run as the server's user, from `/` (the postgres user may not read our folder).
fn as_server_user(run_as: &RunAs, program: &Path) -> Command {
    let argv = server_user_argv(run_as, program, &[]);
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).current_dir("/");
    cmd
}

/// The argv running `program args…` as the server's user.
fn server_user_argv<'a>(run_as: &'a RunAs, program: &'a Path, args: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let mut argv: Vec<&OsStr> = match run_as {
        RunAs::Me => vec![],
        RunAs::Postgres { runuser, .. } => vec![runuser.as_os_str(), "-u".as_ref(), OS_USER.as_ref(), "--".as_ref()],
    };
    argv.push(program.as_os_str());
    argv.extend_from_slice(args);
    argv
}

/// Runs a command to its end, its output captured.
fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}

/// Ok when the command succeeded, else an error naming it with its exit status and output.
fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        match String::from_utf8_lossy(&out.stdout).trim() {
            "" => String::new(),
            stdout => format!("\nstdout: {stdout}"),
        }
    ))
}

/// `id ARGS`, a number.
fn id(args: &[&str]) -> Result<u32, String> {
    let out = run(Command::new("id").args(args))?;
    check(&format!("id {}", args.join(" ")), &out)?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("id {}: {e}", args.join(" ")))
}

/// `name` in a folder of PATH, if executable there.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| is_executable(p))
}

/// `name` in the highest-versioned `/usr/lib/postgresql/<version>/bin` that has it (Debian's layout).
fn in_debian_dir(name: &str) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').map(|n| n.parse().ok()).collect::<Option<Vec<u64>>>()?;
            Some((version, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| is_executable(p))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Every byte but the unreserved ones as `%XX`: a socket folder as a URL host.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A word for `sh`, in single quotes.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn shell_words(argv: &[&OsStr]) -> Result<String, String> {
    argv.iter()
        .map(|a| a.to_str().map(shell_quote).ok_or_else(|| format!("{a:?} is not UTF-8")))
        .collect::<Result<Vec<_>, _>>()
        .map(|words| words.join(" "))
}
