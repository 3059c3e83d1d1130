//! systemd's notify protocol (Type=notify): readiness, watchdog pings and a one-line status.
//!
//! Every call is a no-op when the process was not started by systemd (no `NOTIFY_SOCKET`), so
//! `ordersync run` behaves the same in a terminal.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// The schedule is armed: systemd may consider the service started.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload has begun (systemd v253+ needs the monotonic time with it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is draining before exit.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining running jobs")]);
}

/// A new status line for `systemctl status`.
pub fn status(line: &str) {
    send(&[NotifyState::Status(line)]);
}

/// Tells the watchdog the main loop is alive.
pub fn ping() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping: half the watchdog period systemd set (`WatchdogSec=`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|period| period / 2).filter(|d| !d.is_zero())
}
