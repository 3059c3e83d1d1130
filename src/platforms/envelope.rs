//! The `{"code": 0, "msg": …, "data": …}` envelope most vendors wrap answers in, read once for all.

use super::values::{self, Scalar};
use super::SyncError;
use serde::Deserialize;
use serde_json::Value;

/// The answer itself when its `code` is 0; otherwise the vendor's refusal with its code and msg.
pub fn ok_or_vendor(answer: Value, path: &str) -> Result<Value, SyncError> {
    let (msg, error) = (Scalar::get(&answer, "msg"), Scalar::get(&answer, "error"));
    check_code(&Scalar::get(&answer, "code"), (&msg, &error), path)?;
    Ok(answer)
}

/// Ok when an answer's `code` is 0; otherwise the vendor's refusal with its code and its
/// explanation (`msg`, else `error`), or a shape error when there is no readable code.
pub fn check_code(code: &Scalar<'_>, (msg, error): (&Scalar<'_>, &Scalar<'_>), path: &str) -> Result<(), SyncError> {
    match code.int("code").map_err(|e| shape(path, e.to_string()))? {
        Some(0) => Ok(()),
        Some(code) => {
            let msg = msg.non_empty().or_else(|| error.non_empty()).unwrap_or_default();
            Err(SyncError::Vendor { path: path.to_string(), code: code.to_string(), msg })
        }
        None => Err(shape(path, "no `code` in the answer".into())),
    }
}

/// The vendor's explanation: `msg`, else `error`, else empty.
pub fn message(answer: &Value) -> String {
    values::non_empty(answer, "msg").or_else(|| values::non_empty(answer, "error")).unwrap_or_default()
}

/// A list answer kept as the bytes it came in, its rows located but not read: connectors read
/// each row typed from its own text and store that text as the row's raw JSON, unchanged.
#[derive(Debug, Default)]
pub struct RawRows {
    body: String,
    rows: Vec<std::ops::Range<usize>>,
}

impl RawRows {
    /// Reads an answer's bytes with `parse`, which returns what it read of the envelope and the
    /// rows it located (slices of the text it was given, as borrowed `RawValue`s are).
    pub fn read<T>(
        body: Vec<u8>,
        parse: impl for<'a> FnOnce(&'a str) -> Result<(T, RawList<'a>), String>,
    ) -> Result<(T, RawRows), String> {
        let body = String::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
        let (head, RawList { rows, .. }) = parse(&body)?;
        let base = body.as_ptr() as usize;
        let rows = rows
            .iter()
            .map(|r| {
                let text = r.get();
                let start = (text.as_ptr() as usize).checked_sub(base).filter(|s| s + text.len() <= body.len());
                start.map(|s| s..s + text.len()).ok_or_else(|| "a row outside its answer".to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok((head, RawRows { body, rows }))
    }

    /// Each row's JSON text, as the vendor sent it.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.rows.iter().map(|r| &self.body[r.clone()])
    }

    /// How many rows the answer carried.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the answer carried no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A list field read as its rows' raw text: `[…]`, or null, missing or `{}` for none (PHP-backed
/// vendors encode an empty list all three ways). Anything else is kept as a problem for the
/// connector to report as a shape error, since the body itself was fine JSON.
#[derive(Debug, Default)]
pub struct RawList<'a> {
    /// The rows, as slices of the answer.
    pub rows: Vec<&'a serde_json::value::RawValue>,
    /// What the field held instead of a list, if it did.
    pub problem: Option<String>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawListVisitor)
    }
}

struct RawListVisitor;

impl RawListVisitor {
    fn not_a_list<'a>(what: String) -> RawList<'a> {
        RawList { rows: Vec::new(), problem: Some(format!("not a list: {what}")) }
    }
}

impl<'de> serde::de::Visitor<'de> for RawListVisitor {
    type Value = RawList<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element()? {
            rows.push(row);
        }
        Ok(RawList { rows, problem: None })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(match v {
            Value::Object(o) if o.is_empty() => RawList::default(),
            other => Self::not_a_list(other.to_string().chars().take(80).collect()),
        })
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RawList::default())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(RawList::default())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::not_a_list(format!("{v:?}")))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::not_a_list(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::not_a_list(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::not_a_list(v.to_string()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Self::not_a_list(v.to_string()))
    }
}

/// The array at JSON `pointer` (e.g. `/data/list`); null, missing or `{}` read as empty, since
/// PHP-backed vendors encode an empty list in all three ways.
pub fn list_at(answer: &mut Value, pointer: &str, path: &str) -> Result<Vec<Value>, SyncError> {
    // Taken, not cloned: a page of vendor rows is the biggest thing a pass holds.
    match answer.pointer_mut(pointer) {
        Some(Value::Array(rows)) => Ok(std::mem::take(rows)),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(o)) if o.is_empty() => Ok(Vec::new()),
        Some(other) => {
            let start: String = other.to_string().chars().take(80).collect();
            Err(shape(path, format!("`{pointer}` is not a list: {start}")))
        }
    }
}

/// An answer without the documented shape.
pub fn shape(path: &str, detail: String) -> SyncError {
    SyncError::Shape { path: path.to_string(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_and_lists() {
        assert!(ok_or_vendor(json!({"code": "0"}), "/x").is_ok());
        let err = ok_or_vendor(json!({"code": 10, "msg": "access_token invalid"}), "/x").unwrap_err();
        assert_eq!(err.to_string(), "vendor refused `/x`: code 10: access_token invalid");
        assert!(ok_or_vendor(json!({"data": 1}), "/x").is_err());
        assert_eq!(list_at(&mut json!({"data": {"list": [1, 2]}}), "/data/list", "/x").unwrap().len(), 2);
        assert!(list_at(&mut json!({"data": null}), "/data/list", "/x").unwrap().is_empty());
        assert!(list_at(&mut json!({"data": {"list": "x"}}), "/data/list", "/x").is_err());
    }
}
