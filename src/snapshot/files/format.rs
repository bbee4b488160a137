//! The two input formats, YAML and JSON: how each decodes, and what is read of a document
//! before its kind is known.

use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed};

use super::block_items::{BlockItem, block_items};

/// Why one document could not be read: a line within the document (1-based) when known.
pub(super) struct DocError {
    pub(super) line: Option<usize>,
    pub(super) message: String,
}

impl DocError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        DocError {
            line: None,
            message: message.into(),
        }
    }
}

/// The two formats differ only in how they decode.
pub(super) trait Format {
    type Value: DeserializeOwned;
    /// Whether documents must be checked for deep flow nesting before parsing.
    const NEEDS_NESTING_CHECK: bool;
    fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, DocError>;
    /// Drives `seed` over the document, for reading it piece by piece.
    fn from_text_seed<S>(text: &str, seed: S) -> Result<(), DocError>
    where
        S: for<'de> DeserializeSeed<'de, Value = ()>;
    fn from_value<T: DeserializeOwned>(value: Self::Value) -> Result<T, DocError>;
    /// One item of a List's `items`, as the item-by-item walk hands it over.
    type ListItem: DeserializeOwned + Send;
    /// Calls `read` with the item's `apiVersion` and `kind` and the input its object is decoded
    /// from.
    fn open_list_item<R>(
        item: Self::ListItem,
        read: impl FnOnce(TypeMeta, Input<'_, Self::Value>) -> R,
    ) -> R;
    fn remove_field(value: &mut Self::Value, key: &str);
    /// A List's items as parts to parse one by one, when the format and layout allow it.
    fn block_items(_text: &str) -> Option<Vec<BlockItem>> {
        None
    }
}

pub(super) struct Yaml;
pub(super) struct Json;

impl Format for Yaml {
    type Value = serde_yaml::Value;
    const NEEDS_NESTING_CHECK: bool = true;

    fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, DocError> {
        serde_yaml::from_str(text).map_err(|e| DocError {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })
    }

    fn from_text_seed<S>(text: &str, seed: S) -> Result<(), DocError>
    where
        S: for<'de> DeserializeSeed<'de, Value = ()>,
    {
        seed.deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| DocError {
                line: e.location().map(|l| l.line()),
                message: e.to_string(),
            })
    }

    fn from_value<T: DeserializeOwned>(value: Self::Value) -> Result<T, DocError> {
        serde_yaml::from_value(value).map_err(|e| DocError::new(e.to_string()))
    }

    type ListItem = serde_yaml::Value;

    fn open_list_item<R>(
        item: Self::ListItem,
        read: impl FnOnce(TypeMeta, Input<'_, Self::Value>) -> R,
    ) -> R {
        let field = |key: &str| {
            item.get(key)
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_owned)
        };
        let meta = TypeMeta {
            api_version: field("apiVersion"),
            kind: field("kind"),
        };
        read(meta, Input::Value(item))
    }

    fn remove_field(value: &mut Self::Value, key: &str) {
        if let Some(map) = value.as_mapping_mut() {
            map.remove(key);
        }
    }

    fn block_items(text: &str) -> Option<Vec<BlockItem>> {
        block_items(text)
    }
}

impl Format for Json {
    type Value = serde_json::Value;
    const NEEDS_NESTING_CHECK: bool = false;

    fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, DocError> {
        serde_json::from_str(text).map_err(|e| DocError {
            line: Some(e.line()).filter(|&l| l > 0),
            message: e.to_string(),
        })
    }

    fn from_text_seed<S>(text: &str, seed: S) -> Result<(), DocError>
    where
        S: for<'de> DeserializeSeed<'de, Value = ()>,
    {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        seed.deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|e| DocError {
                line: Some(e.line()).filter(|&l| l > 0),
                message: e.to_string(),
            })
    }

    fn from_value<T: DeserializeOwned>(value: Self::Value) -> Result<T, DocError> {
        serde_json::from_value(value).map_err(|e| DocError::new(e.to_string()))
    }

    // An item stays text until its kind is known, then is decoded straight into its type: no
    // value tree in between, whose allocations were much of a large List's read time.
    type ListItem = Box<serde_json::value::RawValue>;

    fn open_list_item<R>(
        item: Self::ListItem,
        read: impl FnOnce(TypeMeta, Input<'_, Self::Value>) -> R,
    ) -> R {
        // An item that is not an object has no kind, which the reader reports.
        let meta = serde_json::from_str(item.get()).unwrap_or_default();
        read(meta, Input::Text(item.get()))
    }

    fn remove_field(value: &mut Self::Value, key: &str) {
        if let Some(map) = value.as_object_mut() {
            map.remove(key);
        }
    }
}

/// A document to decode: its text, or a List item already parsed.
pub(super) enum Input<'t, V> {
    Text(&'t str),
    Value(V),
}

/// `apiVersion` and `kind`, the only fields read before the kind is known.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct TypeMeta {
    #[serde(default)]
    pub(super) api_version: Option<String>,
    #[serde(default)]
    pub(super) kind: Option<String>,
}

pub(super) fn decode<F: Format, T: DeserializeOwned>(
    input: Input<'_, F::Value>,
) -> Result<T, DocError> {
    match input {
        Input::Text(text) => F::from_text(text),
        Input::Value(value) => F::from_value(value),
    }
}

pub(super) fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

pub(super) fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

pub(super) fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

/// Finds `kind:` and `apiVersion:` as top-level keys at the start of a line, the way nearly every
/// manifest is written, so that the document is parsed once instead of twice. Returns None when
/// the document is written another way (flow style, quoted keys): the caller then asks serde.
pub(super) fn probe_type_meta(document: &str) -> Option<TypeMeta> {
    let mut kind = None;
    let mut api_version = None;
    for line in document.lines() {
        if let Some(value) = line.strip_prefix("kind:") {
            kind = Some(plain_scalar(value)?);
        } else if let Some(value) = line.strip_prefix("apiVersion:") {
            api_version = Some(plain_scalar(value)?);
        }
    }
    kind.map(|kind| TypeMeta {
        api_version,
        kind: Some(kind),
    })
}

/// A simple scalar value: one token, optionally quoted, optionally followed by a comment.
pub(super) fn plain_scalar(value: &str) -> Option<String> {
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    };
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    let simple = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_'));
    simple.then(|| value.to_owned())
}
