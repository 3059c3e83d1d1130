//! The `{"code": 0, "msg": …, "data": …}` envelope most vendors wrap answers in, read once for all.

mod scan;

use super::values::Scalar;
use super::SyncError;
use serde_json::Value;
use std::ops::Range;

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

/// A list answer kept as the bytes it came in, its rows located but not read: connectors read
/// each row typed from its own text and store that text as the row's raw JSON, unchanged.
#[derive(Debug, Default)]
pub struct RawRows {
    body: String,
    rows: Vec<Range<usize>>,
}

/// The members of a list answer other than its rows, each read as a [`Scalar`].
#[derive(Debug, Default)]
pub struct Head {
    members: Vec<(String, Scalar<'static>)>,
    /// What the list member held instead of a list, if it did (naming the member).
    pub problem: Option<String>,
}

impl Head {
    /// The member `key` (the last one, if the answer repeats it); unset when absent.
    pub fn get(&self, key: &str) -> Scalar<'static> {
        self.members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Ok when the answer's `code` is 0 and its list member was a list (see [`check_code`]).
    pub fn check(&self, path: &str) -> Result<(), SyncError> {
        check_code(&self.get("code"), (&self.get("msg"), &self.get("error")), path)?;
        match &self.problem {
            Some(problem) => Err(shape(path, problem.clone())),
            None => Ok(()),
        }
    }
}

impl RawRows {
    /// Reads an answer's bytes: a JSON object whose member `list` holds the rows — `[…]`, or
    /// null, missing or `{}` for none, as PHP-backed vendors encode an empty list all three
    /// ways. Its other members are read into the [`Head`].
    ///
    /// The rows are only located here, by their brackets and strings (a byte scan several times
    /// faster than a full parse); each row is then parsed — and so checked — by its reader.
    /// A body cut short or not an object is refused.
    pub fn read(body: Vec<u8>, list: &str) -> Result<(Head, RawRows), String> {
        let body = String::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
        let mut head = Head::default();
        let mut rows = Vec::new();
        for member in scan::members(body.as_bytes(), list)? {
            let key: String = serde_json::from_str(&body[member.key]).map_err(|e| e.to_string())?;
            let text = &body[member.value.clone()];
            if key != list {
                let scalar: Scalar<'_> = serde_json::from_str(text).map_err(|e| format!("`{key}`: {e}"))?;
                head.members.push((key, scalar.into_owned()));
            } else if text.starts_with('[') {
                // Located in the walk unless the key was written with escapes.
                rows = match member.elements {
                    Some(elements) => elements,
                    None => scan::elements(body.as_bytes(), member.value.start)?.0,
                };
                head.problem = None;
            } else if text == "null" || scan::members(text.as_bytes(), list).is_ok_and(|m| m.is_empty()) {
                rows.clear();
                head.problem = None;
            } else {
                head.problem = Some(format!("`{list}` is not a list: {}", text.chars().take(80).collect::<String>()));
            }
        }
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

    #[test]
    fn raw_rows_keep_each_row_as_sent() {
        let body = br#"{"code":"0","count":"2","data":[{"id":"1", "0":"1"} ,{"id":"2"}]}"#.to_vec();
        let (head, rows) = RawRows::read(body, "data").unwrap();
        assert_eq!(rows.iter().collect::<Vec<_>>(), [r#"{"id":"1", "0":"1"}"#, r#"{"id":"2"}"#]);
        assert_eq!((head.get("code").int("code"), head.get("count").int("count")), (Ok(Some(0)), Ok(Some(2))));
        assert_eq!(head.problem, None);
        for empty in [r#"{"code":0,"data":null}"#, r#"{"code":0,"data":{}}"#, r#"{"code":0}"#, r#"{"data":[]}"#] {
            let (head, rows) = RawRows::read(empty.as_bytes().to_vec(), "data").unwrap();
            assert!(rows.is_empty() && head.problem.is_none(), "{empty}");
        }
        let (_, rows) = RawRows::read(br#"{"d\u0061ta":[{"id":"1"}]}"#.to_vec(), "data").unwrap();
        assert_eq!(rows.len(), 1, "a key written with escapes is still the list");
        let (head, _) = RawRows::read(br#"{"code":0,"data":"none"}"#.to_vec(), "data").unwrap();
        assert_eq!(head.problem.as_deref(), Some(r#"`data` is not a list: "none""#));
        assert!(RawRows::read(br#"{"code":0,"data":[{"id":"1"}"#.to_vec(), "data").is_err(), "cut short");
        assert!(RawRows::read(vec![b'{', 0xff, b'}'], "data").is_err(), "not UTF-8");
    }
}
