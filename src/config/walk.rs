//! Walking the `config` crate's value tree one key at a time.
//!
//! A single serde deserialize stops at the first error; `ordersync check` must list every
//! problem at once, so each section is read key by key, every mistake is recorded in
//! [`Problems`], and reading goes on with a fallback value. Whatever keys are left in a
//! [`Section`] when it is finished are unknown keys (typo protection).

use super::Problem;
use config::{Value, ValueKind};
use std::collections::BTreeMap;
use std::time::Duration;

/// The origin the `config` crate gives to values read from environment variables.
const ENV_ORIGIN: &str = "the environment";

/// The problems found so far.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    /// Records a problem with `key`.
    pub(super) fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    /// Records a problem with the value `v` of `key`, naming the environment variable it came
    /// from when it did: the admin would otherwise search the file for it in vain.
    pub(super) fn at(&mut self, key: &str, v: &Value, message: impl Into<String>) {
        let mut message = message.into();
        if v.origin() == Some(ENV_ORIGIN) {
            let var = format!("ORDERSYNC__{}", key.replace('.', "__").to_uppercase());
            message.push_str(&format!(" (from {var})"));
        }
        self.add(key, message);
    }
}

/// The longest duration any key may set (a year): later date and `Instant` arithmetic on a
/// larger one could overflow.
const MAX_SECS: u64 = 365 * 24 * 3600;

/// One table of the tree. Keys are taken out as they are read; the names asked for are the
/// known keys, so whatever is left at the end is unknown.
pub(super) struct Section {
    prefix: String,
    entries: BTreeMap<String, Value>,
    asked: Vec<String>,
    /// False when the table itself had the wrong type: its required keys are then not also
    /// reported missing, which would only repeat the one mistake.
    real: bool,
}

impl Section {
    /// A section at `prefix` (`""` for the root) holding `entries`.
    pub(super) fn new(prefix: &str, entries: impl IntoIterator<Item = (String, Value)>) -> Self {
        let (prefix, entries) = (prefix.to_string(), entries.into_iter().collect());
        Section { prefix, entries, asked: Vec::new(), real: true }
    }

    /// The full key path of `name` in this section.
    pub(super) fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Takes `name` out of the section, with its full key path.
    pub(super) fn take(&mut self, name: &str) -> Option<(String, Value)> {
        self.asked.push(name.to_string());
        let v = self.entries.remove(name)?;
        Some((self.key(name), v))
    }

    /// Takes every remaining entry, for free-form tables: name, full key path, value.
    pub(super) fn drain(&mut self) -> Vec<(String, String, Value)> {
        let entries = std::mem::take(&mut self.entries);
        let with_key = |(name, v): (String, Value)| {
            let key = self.key(&name);
            (name, key, v)
        };
        entries.into_iter().map(with_key).collect()
    }

    /// Takes a required key, reporting it when missing.
    pub(super) fn required(&mut self, p: &mut Problems, name: &str) -> Option<(String, Value)> {
        let found = self.take(name);
        if found.is_none() && self.real {
            p.add(&self.key(name), "missing required key");
        }
        found
    }

    /// A nested table; a missing one reads as empty, so its keys take their defaults.
    pub(super) fn section(&mut self, p: &mut Problems, name: &str) -> Section {
        match self.take(name) {
            None => Section::new(&self.key(name), []),
            Some((key, v)) => table(p, &key, v).unwrap_or_else(|| Section { real: false, ..Section::new(&key, []) }),
        }
    }

    /// A required string.
    pub(super) fn required_string(&mut self, p: &mut Problems, name: &str) -> Option<(String, String)> {
        let (key, v) = self.required(p, name)?;
        string(p, &key, &v).map(|text| (key, text))
    }

    /// A `true`/`false`, `default` when absent or wrong.
    pub(super) fn bool(&mut self, p: &mut Problems, name: &str, default: bool) -> bool {
        let Some((key, v)) = self.take(name) else { return default };
        match v.clone().into_bool() {
            Ok(b) => b,
            Err(_) => {
                p.at(&key, &v, format!("expected true or false, found {}", found(&v)));
                default
            }
        }
    }

    /// An unsigned integer in `min..=max`, `default` when absent or wrong.
    pub(super) fn uint(&mut self, p: &mut Problems, name: &str, default: u64, min: u64, max: u64) -> u64 {
        let read = self.take(name).and_then(|(key, v)| uint(p, &key, &v, min, max));
        read.unwrap_or(default)
    }

