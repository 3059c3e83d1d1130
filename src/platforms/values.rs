//! Lenient readers for vendor values: numbers as strings, `""`/`"0"`/null as unset, yuan amounts.
//!
//! Every platform sends the same kinds of sloppy scalars (PLATFORMS.md, "Common rules"); reading
//! them in one place keeps the connectors' mapping code about meaning, not about parsing.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

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

/// One vendor value as it came, borrowed from the answer where it can be: the common input of
/// every reader here, whether a connector holds a parsed JSON tree or reads typed rows straight
/// from the answer's bytes (the hot path), so both read a value the same way.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scalar<'a> {
    /// Missing or null.
    #[default]
    Unset,
    /// A JSON string.
    Text(Cow<'a, str>),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON bool.
    Bool(bool),
    /// An object or array where a scalar was expected (kept whole for error messages and `text`).
    Json(Cow<'a, Value>),
}

impl<'a> Scalar<'a> {
    /// The value of `field` in a parsed row.
    pub fn get(row: &'a Value, field: &str) -> Scalar<'a> {
        match row.get(field) {
            None | Some(Value::Null) => Scalar::Unset,
            Some(Value::String(s)) => Scalar::Text(Cow::Borrowed(s)),
            Some(Value::Number(n)) => Scalar::Number(n.clone()),
            Some(Value::Bool(b)) => Scalar::Bool(*b),
            Some(other) => Scalar::Json(Cow::Borrowed(other)),
        }
    }

    /// The same value, owning its text (to outlive the answer it was read from).
    pub fn into_owned(self) -> Scalar<'static> {
        match self {
            Scalar::Unset => Scalar::Unset,
            Scalar::Text(s) => Scalar::Text(Cow::Owned(s.into_owned())),
            Scalar::Number(n) => Scalar::Number(n),
            Scalar::Bool(b) => Scalar::Bool(b),
            Scalar::Json(v) => Scalar::Json(Cow::Owned(v.into_owned())),
        }
    }

    /// As text: strings as they are, numbers and bools in their JSON form, unset as None.
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Unset => None,
            Scalar::Text(s) => Some(s.to_string()),
            Scalar::Number(n) => Some(n.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Json(v) => Some(v.to_string()),
        }
    }

    /// As non-empty text; `""` counts as unset.
    pub fn non_empty(&self) -> Option<String> {
        match self {
            Scalar::Text(s) if s.trim().is_empty() => None,
            other => other.text(),
        }
    }

    /// As a status code (see [`code`]).
    pub fn code(&self) -> String {
        match self {
            Scalar::Text(s) => s.trim().to_string(),
            other => other.text().unwrap_or_default(),
        }
    }

    /// The text of a string, or of a number as written; None for anything else.
    fn digits(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Text(s) => Some(Cow::Borrowed(s.trim())),
            Scalar::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    /// As an integer (see [`int`]).
    pub fn int(&self, field: &str) -> Result<Option<i64>, ValueError> {
        match self {
            Scalar::Unset => Ok(None),
            Scalar::Number(n) => n.as_i64().map(Some).ok_or_else(|| bad(field, format!("`{n}` is not an integer"))),
            Scalar::Text(s) if s.trim().is_empty() => Ok(None),
            Scalar::Text(s) => s.trim().parse().map(Some).map_err(|_| bad(field, format!("`{s}` is not an integer"))),
            other => Err(bad(field, format!("expected an integer, found {other}"))),
        }
    }

    /// As a time (see [`time`]).
    pub fn time(&self, field: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
        match self {
            Scalar::Unset => Ok(None),
            Scalar::Number(n) => match n.as_i64() {
                Some(v) => unix(field, v),
                None => Err(bad(field, format!("`{n}` is not a whole unix time"))),
            },
            Scalar::Text(s) => time_text(field, s),
            other => Err(bad(field, format!("expected a time, found {other}"))),
        }
    }

    /// As a decimal quantity (see [`quantity`]).
    pub fn quantity(&self, field: &str) -> Result<Option<(i64, String)>, ValueError> {
        let text = match (self, self.digits()) {
            (Scalar::Unset, _) => return Ok(None),
            (_, Some(t)) if t.is_empty() => return Ok(None),
            (_, Some(t)) => t,
            (other, None) => return Err(bad(field, format!("expected a quantity, found {other}"))),
        };
        let exact = decimal_text(&text).ok_or_else(|| bad(field, format!("`{text}` is not a decimal quantity")))?;
        // Whole units, rounded half away from zero (the rule money follows too).
        let (negative, digits) = match exact.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, exact.as_str()),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let whole: i64 = whole.parse().map_err(|_| bad(field, format!("`{text}` is too large")))?;
        let units = whole + i64::from(frac.as_bytes().first().is_some_and(|d| *d >= b'5'));
        Ok(Some((if negative { -units } else { units }, exact)))
    }

    /// As a line's quantity (see [`line_quantity`]): unset is zero.
    pub fn line_quantity(&self, field: &str) -> Result<(i64, String), ValueError> {
        Ok(self.quantity(field)?.unwrap_or((0, "0".to_string())))
    }

    /// As a yuan amount in exact fen (see [`fen`]).
    pub fn fen(&self, field: &str) -> Result<i64, ValueError> {
        match (self, self.digits()) {
            (Scalar::Unset, _) => Ok(0),
            (_, Some(t)) if t.is_empty() => Ok(0),
            // A JSON number's shortest text is what the vendor wrote (2.675 stays "2.675"), so
            // converting that text avoids binary floating-point rounding entirely.
            (_, Some(t)) => yuan_to_fen(&t).map_err(|p| bad(field, p)),
            (other, None) => Err(bad(field, format!("expected an amount, found {other}"))),
        }
    }
}

