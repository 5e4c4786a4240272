//! Reading ebr's JSON input files (model.json, set.json): a size cap checked before the file is
//! read, serde-derived types with `deny_unknown_fields`, duplicate keys refused, and every error
//! an [`Error::Json`] naming the file and the field path (`frame[2].kernel`) in plain words.
//!
//! How duplicate keys are caught: every JSON object of both files is read into a derived struct
//! with `deny_unknown_fields`, and serde's derived struct reader refuses a field it has already
//! seen ("duplicate field"); the one object read as a free map (a model layer, read whole to
//! look at its "type" first) goes through [`UniqueMap`], which refuses a repeated key the same
//! way. serde_json's own maps keep the last value silently: none is used on a user's file.

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Error;

/// The largest JSON file ebr reads: 64 MiB. A real model.json is a few kB (a captioner's
/// vocabulary a few hundred kB); the largest set `ebr synth` writes (10,000 splice3 clips) is
/// about 32 MB (3.1 kB a clip). Checked from the file's metadata before anything is read.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

/// Reads the JSON file `path` into `T`. A file larger than [`MAX_JSON_BYTES`] is refused
/// (`Error::TooLarge`) before it is read. Every JSON file ebr reads goes through here.
pub fn read_json_file<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // Only a regular file: a FIFO or a device would block or never end (spec/outputs.md).
    let what = path
        .file_name()
        .map_or_else(|| "JSON file".into(), |name| name.to_string_lossy());
    let file = crate::input_file::open_regular(path, &what)?;
    let too_large = |bytes: u64| {
        Error::TooLarge {
        path: path.to_path_buf(),
        reason: format!(
            "the file holds {bytes} bytes, more than the {MAX_JSON_BYTES} bytes (64 MiB) ebr reads from a JSON file"
        ),
    }
    };
    let bytes = file.metadata().map_err(io_error)?.len();
    if bytes > MAX_JSON_BYTES {
        return Err(too_large(bytes));
    }
    // A file that grows after the check is cut one byte past the cap, and refused.
    let mut text = String::new();
    file.take(MAX_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io_error)?;
    if text.len() as u64 > MAX_JSON_BYTES {
        return Err(too_large(text.len() as u64));
    }
    parse_json(path, &text)
}

/// Parses `text`, the content of the JSON file `path` (only used in errors), into `T`: one JSON
/// object, nothing after it.
pub fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Object(value) =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| explain(path, "", e))?;
    deserializer.end().map_err(|e| Error::Json {
        path: path.to_path_buf(),
        field: "(file)".to_string(),
        reason: format!("not valid JSON: {e}"),
    })?;
    Ok(value)
}

/// Reads `T` from `value`, a part of the file `path` found at the field path `at` (e.g.
/// "frame[2]"): errors name `at` followed by the path inside `value`.
pub fn from_value_at<T: DeserializeOwned>(path: &Path, at: &str, value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| explain(path, at, e))
}

/// An error of the file `path` at the field path `field`. Control characters of both (keys and
/// values quoted from the file) are escaped: the message goes to a terminal on one line.
pub fn field_error(path: &Path, field: &str, reason: impl Into<String>) -> Error {
    Error::Json {
        path: path.to_path_buf(),
        field: escape_controls(field),
        reason: escape_controls(&reason.into()),
    }
}

/// A JSON object read as a map whose keys must differ (serde_json's `Map` keeps the last of two
/// equal keys): a repeated key is refused as serde's derived structs refuse one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UniqueMap(pub Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UniqueMap, D::Error> {
        struct UniqueMapVisitor;
        impl<'de> Visitor<'de> for UniqueMapVisitor {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap, A::Error> {
                let mut fields = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if fields.contains_key(&key) {
                        // serde's own wording (its `duplicate_field` takes only static names)
                        let message = format!("duplicate field `{key}`");
                        return Err(serde::de::Error::custom(message));
                    }
                    let value = map.next_value::<Value>()?;
                    fields.insert(key, value);
                }
                Ok(UniqueMap(fields))
            }
        }
        deserializer.deserialize_map(UniqueMapVisitor)
    }
}

/// The file's top level: one JSON object (serde's derived structs would also take a JSON list
/// of the fields in order; the top level is read as a map only).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object<T>, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

/// serde's error at a field path, in ebr's words: `Error::Json` with the full path (`at`, then
/// the path inside) and a reason such as "is missing" or "must be a string, found 3".
fn explain(path: &Path, at: &str, error: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = error.inner();
    if !inner.is_data() {
        return field_error(path, "(file)", format!("not valid JSON: {inner}"));
    }
    let inside = error.path().to_string();
    let mut field = match (at, inside.as_str()) {
        (at, ".") => at.to_string(),
        ("", inside) => inside.to_string(),
        (at, inside) if inside.starts_with('[') => format!("{at}{inside}"),
        (at, inside) => format!("{at}.{inside}"),
    };
    // serde_json adds the position to data errors read from text; the path says where.
    let mut message = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    if let Some(stripped) = message.strip_suffix(&position) {
        message.truncate(stripped.len());
    }
    let reason = reason(&mut field, &message);
    if field.is_empty() {
        return field_error(path, "(file)", reason.replacen("must be", "must hold", 1));
    }
    field_error(path, &field, reason)
}

