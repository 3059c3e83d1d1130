//! Who this process is, as every claim records it, and whether a recorded holder is provably dead.
//!
//! A claim (an outbox entry in flight, a pass or flush lease) names its holder: an instance id,
//! the host, the pid, and when that process started (the kernel's boot id and start tick). A
//! holder on this host whose pid is gone, is a zombie, or now belongs to a process started at
//! another time is provably dead, so its claims can be taken back at once instead of waiting out
//! their lease. A holder on another host is never judged here: its claims wait for their lease.

use std::sync::OnceLock;

/// One process that may hold claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// A fresh id per process start; claims name it.
    pub id: String,
    /// The host name, as the kernel reports it.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// `<boot id>/<start tick>`: tells a restarted pid (or a rebooted host) from the old process.
    pub started: String,
    /// What the process is: `daemon`, `sync`, `flush`, … (for `status`).
    pub kind: String,
}

/// What can be known about a recorded holder from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running on this host.
    Alive,
    /// Provably gone, with the reason.
    Dead(&'static str),
    /// On another host (or this host cannot tell): only its lease can end its claims.
    Unknown,
}

static THIS: OnceLock<Holder> = OnceLock::new();

/// This process, named `kind` by the first caller (the command line sets it before any claim).
pub fn init(kind: &str) -> &'static Holder {
    THIS.get_or_init(|| {
        let pid = std::process::id();
        Holder {
            id: uuid::Uuid::new_v4().to_string(),
            host: host_name(),
            pid,
            started: start_of(pid).unwrap_or_default(),
            kind: kind.to_string(),
        }
    })
}

/// This process as a holder (`ordersync` unless [`init`] named it).
pub fn this() -> &'static Holder {
    init("ordersync")
}

/// Whether the holder recorded as (`host`, `pid`, `started`) still runs.
pub fn liveness(host: &str, pid: u32, started: &str) -> Liveness {
    let me = this();
    // Without our own start (no /proc), nothing here can be proven.
    if host != me.host || me.started.is_empty() || started.is_empty() {
        return Liveness::Unknown;
    }
    match read_stat(pid) {
        None => Liveness::Dead("its process is gone"),
        Some(stat) if stat.zombie => Liveness::Dead("its process has exited (zombie)"),
        Some(stat) if format!("{}/{}", boot_id(), stat.start_tick) != started => {
            Liveness::Dead("its pid now belongs to a process started at another time")
        }
        Some(_) => Liveness::Alive,
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `<boot id>/<start tick>` of `pid`, or `None` when it does not run (or there is no /proc).
fn start_of(pid: u32) -> Option<String> {
    let boot = boot_id();
    let stat = read_stat(pid)?;
    (!boot.is_empty()).then(|| format!("{boot}/{}", stat.start_tick))
}

struct Stat {
    zombie: bool,
    start_tick: u64,
}

/// Fields 3 (state) and 22 (start time in ticks since boot) of `/proc/<pid>/stat`.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat { zombie: fields.first()? == &"Z", start_tick: fields.get(19)?.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_pid_is_dead() {
        let me = this();
        assert!(!me.started.is_empty(), "this test runs on Linux with /proc");
        assert_eq!(liveness(&me.host, me.pid, &me.started), Liveness::Alive);
        assert_eq!(
            liveness(&me.host, me.pid, "another-boot/1"),
            Liveness::Dead("its pid now belongs to a process started at another time")
        );
        assert_eq!(liveness("some-other-host", me.pid, &me.started), Liveness::Unknown);
        // A child that ran and was reaped: its pid is gone.
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        if read_stat(pid).is_none() {
            assert_eq!(liveness(&me.host, pid, &me.started), Liveness::Dead("its process is gone"));
        }
    }

    #[test]
    fn an_unreaped_child_is_dead() {
        let me = this();
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        let started = start_of(pid);
        // Until it is waited for it stays a zombie; poll until it has exited.
        let mut verdict = Liveness::Alive;
        for _ in 0..200 {
            verdict = liveness(&me.host, pid, started.as_deref().unwrap_or("x"));
            if verdict != Liveness::Alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(matches!(verdict, Liveness::Dead(_)), "{verdict:?}");
        child.wait().expect("wait");
    }
}