impl std::fmt::Display for Scalar<'_> {
    /// The value in its JSON form, as error messages quote it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Unset => f.write_str("null"),
            Scalar::Text(s) => write!(f, "{:?}", s),
            Scalar::Number(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Json(v) => write!(f, "{v}"),
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// Reads any JSON value as a [`Scalar`], borrowing strings without escapes from the input.
struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v).map(Scalar::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Unset)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Unset)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Scalar::Json(Cow::Owned(v)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Scalar::Json(Cow::Owned(v)))
    }
}

/// The field as text: strings as they are, numbers and bools in their JSON form, null/missing as None.
pub fn text(row: &Value, field: &str) -> Option<String> {
    Scalar::get(row, field).text()
}

/// The field as non-empty text; `""` counts as unset.
pub fn non_empty(row: &Value, field: &str) -> Option<String> {
    Scalar::get(row, field).non_empty()
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
    join(fields.iter().map(|f| Scalar::get(row, f)), sep)
}

/// The non-empty ones of `parts` joined by `sep`; None when all are empty.
pub fn join<'a>(parts: impl IntoIterator<Item = Scalar<'a>>, sep: &str) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().filter_map(|p| p.non_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(sep))
}

/// A status code exactly as the vendor wrote it (number or text, trimmed); empty when unset.
/// Codes are compared as text with the status tables, so a code that is not a number at all is
/// still stored raw and maps to `unknown` instead of failing the record.
pub fn code(row: &Value, field: &str) -> String {
    Scalar::get(row, field).code()
}

/// A required non-empty text field.
pub fn required(row: &Value, field: &str) -> Result<String, ValueError> {
    required_of(&Scalar::get(row, field), field)
}

/// A required non-empty text value (see [`required`]).
pub fn required_of(value: &Scalar<'_>, field: &str) -> Result<String, ValueError> {
    value.non_empty().ok_or_else(|| bad(field, "missing or empty"))
}

/// An integer that may arrive as a number or a string of digits; unset values are None.
pub fn int(row: &Value, field: &str) -> Result<Option<i64>, ValueError> {
    Scalar::get(row, field).int(field)
}

/// Unix times at or above this are milliseconds: as seconds it would be the year 5138, as
/// milliseconds it is March 1973, so the two readings never overlap for real order data.
const MILLIS_FROM: i64 = 100_000_000_000;