    /// A `u32` in `min..=max`, `default` when absent or wrong.
    pub(super) fn u32(&mut self, p: &mut Problems, name: &str, default: u32, min: u32, max: u32) -> u32 {
        let n = self.uint(p, name, default.into(), min.into(), max.into());
        u32::try_from(n).unwrap_or(default)
    }

    /// A duration in whole seconds, at least `min`.
    pub(super) fn secs(&mut self, p: &mut Problems, name: &str, default: u64, min: u64) -> Duration {
        Duration::from_secs(self.uint(p, name, default, min, MAX_SECS))
    }

    /// A duration in milliseconds.
    pub(super) fn millis(&mut self, p: &mut Problems, name: &str, default: u64) -> Duration {
        Duration::from_millis(self.uint(p, name, default, 0, MAX_SECS * 1000))
    }

    /// Reports every key nobody asked for as unknown.
    pub(super) fn finish(self, p: &mut Problems) {
        for (name, v) in &self.entries {
            let mut message = format!("unknown key `{name}`");
            if let Some(near) = self.asked.iter().find(|k| looks_like(name, k)) {
                message.push_str(&format!(" (did you mean `{near}`?)"));
            }
            p.at(&self.key(name), v, message);
        }
    }
}

/// Reads `v` as a table.
pub(super) fn table(p: &mut Problems, key: &str, v: Value) -> Option<Section> {
    match v.kind {
        ValueKind::Table(map) => Some(Section::new(key, map)),
        _ => {
            p.at(key, &v, format!("expected a table, found {}", found(&v)));
            None
        }
    }
}

/// Reads `v` as a string.
pub(super) fn string(p: &mut Problems, key: &str, v: &Value) -> Option<String> {
    match &v.kind {
        ValueKind::String(s) => Some(s.clone()),
        _ => {
            p.at(key, v, format!("expected a string, found {}", found(v)));
            None
        }
    }
}

/// Reads `v` as an integer in `min..=max`. Digits in a string pass, because environment
/// overrides always arrive as strings.
pub(super) fn uint(p: &mut Problems, key: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
    let n: i128 = match &v.kind {
        ValueKind::I64(n) => (*n).into(),
        ValueKind::U64(n) => (*n).into(),
        ValueKind::I128(n) => *n,
        ValueKind::U128(n) => i128::try_from(*n).unwrap_or(i128::MAX),
        ValueKind::String(s) if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            s.trim().parse().unwrap_or(i128::MAX)
        }
        _ => {
            p.at(key, v, format!("expected an integer, found {}", found(v)));
            return None;
        }
    };
    if n < min.into() {
        let what = if n < 0 { "must not be negative".to_string() } else { format!("must be at least {min}") };
        p.at(key, v, format!("{what}, found {n}"));
        None
    } else if n > max.into() {
        p.at(key, v, format!("must be at most {max}, found {n}"));
        None
    } else {
        u64::try_from(n).ok()
    }
}

/// The type of `v`, without its value: for keys that may hold secrets.
pub(super) fn kind(v: &Value) -> &'static str {
    match v.kind {
        ValueKind::Nil => "nothing",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => "an integer",
        ValueKind::Float(_) => "a float",
        ValueKind::String(_) => "a string",
        ValueKind::Table(_) => "a table",
        ValueKind::Array(_) => "an array",
    }
}

/// The type of `v` and, for scalars, its value, as in `string "five"`.
pub(super) fn found(v: &Value) -> String {
    match &v.kind {
        ValueKind::String(s) => format!("string {s:?}"),
        // `{:?}` keeps the `.0` that tells 5.0 from the integer 5.
        ValueKind::Float(f) => format!("float {f:?}"),
        ValueKind::Nil | ValueKind::Table(_) | ValueKind::Array(_) => kind(v).to_string(),
        _ => {
            let name = kind(v).trim_start_matches("an ").trim_start_matches("a ");
            format!("{name} {}", v.clone().into_string().unwrap_or_default())
        }
    }
}

/// True when `typo` is probably a misspelling of `key`: the same letters once underscores are
/// dropped (`ratelimit` for `rate_limit_per_sec`), or at most two edits apart.
pub(super) fn looks_like(typo: &str, key: &str) -> bool {
    let squash = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    let (a, b) = (squash(typo), squash(key));
    (a.len() >= 4 && b.starts_with(&a)) || edit_distance(typo, key) <= 2
}

/// Levenshtein distance, for the "did you mean" hint.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
