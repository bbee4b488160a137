//! OTLP JSON (the OpenTelemetry protocol's JSON encoding, as the Collector's file exporter writes
//! it): `{"resourceSpans":[{"resource":{...},"scopeSpans":[{"spans":[...]}]}]}`. Ids are hex,
//! 64-bit integers may be strings, enums may be numbers or names.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::assemble::{Assembler, SpanKind, SpanRecord, parse_id, parse_span_id};
use super::{Attributes, is_http_server_error};

/// One resource and the spans it recorded. Serialize is for tests and the benchmark, which
/// write trace files.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpans {
    #[serde(default)]
    pub resource: Resource,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `{"resourceSpans":[...]}`: one line of the Collector's file exporter.
#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct TracesData {
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Resource {
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct ScopeSpans {
    #[serde(default)]
    pub spans: Vec<Span>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_span_id: String,
    #[serde(default)]
    pub name: String,
    /// 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    #[serde(default, deserialize_with = "enum_number")]
    pub kind: u64,
    #[serde(default, deserialize_with = "number_or_string")]
    pub start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "number_or_string")]
    pub end_time_unix_nano: u64,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
    #[serde(default)]
    pub status: Status,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Status {
    /// 0 unset, 1 ok, 2 error.
    #[serde(default, deserialize_with = "enum_number")]
    pub code: u64,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: AnyValue,
}

/// An attribute value; only the scalar kinds the pairing reads are kept.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnyValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// int64 values are strings in OTLP JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_number_or_string"
    )]
    pub int_value: Option<u64>,
}

impl KeyValue {
    /// A string attribute (tests and the benchmark write them).
    pub fn text(key: &str, value: &str) -> Self {
        KeyValue {
            key: key.to_owned(),
            value: AnyValue {
                string_value: Some(value.to_owned()),
                int_value: None,
            },
        }
    }
}

impl ResourceSpans {
    /// Adds the spans to `assembler`.
    pub fn ingest(self, assembler: &mut Assembler) {
        let resource = Attributes::from_pairs(
            self.resource
                .attributes
                .iter()
                .filter_map(|kv| Some((kv.key.as_str(), kv.value.string_value.as_deref()?))),
        );
        let local = assembler.intern(resource.resource_hints());
        for span in self.scope_spans.into_iter().flat_map(|s| s.spans) {
            let attributes = Attributes::from_pairs(
                span.attributes
                    .iter()
                    .filter_map(|kv| Some((kv.key.as_str(), kv.value.string_value.as_deref()?))),
            );
            let http_status = span
                .attributes
                .iter()
                .filter(|kv| kv.key == "http.response.status_code" || kv.key == "http.status_code")
                .find_map(|kv| kv.value.int_value);
            let kind = match span.kind {
                2 => SpanKind::Server,
                3 => SpanKind::Client,
                4 => SpanKind::Producer,
                5 => SpanKind::Consumer,
                _ => SpanKind::Internal,
            };
            let peer = attributes
                .peer_hints(assembler.namespace_of(local))
                .map(|hints| assembler.intern(hints));
            let start_micros = span.start_time_unix_nano / 1_000;
            let duration_micros = (span.end_time_unix_nano >= span.start_time_unix_nano
                && span.start_time_unix_nano > 0)
                .then(|| (span.end_time_unix_nano - span.start_time_unix_nano) / 1_000);
            let record = SpanRecord {
                span_id: parse_span_id(&span.span_id).unwrap_or_default(),
                parent_id: parse_span_id(&span.parent_span_id),
                kind,
                local,
                peer,
                start_micros,
                duration_micros,
                failed: span.status.code == 2
                    || is_http_server_error(http_status)
                    || attributes.marks_error(),
                shared: false,
            };
            assembler.add(parse_id(&span.trace_id), record);
        }
    }
}

/// An OTLP enum: its number, or its name (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`).
fn enum_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct EnumVisitor;
    impl Visitor<'_> for EnumVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an enum number or name")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("negative enum value {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            Ok(match v {
                "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" => 1,
                "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" => 2,
                "SPAN_KIND_CLIENT" => 3,
                "SPAN_KIND_PRODUCER" => 4,
                "SPAN_KIND_CONSUMER" => 5,
                _ => 0,
            })
        }
    }
    deserializer.deserialize_any(EnumVisitor)
}

/// A 64-bit integer, which OTLP JSON writes as a string.
fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct NumberVisitor;
    impl Visitor<'_> for NumberVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an unsigned integer, as a number or a string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("negative value {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse()
                .map_err(|_| E::custom(format!("{v:?} is not an unsigned integer")))
        }
    }
    deserializer.deserialize_any(NumberVisitor)
}

/// An int64 attribute (a string in OTLP JSON); negative values are not needed and read as none.
fn optional_number_or_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct IntVisitor;
    impl Visitor<'_> for IntVisitor {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer, as a number or a string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u64>, E> {
            v.parse::<i64>()
                .map(|v| u64::try_from(v).ok())
                .map_err(|_| E::custom(format!("{v:?} is not an integer")))
        }
    }
    deserializer.deserialize_any(IntVisitor)
}
