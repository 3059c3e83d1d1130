//! Lenient readers for vendor values: numbers as strings, `""`/`"0"`/null as unset, yuan amounts.
//!
//! Every platform sends the same kinds of sloppy scalars (PLATFORMS.md, "Common rules"); reading
//! them in one place keeps the connectors' mapping code about meaning, not about parsing.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Why a vendor value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct ValueError {
    /// The vendor field name.
    pub field: String,
    /// What was wrong with it.
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> ValueError {
    ValueError { field: field.to_string(), problem: problem.into() }
}

/// China Standard Time, the zone of every vendor time written without one.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The field as text: strings as they are, numbers and bools in their JSON form, null/missing as None.
pub fn text(row: &Value, field: &str) -> Option<String> {
    match row.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The field as non-empty text; `""` counts as unset.
pub fn non_empty(row: &Value, field: &str) -> Option<String> {
    text(row, field).filter(|s| !s.trim().is_empty())
}

/// The elements of an array field (none when missing or null).
pub fn items<'a>(row: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    row.get(field).and_then(Value::as_array).into_iter().flatten()
}

/// Reads each element of an array field with `read` (given its 0-based position).
pub fn each<T>(
    row: &Value,
    field: &str,
    read: impl Fn(usize, &Value) -> Result<T, ValueError>,
) -> Result<Vec<T>, ValueError> {
    items(row, field).enumerate().map(|(i, item)| read(i, item)).collect()
}

/// The non-empty ones of `fields` joined by `sep`; None when all are empty.
pub fn joined(row: &Value, fields: &[&str], sep: &str) -> Option<String> {
    let parts: Vec<String> = fields.iter().filter_map(|f| non_empty(row, f)).collect();
    (!parts.is_empty()).then(|| parts.join(sep))
}

/// A status code exactly as the vendor wrote it (number or text, trimmed); empty when unset.
/// Codes are compared as text with the status tables, so a code that is not a number at all is
/// still stored raw and maps to `unknown` instead of failing the record.
pub fn code(row: &Value, field: &str) -> String {
    text(row, field).map(|t| t.trim().to_string()).unwrap_or_default()
}

/// A required non-empty text field.
pub fn required(row: &Value, field: &str) -> Result<String, ValueError> {
    non_empty(row, field).ok_or_else(|| bad(field, "missing or empty"))
}

/// An integer that may arrive as a number or a string of digits; unset values are None.
pub fn int(row: &Value, field: &str) -> Result<Option<i64>, ValueError> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad(field, format!("`{n}` is not an integer"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| bad(field, format!("`{s}` is not an integer")))
        }
        Some(other) => Err(bad(field, format!("expected an integer, found {other}"))),
    }
}

/// A unix-seconds time; `"0"`, `""` and null mean unset.
pub fn unix_secs(row: &Value, field: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
    match int(row, field)? {
        None | Some(0) => Ok(None),
        Some(secs) => {
            Utc.timestamp_opt(secs, 0).single().map(Some).ok_or_else(|| bad(field, format!("{secs} is out of range")))
        }
    }
}

/// A `YYYY-MM-DD HH:MM:SS` time in China Standard Time; empty or all-zero values mean unset.
pub fn cst_datetime(row: &Value, field: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
    let Some(s) = non_empty(row, field) else {
        return Ok(None);
    };
    if s.starts_with("0000") || s == "0" {
        return Ok(None);
    }
    // Vendors write the same instant several ways: with a space or a `T`, with or without
    // seconds and a fraction (`%.f` also accepts none).
    let t = s.trim();
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().map(|d| d.and_time(Default::default())))
        .ok_or_else(|| bad(field, format!("`{s}` is not a `YYYY-MM-DD HH:MM:SS` time")))?;
    cst()
        .from_local_datetime(&naive)
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| bad(field, "ambiguous local time"))
}

/// A time given as unix milliseconds (number or digits) or as a CST date-time text; 0 is unset.
pub fn millis_or_datetime(row: &Value, field: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
    match row.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() && !s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            cst_datetime(row, field)
        }
        _ => match int(row, field)? {
            None | Some(0) => Ok(None),
            Some(ms) => Utc
                .timestamp_millis_opt(ms)
                .single()
                .map(Some)
                .ok_or_else(|| bad(field, format!("{ms} is out of range"))),
        },
    }
}

