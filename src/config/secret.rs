//! Credentials: the [`Secret`] type, and resolving `"${ENV_VAR}"` and `<key>_file` values.
//!
//! A secret must never live only in the config file (it is readable by more people than the
//! credential store), and must never reach a log line, an error message or `Debug` output, so
//! the only way to read one is [`Secret::expose`] and no message here quotes a value.

use super::walk::{kind, Problems, Section};
use config::{Value, ValueKind};
use std::env::VarError;
use std::fmt;
use std::path::{Path, PathBuf};

/// The credential keys a shop may carry; which ones a platform needs is its rules' business.
pub(super) const CREDENTIAL_KEYS: [&str; 3] = ["token", "access_id", "secret"];

/// A credential value; `Debug` and `Display` print `[redacted]`, and it is never serialized.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it to the platform.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Reads credential `name` of a shop, in either of its forms. `None` when it is not written; an
/// empty placeholder when it is written but could not be resolved (the problem is recorded, and
/// the rules callback still sees that the key was given, so it does not also call it missing).
/// The file it was read from comes along, so `check` can warn when others may read it.
pub(super) fn credential(
    s: &mut Section,
    p: &mut Problems,
    name: &str,
    folder: &Path,
) -> Option<(Secret, Option<PathBuf>)> {
    let file_key = format!("{name}_file");
    let (key, resolved, file) = match (s.take(name), s.take(&file_key)) {
        (None, None) => return None,
        (Some((key, _)), Some(_)) => (key, Err(format!("both `{name}` and `{file_key}` are set; keep one")), None),
        (Some((key, v)), None) => (key, text(&v).and_then(|text| from_env(&text, &file_key)), None),
        (None, Some((key, v))) => {
            let path = text(&v).map(|path| folder.join(path));
            let resolved = path.clone().and_then(|path| from_file(&path));
            (key, resolved, path.ok())
        }
    };
    let secret = resolved.unwrap_or_else(|message| {
        p.add(&key, message);
        Secret::default()
    });
    Some((secret, file))
}

/// Text of a credential key; on a wrong type only the type is named, never the value.
fn text(v: &Value) -> Result<String, String> {
    match &v.kind {
        ValueKind::String(s) => Ok(s.clone()),
        _ => Err(format!("expected a string, found {}", kind(v))),
    }
}

/// Resolves `"${ENV_VAR}"`; any other text is an inline secret and refused.
fn from_env(text: &str, file_key: &str) -> Result<Secret, String> {
    let var = text.trim().strip_prefix("${").and_then(|rest| rest.strip_suffix('}'));
    let Some(var) = var.filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) else {
        return Err(format!("secret written inline; use \"${{ENV_VAR}}\" or {file_key} = \"/path\""));
    };
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Secret(value)),
        Ok(_) => Err(format!("environment variable {var} is empty")),
        Err(VarError::NotPresent) => Err(format!("environment variable {var} is not set")),
        Err(VarError::NotUnicode(_)) => Err(format!("environment variable {var} is not valid UTF-8")),
    }
}

/// Reads a `<key>_file` (relative paths are joined to the config file's folder by the caller);
/// trailing whitespace is trimmed, as files written by `echo` end with a newline.
fn from_file(path: &Path) -> Result<Secret, String> {
    match std::fs::read_to_string(path) {
        Ok(content) if !content.trim_end().is_empty() => Ok(Secret(content.trim_end().to_string())),
        Ok(_) => Err(format!("secret file {} is empty", path.display())),
        Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn only_a_whole_env_reference_is_one() {
        let inline = |text: &str| from_env(text, "token_file").unwrap_err().contains("inline");
        assert!(inline("abc") && inline("${}") && inline("${A-B}") && inline("x${A}"));
        let unset = from_env(" ${OS_UNIT_NEVER_SET_1} ", "token_file").unwrap_err();
        assert_eq!(unset, "environment variable OS_UNIT_NEVER_SET_1 is not set");
    }
}