/// A vendor time in any form the vendors' pages show (PLATFORMS.md, "Common rules"): unix seconds
/// or milliseconds (numbers or digit strings, told apart by size), RFC 3339 with `Z` or an offset
/// (taken as written), and `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` without a zone (China Standard
/// Time). `0`, `"0"`, `""`, an all-zero date and null mean "no time".
pub fn time(row: &Value, field: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
    Scalar::get(row, field).time(field)
}

/// Reads a time written as text (see [`time`]).
pub fn time_text(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, ValueError> {
    let t = text.trim();
    if t.is_empty() || t.starts_with("0000") {
        return Ok(None);
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = t.parse().map_err(|_| bad(field, format!("`{text}` is out of range")))?;
        return unix(field, v);
    }
    // With a zone: as written. `%z` also takes `+0800`, which RFC 3339 itself does not.
    if let Some(at) = DateTime::parse_from_rfc3339(t)
        .ok()
        .or_else(|| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%z").ok())
    {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    // Without one: China Standard Time. Vendors write the same instant several ways: with a
    // space or a `T`, with or without seconds and a fraction (`%.f` also accepts none).
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().map(|d| d.and_time(Default::default())))
        .ok_or_else(|| {
            bad(
                field,
                format!("`{text}` is not a time (expected unix seconds or milliseconds, RFC 3339, or `YYYY-MM-DD HH:MM:SS`)"),
            )
        })?;
    cst()
        .from_local_datetime(&naive)
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| bad(field, "ambiguous local time"))
}

/// A unix time in seconds or milliseconds (by size); 0 is unset.
fn unix(field: &str, v: i64) -> Result<Option<DateTime<Utc>>, ValueError> {
    if v == 0 {
        return Ok(None);
    }
    if v < 0 {
        return Err(bad(field, format!("{v} is a negative unix time")));
    }
    let at = if v >= MILLIS_FROM { Utc.timestamp_millis_opt(v).single() } else { Utc.timestamp_opt(v, 0).single() };
    at.map(Some).ok_or_else(|| bad(field, format!("{v} is out of range")))
}

/// A required vendor time (see [`time`]): unset is an error naming the field.
pub fn required_time(row: &Value, field: &str) -> Result<DateTime<Utc>, ValueError> {
    time(row, field)?.ok_or_else(|| bad(field, "missing or unset"))
}

/// A decimal quantity as exact text (`1.5`, `2.35`, `3`), with its whole-unit rounding (half away
/// from zero). Weighed goods come in fractions; integer-only storage would reject or bend them.
pub fn quantity(row: &Value, field: &str) -> Result<Option<(i64, String)>, ValueError> {
    Scalar::get(row, field).quantity(field)
}

/// A line's quantity (see [`quantity`]); unset is zero.
pub fn line_quantity(row: &Value, field: &str) -> Result<(i64, String), ValueError> {
    Scalar::get(row, field).line_quantity(field)
}

/// A plain decimal's sign, whole digits and fraction digits (`-12.50` → true, "12", "50"); None
/// unless it is an optional sign, digits, and an optional `.` with digits (at least one digit).
fn split_decimal(text: &str) -> Option<(bool, &str, &str)> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    well_formed.then_some((negative, whole, frac))
}

/// The canonical text of a decimal (`+01.500` → `1.5`, `3.0` → `3`); None when not a decimal.
pub fn decimal_text(text: &str) -> Option<String> {
    let (negative, whole, frac) = split_decimal(text)?;
    let whole = whole.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let body = if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") };
    Some(if negative && body != "0" { format!("-{body}") } else { body })
}

/// A yuan amount (string or JSON number) as exact fen; unset values are 0.
pub fn fen(row: &Value, field: &str) -> Result<i64, ValueError> {
    Scalar::get(row, field).fen(field)
}

