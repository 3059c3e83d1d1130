//! Locates JSON values in text by their brackets and strings alone, without building them.
//!
//! A list answer's rows are kept as text and each row is parsed by its reader anyway, so finding
//! where each row starts and ends needs no parse of its own: one pass over the bytes that skips
//! strings (escapes included) and counts brackets. Structure is checked here (balanced brackets,
//! commas and colons where they belong, nothing after the end); what is inside a value is checked
//! by whoever parses it.

use std::ops::Range;

/// One member of an object: its key's and value's spans, and when it is the list asked for,
/// the spans of the list's elements.
#[derive(Debug, PartialEq)]
pub struct Member {
    /// The key, quotes included.
    pub key: Range<usize>,
    /// The value.
    pub value: Range<usize>,
    /// The elements, when the key is the list's (as written, unescaped) and the value an array.
    pub elements: Option<Vec<Range<usize>>>,
}

/// The members of the object that `text` holds, in order; the elements of the array under key
/// `list` are located in the same walk.
pub fn members(text: &[u8], list: &str) -> Result<Vec<Member>, String> {
    let mut i = skip_ws(text, 0);
    expect(text, i, b'{')?;
    i = skip_ws(text, i + 1);
    let mut found = Vec::new();
    if text.get(i) == Some(&b'}') {
        return end_of_text(text, i + 1).map(|()| found);
    }
    loop {
        expect(text, i, b'"')?;
        let key = i..string_end(text, i + 1)?;
        i = skip_ws(text, key.end);
        expect(text, i, b':')?;
        let start = skip_ws(text, i + 1);
        let is_list = text.get(start) == Some(&b'[') && text[key.start + 1..key.end - 1] == *list.as_bytes();
        let (value, elements) = if is_list {
            let (elements, end) = elements(text, start)?;
            (start..end, Some(elements))
        } else {
            (start..value_end(text, start)?, None)
        };
        i = skip_ws(text, value.end);
        found.push(Member { key, value, elements });
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return end_of_text(text, i + 1).map(|()| found),
            _ => return Err(unexpected(text, i)),
        }
    }
}

/// The spans of the elements of the array starting at `start` (a `[`), and where it ends.
pub fn elements(text: &[u8], start: usize) -> Result<(Vec<Range<usize>>, usize), String> {
    let mut i = skip_ws(text, start + 1);
    let mut found = Vec::new();
    if text.get(i) == Some(&b']') {
        return Ok((found, i + 1));
    }
    loop {
        let value = i..value_end(text, i)?;
        i = skip_ws(text, value.end);
        found.push(value);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b']') => return Ok((found, i + 1)),
            _ => return Err(unexpected(text, i)),
        }
    }
}

/// The end of the value starting at `start`: after its closing bracket or quote, or after the
/// last character of a number or literal.
fn value_end(text: &[u8], start: usize) -> Result<usize, String> {
    match text.get(start) {
        Some(b'"') => string_end(text, start + 1),
        Some(b'{' | b'[') => {
            // The hot loop: every byte of every row passes here once, so bytes that matter
            // are found through a table instead of a comparison each.
            let bytes = &text[start..];
            let mut depth = 0usize;
            let mut i = 0;
            loop {
                while i < bytes.len() && CLASS[bytes[i] as usize] == 0 {
                    i += 1;
                }
                match bytes.get(i) {
                    None => return Err("the answer ends inside a value (cut short?)".into()),
                    Some(b'"') => {
                        i = string_end(bytes, i + 1)?;
                        continue;
                    }
                    Some(b'{' | b'[') => depth += 1,
                    Some(_) => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(start + i + 1);
                        }
                    }
                }
                i += 1;
            }
        }
        Some(_) => {
            let len = text[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(text.len() - start);
            if len == 0 {
                return Err(unexpected(text, start));
            }
            Ok(start + len)
        }
        None => Err("the answer ends where a value should be (cut short?)".into()),
    }
}

/// Bytes that open or close a value, or open a string.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'{' as usize] = 1;
    t[b'[' as usize] = 1;
    t[b'}' as usize] = 1;
    t[b']' as usize] = 1;
    t
};

/// The index after the closing quote of the string whose text starts at `i`.
fn string_end(text: &[u8], mut i: usize) -> Result<usize, String> {
    loop {
        while i < text.len() && text[i] != b'"' && text[i] != b'\\' {
            i += 1;
        }
        match text.get(i) {
            Some(b'"') => return Ok(i + 1),
            Some(_) => i += 2,
            None => return Err("the answer ends inside a string (cut short?)".into()),
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

fn expect(text: &[u8], i: usize, want: u8) -> Result<(), String> {
    if text.get(i) == Some(&want) {
        Ok(())
    } else {
        Err(unexpected(text, i))
    }
}

fn end_of_text(text: &[u8], i: usize) -> Result<(), String> {
    let i = skip_ws(text, i);
    if i == text.len() {
        Ok(())
    } else {
        Err(unexpected(text, i))
    }
}

fn unexpected(text: &[u8], i: usize) -> String {
    match text.get(i) {
        None => "the answer ends too early (cut short?)".into(),
        Some(_) => {
            let near = String::from_utf8_lossy(&text[i..text.len().min(i + 20)]);
            format!("unexpected `{near}` at byte {i}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(text: &'a str, spans: &[Range<usize>]) -> Vec<&'a str> {
        spans.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn finds_members_and_rows_through_strings_and_escapes() {
        let text = r#" {"code": 0, "msg":"a \"}]\\", "data" : [ {"a":"[{","b":[1,{"c":"}"}]} , 7,"x",null ] } "#;
        let found = members(text.as_bytes(), "data").unwrap();
        let keys: Vec<&str> = found.iter().map(|m| &text[m.key.clone()]).collect();
        assert_eq!(keys, [r#""code""#, r#""msg""#, r#""data""#]);
        assert_eq!(&text[found[1].value.clone()], r#""a \"}]\\""#);
        assert_eq!(found[1].elements, None);
        let rows = found[2].elements.as_ref().unwrap();
        assert_eq!(texts(text, rows), [r#"{"a":"[{","b":[1,{"c":"}"}]}"#, "7", r#""x""#, "null"]);
        assert!(text[found[2].value.clone()].starts_with('[') && text[found[2].value.clone()].ends_with(']'));
        assert!(members(b"{}", "data").unwrap().is_empty());
        assert_eq!(elements(b"[ ]", 0).unwrap(), (vec![], 3));
    }

    #[test]
    fn refuses_what_is_cut_short_or_not_an_object() {
        let whole = r#"{"code":0,"data":[{"a":"b"},{"a":"c"}]}"#;
        for cut in 1..whole.len() {
            let part = &whole.as_bytes()[..cut];
            assert!(members(part, "data").is_err(), "cut at {cut}: {}", String::from_utf8_lossy(part));
        }
        for bad in [r#"[1]"#, r#"{"a":1 "b":2}"#, r#"{"a" 1}"#, r#"{"a":1} x"#, r#"{"a":}"#, r#"{"a":1,}"#, ""] {
            assert!(members(bad.as_bytes(), "data").is_err(), "{bad}");
        }
        let text = r#"{"data":[{"a":1} {"b":2}]}"#;
        assert!(members(text.as_bytes(), "data").is_err(), "rows without a comma between them");
    }
}
