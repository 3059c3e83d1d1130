//! The `{"code": 0, "msg": …, "data": …}` envelope most vendors wrap answers in, read once for all.

use super::values;
use super::SyncError;
use serde_json::Value;

/// The answer itself when its `code` is 0; otherwise the vendor's refusal with its code and msg.
pub fn ok_or_vendor(answer: Value, path: &str) -> Result<Value, SyncError> {
    let code = values::int(&answer, "code").map_err(|e| shape(path, e.to_string()))?;
    match code {
        Some(0) => Ok(answer),
        Some(code) => Err(SyncError::Vendor { path: path.to_string(), code: code.to_string(), msg: message(&answer) }),
        None => Err(shape(path, "no `code` in the answer".into())),
    }
}

/// The vendor's explanation: `msg`, else `error`, else empty.
pub fn message(answer: &Value) -> String {
    values::non_empty(answer, "msg").or_else(|| values::non_empty(answer, "error")).unwrap_or_default()
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
