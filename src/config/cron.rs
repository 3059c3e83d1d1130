//! Cron lines: the two accepted spellings, normalized to the scheduler's six-field form.
//!
//! Admins write either the crontab form (`*/5 * * * *`) or the form with seconds first
//! (`0 */5 * * * *`); the scheduler only takes the latter, so the former gets a `0 ` in front.

use super::walk::{string, Problems};
use super::Schedule;
use chrono::Utc;
use config::Value;
use croner::parser::{CronParser, Seconds};

/// Turns a 5- or 6-field cron line into the 6-field form with seconds, and checks that the
/// scheduler accepts it and that it ever fires; the error is the reason it was refused.
pub fn normalize_cron(text: &str) -> Result<String, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => return Err(format!("expected 5 fields (minute hour day month weekday) or 6 (seconds first), found {n}")),
    };
    // The very parser settings tokio-cron-scheduler 0.15.1 uses (src/job/mod.rs), so that what
    // passes here is what the scheduler will take.
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(&six)
        .map_err(|e| e.to_string())?;
    // A line that parses but never matches (30 February) would leave its job silently idle:
    // the scheduler just records no next tick.
    match cron.find_next_occurrence(&Utc::now(), false) {
        Ok(_) => Ok(six),
        Err(_) => Err("never fires: no date matches it".to_string()),
    }
}

impl Schedule {
    /// Parses one cron line as written in the file.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let cron = normalize_cron(text)?;
        Ok(Schedule { text: text.to_string(), cron })
    }
}

/// Reads the cron line at `key`. A bad line is recorded and comes back with an empty `cron`, so
/// callers still know which stream it was meant for.
pub(super) fn schedule(p: &mut Problems, key: &str, v: &Value) -> Option<Schedule> {
    let text = string(p, key, v)?;
    Some(Schedule::parse(&text).unwrap_or_else(|reason| {
        p.at(key, v, format!("bad cron line `{text}`: {reason}"));
        Schedule { text, cron: String::new() }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_get_seconds_and_six_stay() {
        assert_eq!(normalize_cron("*/5 * * * *").as_deref(), Ok("0 */5 * * * *"));
        assert_eq!(normalize_cron("  0 */5  * * * * ").as_deref(), Ok("0 */5 * * * *"));
        assert_eq!(normalize_cron("0 0 9 * * MON-FRI").as_deref(), Ok("0 0 9 * * MON-FRI"));
    }

    #[test]
    fn bad_lines_say_why() {
        let err = normalize_cron("0 61 * * * *").unwrap_err();
        assert!(err.contains("out of bounds"), "{err}");
        assert!(normalize_cron("* * * *").unwrap_err().contains("found 4"));
        assert!(normalize_cron("0 0 0 * * * 2030").unwrap_err().contains("found 7"));
        assert!(normalize_cron("").unwrap_err().contains("found 0"));
        assert!(normalize_cron("0 0 0 */0 * *").unwrap_err().contains("zero"));
    }

    #[test]
    fn a_line_that_never_fires_is_refused() {
        assert!(normalize_cron("0 0 0 30 2 *").unwrap_err().contains("never fires"));
        assert!(normalize_cron("0 0 0 29 2 *").is_ok(), "leap days do come");
    }
}