/// The reason of serde's `message` at `field`; a message about a key inside `field` (missing,
/// unknown, repeated) moves `field` to that key.
fn reason(field: &mut String, message: &str) -> String {
    if let Some(key) = quoted_after(message, "missing field ") {
        at_key(field, &key);
        return "is missing".to_string();
    }
    if let Some(key) = quoted_after(message, "unknown field ") {
        // serde_path_to_error's path already ends with the unknown key.
        if !(*field == key || field.ends_with(&format!(".{key}"))) {
            at_key(field, &key);
        }
        let valid = message.split_once(", expected ").map_or("", |(_, v)| v);
        let valid = (valid.trim_start_matches("one of ").replace('`', "")).replace(" or ", ", ");
        return format!("is not a field ebr knows here (valid: {valid})");
    }
    if let Some(key) = quoted_after(message, "duplicate field ") {
        at_key(field, &key);
        return "appears twice (a key may appear once in an object)".to_string();
    }
    if let Some(variant) = quoted_after(message, "unknown variant ") {
        let valid = message.split_once(", expected ").map_or("", |(_, v)| v);
        return format!("must be {}, found \"{variant}\"", valid.replace('`', "\""));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!(
                "must be {}, found {}",
                plain_expected(expected),
                plain_found(found)
            );
        }
    }
    if let Some((count, expected)) = message
        .strip_prefix("invalid length ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        return format!("has {count} values, expected {}", plain_expected(expected));
    }
    message.to_string()
}

/// Moves `field` to its key `key`.
fn at_key(field: &mut String, key: &str) {
    *field = if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    };
}

/// `name` in "prefix `name`...", serde's way of quoting names.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}

/// What serde's visitors expect, in the words of spec/model.md.
fn plain_expected(expected: &str) -> String {
    match expected {
        "usize" | "u64" | "u32" => "a non-negative integer".to_string(),
        "f64" | "f32" => "a number".to_string(),
        "a boolean" => "true or false".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "an object".to_string(),
        other if other.starts_with("struct ") => "an object".to_string(),
        other => match other.strip_prefix("an array of length ") {
            Some(n) => format!("a list of {n} values"),
            None => other.to_string(),
        },
    }
}

/// What serde found (its `Unexpected`), as the file writes it: `3`, `the string "3"`, `a list`.
fn plain_found(found: &str) -> String {
    for prefix in ["integer `", "floating point `", "boolean `"] {
        if let Some(value) = found.strip_prefix(prefix) {
            return value.trim_end_matches('`').to_string();
        }
    }
    match found {
        "sequence" => "a list".to_string(),
        "map" => "an object".to_string(),
        "unit value" | "null" => "null".to_string(),
        other => match other.strip_prefix("string ") {
            Some(string) => format!("the string {string}"),
            None => other.to_string(),
        },
    }
}

/// `text` with control characters escaped (`\n`, `\u{1b}`): a key from the file is printed to
/// a terminal.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: usize,
        flag: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
        layer: Option<UniqueMap>,
    }

    fn error(text: &str) -> String {
        parse_json::<Outer>(Path::new("x.json"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn messages_name_the_field_path() {
        let ok = r#"{"name": "a", "items": [{"size": 1}, {"size": 2, "flag": true}]}"#;
        assert!(parse_json::<Outer>(Path::new("x.json"), ok).is_ok());
        for (text, want) in [
            (r#"{"items": []}"#, "x.json: field name: is missing"),
            (
                r#"{"name": "a", "items": [{"size": 1}, {"size": -2}]}"#,
                "x.json: field items[1].size: must be a non-negative integer, found -2",
            ),
            (
                r#"{"name": "a", "items": [{"size": 1, "extra": 0}]}"#,
                "x.json: field items[0].extra: is not a field ebr knows here (valid: size, flag)",
            ),
            (
                r#"{"name": 3, "items": []}"#,
                "x.json: field name: must be a string, found 3",
            ),
            (
                r#"{"name": "a", "items": {}}"#,
                "x.json: field items: must be a list, found an object",
            ),
            (
                r#"{"name": "a", "items": [{"size": 1, "flag": "yes"}]}"#,
                "x.json: field items[0].flag: must be true or false, found the string \"yes\"",
            ),
            (
                "[1]",
                "x.json: field (file): must hold one JSON object, found a list",
            ),
        ] {
            assert_eq!(error(text), want, "{text}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        for (text, want) in [
            (
                r#"{"name": "a", "name": "b", "items": []}"#,
                "x.json: field name: appears twice (a key may appear once in an object)",
            ),
            (
                r#"{"name": "a", "items": [{"size": 1, "size": 2}]}"#,
                "x.json: field items[0].size: appears twice (a key may appear once in an object)",
            ),
            (
                r#"{"name": "a", "items": [], "layer": {"type": "a", "type": "b"}}"#,
                "x.json: field layer.type: appears twice (a key may appear once in an object)",
            ),
        ] {
            assert_eq!(error(text), want, "{text}");
        }
        // In a free map too, whatever the key.
        assert_eq!(
            error(r#"{"name": "a", "items": [], "layer": {"k": 1, "k": 2}}"#),
            "x.json: field layer.k: appears twice (a key may appear once in an object)"
        );
    }

    #[test]
    fn syntax_errors_and_trailing_text_are_file_errors() {
        assert!(error("{\"name\": ").starts_with("x.json: field (file): not valid JSON: EOF"));
        assert!(error(r#"{"name": "a", "items": []} 3"#)
            .starts_with("x.json: field (file): not valid JSON: trailing characters"));
    }

    #[test]
    fn control_characters_of_keys_and_values_are_escaped() {
        assert_eq!(
            error("{\"name\": \"a\", \"items\": [], \"bad\\u001b\": 1}"),
            "x.json: field bad\\u{1b}: is not a field ebr knows here (valid: name, items, layer)"
        );
        let error = field_error(Path::new("x.json"), "type", "found \"a\nb\"");
        assert_eq!(error.to_string(), "x.json: field type: found \"a\\nb\"");
    }
}