/// Converts a decimal yuan text to fen exactly, rounding half away from zero past 2 decimals.
pub fn yuan_to_fen(text: &str) -> Result<i64, String> {
    let Some((negative, whole, frac)) = split_decimal(text) else {
        return Err(format!("`{text}` is not a decimal amount"));
    };
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
        assert_eq!(time(&row, "t0"), Ok(None));
        assert_eq!(time(&row, "t").unwrap().unwrap().to_rfc3339(), "2016-09-02T04:03:52+00:00");
        assert_eq!(int(&row, "n"), Ok(Some(400)));
        assert_eq!(int(&row, "m"), Ok(Some(7)));
        assert!(int(&row, "x").unwrap_err().to_string().contains("`x`"));
    }

    /// Every form the vendors' pages show, each read to the same instant where it names one.
    #[test]
    fn every_time_form_reads() {
        let row = json!({
            "z": "2019-08-24T14:15:22Z", "off": "2019-08-24T22:15:22+08:00", "off4": "2019-08-24T22:15:22+0800",
            "frac": "2019-08-24T14:15:22.250Z", "secs": 1_566_656_122, "secs_text": "1566656122",
            "ms": 1_566_656_122_000_i64, "ms_text": "1566656122000", "cst": "2019-08-24 22:15:22",
            "cst_t": "2019-08-24T22:15:22", "day": "2019-08-25", "hm": "2019-08-24 22:15",
            "zero": 0, "zero_text": "0", "empty": "", "null": null, "zeros": "0000-00-00 00:00:00",
        });
        let expect = "2019-08-24T14:15:22+00:00";
        for f in ["z", "off", "off4", "secs", "secs_text", "ms", "ms_text", "cst", "cst_t"] {
            assert_eq!(time(&row, f).unwrap().unwrap().to_rfc3339(), expect, "{f}");
        }
        assert_eq!(time(&row, "frac").unwrap().unwrap().timestamp_millis(), 1_566_656_122_250);
        assert_eq!(time(&row, "day").unwrap().unwrap().to_rfc3339(), "2019-08-24T16:00:00+00:00");
        assert_eq!(time(&row, "hm").unwrap().unwrap().to_rfc3339(), "2019-08-24T14:15:00+00:00");
        for f in ["zero", "zero_text", "empty", "null", "zeros", "missing"] {
            assert_eq!(time(&row, f), Ok(None), "{f}");
        }
        for bad in [json!({"t": "yesterday"}), json!({"t": 1.5}), json!({"t": -5}), json!({"t": true})] {
            assert!(time(&bad, "t").unwrap_err().to_string().contains("`t`"), "{bad}");
        }
        assert!(required_time(&row, "zero").unwrap_err().to_string().contains("zero"));
    }

    #[test]
    fn decimal_quantities_stay_exact() {
        let row = json!({"a": 1.5, "b": "2.35", "c": 3, "d": "3.000", "e": "x", "f": null, "g": "0.5"});
        assert_eq!(quantity(&row, "a"), Ok(Some((2, "1.5".into()))));
        assert_eq!(quantity(&row, "b"), Ok(Some((2, "2.35".into()))));
        assert_eq!(quantity(&row, "c"), Ok(Some((3, "3".into()))));
        assert_eq!(quantity(&row, "d"), Ok(Some((3, "3".into()))));
        assert_eq!(quantity(&row, "g"), Ok(Some((1, "0.5".into()))));
        assert_eq!(quantity(&json!({"q": "1.495"}), "q"), Ok(Some((1, "1.495".into()))));
        assert_eq!(quantity(&row, "f"), Ok(None));
        assert!(quantity(&row, "e").is_err());
        assert_eq!(quantity(&json!({"q": "  "}), "q"), Ok(None), "blank is unset, not an error");
        assert_eq!(quantity(&json!({"q": "-1.5"}), "q"), Ok(Some((-2, "-1.5".into()))), "a return line");
        assert_eq!(int(&json!({"n": " "}), "n"), Ok(None), "blank is unset, not an error");
        for bad in ["", ".", "1.x", "x.5", "x", "1.2.3", "--1", "1e3"] {
            assert_eq!(decimal_text(bad), None, "{bad:?}");
        }
        assert_eq!(decimal_text(".5").as_deref(), Some("0.5"));
        assert_eq!(decimal_text("7.").as_deref(), Some("7"));
        assert_eq!(decimal_text("-0.0").as_deref(), Some("0"));
        assert_eq!(decimal_text("+01.50").as_deref(), Some("1.5"));
    }
}