/// A yuan amount (string or JSON number) as exact fen; unset values are 0.
pub fn fen(row: &Value, field: &str) -> Result<i64, ValueError> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(0),
        Some(Value::String(s)) => yuan_to_fen(s).map_err(|p| bad(field, p)),
        // A JSON number's shortest text is what the vendor wrote (2.675 stays "2.675"), so
        // converting that text avoids binary floating-point rounding entirely.
        Some(Value::Number(n)) => yuan_to_fen(&n.to_string()).map_err(|p| bad(field, p)),
        Some(other) => Err(bad(field, format!("expected an amount, found {other}"))),
    }
}

/// Converts a decimal yuan text to fen exactly, rounding half away from zero past 2 decimals.
pub fn yuan_to_fen(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(format!("`{text}` is not a decimal amount"));
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("`{text}` is too large"))? };
    let frac = frac.as_bytes();
    let digit = |i: usize| frac.get(i).map_or(0, |b| i64::from(b - b'0'));
    let mut cents = digit(0) * 10 + digit(1);
    // Half away from zero: the magnitude rounds up when the third decimal is 5 or more.
    if digit(2) >= 5 {
        cents += 1;
    }
    let magnitude =
        whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(|| format!("`{text}` is too large"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yuan_strings_convert_exactly() {
        for (text, fen) in [
            ("12.9300", 1293),
            ("0", 0),
            ("1", 100),
            ("2.675", 268),
            ("1.005", 101),
            ("1.0049", 100),
            ("-1.005", -101),
            (".5", 50),
            ("99999999.99", 9_999_999_999),
        ] {
            assert_eq!(yuan_to_fen(text), Ok(fen), "{text}");
        }
        for bad in ["", "abc", "1.2.3", "1e5", "--1", "."] {
            assert!(yuan_to_fen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn float_amounts_use_their_written_digits() {
        let row = json!({"a": 2.675, "b": 1.005, "c": 12, "d": null, "e": ""});
        assert_eq!(fen(&row, "a"), Ok(268));
        assert_eq!(fen(&row, "b"), Ok(101));
        assert_eq!(fen(&row, "c"), Ok(1200));
        assert_eq!(fen(&row, "d"), Ok(0));
        assert_eq!(fen(&row, "e"), Ok(0));
    }

    #[test]
    fn unset_times_and_lenient_ints() {
        let row = json!({"t0": "0", "t": "1472789032", "n": "400", "m": 7, "x": "4x"});
        assert_eq!(unix_secs(&row, "t0"), Ok(None));
        assert_eq!(unix_secs(&row, "t").unwrap().unwrap().to_rfc3339(), "2016-09-02T04:03:52+00:00");
        assert_eq!(int(&row, "n"), Ok(Some(400)));
        assert_eq!(int(&row, "m"), Ok(Some(7)));
        assert!(int(&row, "x").unwrap_err().to_string().contains("`x`"));
    }

    #[test]
    fn millisecond_times_and_text_times() {
        let row =
            json!({"ms": 1_700_000_000_123_i64, "text": "2024-01-02 08:00:00", "digits": "1700000000000", "zero": 0});
        assert_eq!(millis_or_datetime(&row, "ms").unwrap().unwrap().timestamp_millis(), 1_700_000_000_123);
        assert_eq!(millis_or_datetime(&row, "text").unwrap().unwrap().to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(millis_or_datetime(&row, "digits").unwrap().unwrap().timestamp(), 1_700_000_000);
        assert_eq!(millis_or_datetime(&row, "zero"), Ok(None));
    }

    #[test]
    fn cst_times_become_utc() {
        let row = json!({"t": "2024-01-02 08:00:00", "z": "0000-00-00 00:00:00", "iso": "2017-06-21T17:29:38.913", "hm": "2017-06-22 06:00"});
        assert_eq!(cst_datetime(&row, "iso").unwrap().unwrap().to_rfc3339(), "2017-06-21T09:29:38.913+00:00");
        assert_eq!(cst_datetime(&row, "hm").unwrap().unwrap().to_rfc3339(), "2017-06-21T22:00:00+00:00");
        assert_eq!(cst_datetime(&row, "t").unwrap().unwrap().to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(cst_datetime(&row, "z"), Ok(None));
    }
}
