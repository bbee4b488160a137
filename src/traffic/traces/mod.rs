//! Reading trace files: OTLP JSON (the Collector's file exporter, one `{"resourceSpans":[...]}`
//! per line, or one object), Jaeger JSON (the query API's `{"data":[...]}` or one trace) and
//! Zipkin v2 JSON (an array of spans). The format is told by the content, not the file name.
//!
//! Files are read as streams: a file of one object per line is parsed line by line; a single
//! document (a pretty-printed object, a Jaeger or Zipkin download) goes through a serde visitor
//! that hands over one resource, trace or span at a time. Either way memory depends on the
//! largest line or trace and on [`assemble::MAX_PENDING_SPANS`], not on the file's size.
//!
//! A file that cannot be read gives a [`TraceError`] with its line and column; calls read before
//! the error are kept, and other files are read as usual.

pub mod assemble;
pub mod jaeger;
pub mod otlp;
pub mod zipkin;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use self::assemble::Assembler;
use super::ObservedCall;
use crate::servicemap::NameHints;

/// Longest line of a line-per-object file; longer lines are an error (a single document on one
/// line is streamed instead).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// File names read from a folder (a file named on the command line is read whatever its name).
const TRACE_EXTENSIONS: [&str; 3] = ["json", "jsonl", "ndjson"];

/// The trace formats, as told from the content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    Otlp,
    Jaeger,
    Zipkin,
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceFormat::Otlp => "OTLP JSON",
            TraceFormat::Jaeger => "Jaeger JSON",
            TraceFormat::Zipkin => "Zipkin v2 JSON",
        })
    }
}

/// Why a trace file (or part of it) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: the file is empty: no spans")]
    Empty { path: String },
    #[error(
        "{path}: not a trace file: it starts with byte 0x{byte:02x}, not a JSON object or array"
    )]
    NotJson { path: String, byte: u8 },
    #[error("{path}:{line}: line longer than {limit} bytes")]
    LineTooLong {
        path: String,
        line: usize,
        limit: usize,
    },
}

/// How much one file may ask for.
#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    pub max_line_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What one file gave.
#[derive(Debug)]
pub struct FileTraces {
    pub path: PathBuf,
    pub format: Option<TraceFormat>,
    pub spans: u64,
    pub calls: Vec<ObservedCall>,
    /// Where reading stopped, if it did; the calls before it are kept.
    pub error: Option<TraceError>,
}

/// What a set of paths gave.
#[derive(Debug, Default)]
pub struct TraceOutcome {
    pub files: Vec<FileTraces>,
}

impl TraceOutcome {
    /// All calls of all files.
    pub fn calls(&self) -> impl Iterator<Item = &ObservedCall> {
        self.files.iter().flat_map(|f| &f.calls)
    }

    /// The errors, one per file at most.
    pub fn errors(&self) -> impl Iterator<Item = &TraceError> {
        self.files.iter().filter_map(|f| f.error.as_ref())
    }

    /// Spans read from all files.
    pub fn spans(&self) -> u64 {
        self.files.iter().map(|f| f.spans).sum()
    }
}

/// Reads trace files and folders (recursively, `.json`, `.jsonl` and `.ndjson` files, sorted).
pub fn read_paths(paths: &[PathBuf], limits: ReadLimits) -> TraceOutcome {
    let mut outcome = TraceOutcome::default();
    for path in paths {
        let mut files = Vec::new();
        if let Err(error) = collect_files(path, true, &mut files) {
            outcome.files.push(FileTraces {
                path: path.clone(),
                format: None,
                spans: 0,
                calls: Vec::new(),
                error: Some(error),
            });
            continue;
        }
        outcome
            .files
            .extend(files.iter().map(|file| read_file(file, limits)));
    }
    outcome
}

fn collect_files(path: &Path, named: bool, out: &mut Vec<PathBuf>) -> Result<(), TraceError> {
    let io = |source| TraceError::Io {
        path: path.display().to_string(),
        source,
    };
    if !path.is_dir() {
        let has_trace_extension = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| TRACE_EXTENSIONS.contains(&e));
        if named || has_trace_extension {
            out.push(path.to_path_buf());
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        collect_files(&entry, false, out)?;
    }
    Ok(())
}

/// Reads one trace file.
pub fn read_file(path: &Path, limits: ReadLimits) -> FileTraces {
    let mut assembler = Assembler::default();
    let mut format = None;
    let error = ingest(path, limits, &mut assembler, &mut format).err();
    let spans = assembler.spans;
    FileTraces {
        path: path.to_path_buf(),
        format,
        spans,
        calls: assembler.finish(&path.display().to_string()),
        error,
    }
}

fn ingest(
    path: &Path,
    limits: ReadLimits,
    assembler: &mut Assembler,
    format: &mut Option<TraceFormat>,
) -> Result<(), TraceError> {
    let name = || path.display().to_string();
    let io = |source| TraceError::Io {
        path: name(),
        source,
    };
    let open = || File::open(path).map(|f| BufReader::with_capacity(1 << 16, f));
    let mut reader = open().map_err(io)?;
    let (first, blank_lines) = first_byte(&mut reader).map_err(io)?;
    match first {
        None => Err(TraceError::Empty { path: name() }),
        Some(b'[') => stream(open().map_err(io)?, assembler, format, &name),
        Some(b'{') => {
            let mut line = Vec::new();
            let whole_line = read_line(&mut reader, &mut line, limits.max_line_bytes)
                .map_err(io)?
                .is_some_and(|whole| whole);
            if !whole_line {
                // One document on one long line: streamed.
                return stream(open().map_err(io)?, assembler, format, &name);
            }
            let first_line = blank_lines + 1;
            match parse_slice(&line, assembler, format) {
                Ok(()) => {}
                Err(error) if error.classify() == serde_json::error::Category::Eof => {
                    // A document over several lines: start again and stream it.
                    *assembler = Assembler::default();
                    return stream(open().map_err(io)?, assembler, format, &name);
                }
                Err(error) => return Err(parse_error(&name(), first_line - 1, &error)),
            }
            lines(reader, first_line, limits, assembler, format, &name)
        }
        Some(byte) => Err(TraceError::NotJson { path: name(), byte }),
    }
}

/// One JSON document per line (the Collector's file exporter).
fn lines(
    mut reader: BufReader<File>,
    first_line: usize,
    limits: ReadLimits,
    assembler: &mut Assembler,
    format: &mut Option<TraceFormat>,
    name: &dyn Fn() -> String,
) -> Result<(), TraceError> {
    let mut line = Vec::new();
    let mut number = first_line;
    loop {
        number += 1;
        let whole = read_line(&mut reader, &mut line, limits.max_line_bytes).map_err(|source| {
            TraceError::Io {
                path: name(),
                source,
            }
        })?;
        match whole {
            None => return Ok(()),
            Some(false) => {
                return Err(TraceError::LineTooLong {
                    path: name(),
                    line: number,
                    limit: limits.max_line_bytes,
                });
            }
            Some(true) if line.iter().all(u8::is_ascii_whitespace) => {}
            Some(true) => parse_slice(&line, assembler, format)
                .map_err(|error| parse_error(&name(), number - 1, &error))?,
        }
    }
}

/// One document read through a visitor, one resource, trace or span at a time.
fn stream(
    reader: BufReader<File>,
    assembler: &mut Assembler,
    format: &mut Option<TraceFormat>,
    name: &dyn Fn() -> String,
) -> Result<(), TraceError> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    DocumentSeed { assembler, format }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|error| parse_error(&name(), 0, &error))
}

fn parse_slice(
    line: &[u8],
    assembler: &mut Assembler,
    format: &mut Option<TraceFormat>,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    DocumentSeed { assembler, format }.deserialize(&mut deserializer)?;
    deserializer.end()
}

/// serde_json's message without its own " at line L column C" (the error gives both).
fn parse_error(path: &str, lines_before: usize, error: &serde_json::Error) -> TraceError {
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(message, _)| message)
        .to_owned();
    TraceError::Parse {
        path: path.to_owned(),
        line: lines_before + error.line(),
        column: error.column(),
        message,
    }
}

/// The first byte that is no whitespace (and no UTF-8 byte-order mark), left unread, and the
/// number of lines before it.
fn first_byte(reader: &mut BufReader<File>) -> std::io::Result<(Option<u8>, usize)> {
    let mut newlines = 0;
    let mut at_start = true;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((None, newlines));
        }
        if at_start && buffer.starts_with(&[0xEF, 0xBB, 0xBF]) {
            reader.consume(3);
            at_start = false;
            continue;
        }
        at_start = false;
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                newlines += buffer[..at].iter().filter(|&&b| b == b'\n').count();
                let byte = buffer[at];
                // Whole whitespace lines are skipped; the rest of a line stays for the reader.
                let line_start = buffer[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                reader.consume(line_start);
                return Ok((Some(byte), newlines));
            }
            None => {
                let length = buffer.len();
                newlines += buffer.iter().filter(|&&b| b == b'\n').count();
                reader.consume(length);
            }
        }
    }
}

/// Reads one line into `line` (cleared first): None at the end of the file, Some(false) when it
/// is longer than `limit`.
fn read_line(
    reader: &mut BufReader<File>,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let read = reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_until(b'\n', line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(Some(line.len() <= limit))
}

/// Dispatches a document on its shape: an array is Zipkin; an object is OTLP
/// (`resourceSpans`) or Jaeger (`data`, or one trace's `spans` and `processes`).
struct DocumentSeed<'a> {
    assembler: &'a mut Assembler,
    format: &'a mut Option<TraceFormat>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OTLP, Jaeger or Zipkin trace document")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        *self.format = Some(TraceFormat::Zipkin);
        while seq
            .next_element_seed(ZipkinElement {
                assembler: self.assembler,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut single_trace: Option<jaeger::Trace> = None;
        let mut recognised = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resourceSpans" => {
                    *self.format = Some(TraceFormat::Otlp);
                    recognised = true;
                    map.next_value_seed(Elements {
                        assembler: self.assembler,
                        ingest: |r: otlp::ResourceSpans, a: &mut Assembler| r.ingest(a),
                        element: PhantomData,
                    })?;
                }
                "data" => {
                    *self.format = Some(TraceFormat::Jaeger);
                    recognised = true;
                    map.next_value_seed(Elements {
                        assembler: self.assembler,
                        ingest: |t: jaeger::Trace, a: &mut Assembler| t.ingest(a),
                        element: PhantomData,
                    })?;
                }
                "spans" => {
                    *self.format = Some(TraceFormat::Jaeger);
                    recognised = true;
                    single_trace.get_or_insert_with(Default::default).spans = map.next_value()?;
                }
                "processes" => {
                    single_trace.get_or_insert_with(Default::default).processes =
                        map.next_value()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !recognised {
            return Err(de::Error::custom(
                "no `resourceSpans` (OTLP), `data` or `spans` (Jaeger) in this object: not a \
                 trace document",
            ));
        }
        if let Some(trace) = single_trace {
            trace.ingest(self.assembler);
        }
        Ok(())
    }
}

/// The elements of an array, each deserialized whole and handed to `ingest`, one at a time.
struct Elements<'a, T, F> {
    assembler: &'a mut Assembler,
    ingest: F,
    element: PhantomData<fn() -> T>,
}

impl<'de, T, F> DeserializeSeed<'de> for Elements<'_, T, F>
where
    T: de::Deserialize<'de>,
    F: Fn(T, &mut Assembler),
{
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T, F> Visitor<'de> for Elements<'_, T, F>
where
    T: de::Deserialize<'de>,
    F: Fn(T, &mut Assembler),
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            (self.ingest)(element, self.assembler);
        }
        Ok(())
    }
}

/// An element of a Zipkin array: a span, or a trace (an array of spans).
struct ZipkinElement<'a> {
    assembler: &'a mut Assembler,
}

impl<'de> DeserializeSeed<'de> for ZipkinElement<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ZipkinElement<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Zipkin span or an array of spans")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let span: zipkin::Span =
            de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        span.ingest(self.assembler);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(span) = seq.next_element::<zipkin::Span>()? {
            span.ingest(self.assembler);
        }
        Ok(())
    }
}

/// The attributes the pairing reads, from resource attributes, span attributes or tags.
#[derive(Default)]
struct Attributes {
    known: Vec<(&'static str, String)>,
}

/// Attribute keys that name things, and where they go.
const KNOWN_KEYS: [&str; 18] = [
    "service.name",
    "k8s.namespace.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
    "k8s.pod.name",
    // Jaeger clients' process tag: the pod name in Kubernetes.
    "hostname",
    "peer.service",
    "server.address",
    "net.peer.name",
    "peer.hostname",
    "span.kind",
    "http.status_code",
    "http.response.status_code",
    "error",
    "otel.status_code",
];

const WORKLOAD_KEYS: [&str; 5] = [
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.job.name",
    "k8s.cronjob.name",
];

impl Attributes {
    fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut attributes = Attributes::default();
        for (key, value) in pairs {
            if let Some(known) = KNOWN_KEYS.iter().find(|k| **k == key) {
                attributes.set(known, value);
            }
        }
        attributes
    }

    fn set(&mut self, key: &'static str, value: &str) {
        if value.is_empty() {
            return;
        }
        match self.known.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => value.clone_into(existing),
            None => self.known.push((key, value.to_owned())),
        }
    }

    fn set_service_name(&mut self, name: &str) {
        self.set("service.name", name);
    }

    fn set_peer_service(&mut self, name: &str) {
        self.set("peer.service", name);
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.known
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The names of the service that recorded a span.
    fn resource_hints(&self) -> NameHints {
        let owned = |key| self.get(key).map(str::to_owned);
        NameHints {
            namespace: owned("k8s.namespace.name"),
            workload: WORKLOAD_KEYS.iter().find_map(|k| owned(k)),
            pod: owned("k8s.pod.name").or_else(|| owned("hostname")),
            service: None,
            service_name: owned("service.name"),
            host: None,
        }
    }

    /// The name a client span gives for what it called, in its caller's namespace unless the
    /// host names another.
    fn peer_hints(&self, caller_namespace: Option<&str>) -> Option<NameHints> {
        let service = self.get("peer.service").map(str::to_owned);
        let host = ["server.address", "net.peer.name", "peer.hostname"]
            .iter()
            .find_map(|k| self.get(k))
            .map(str::to_owned);
        (service.is_some() || host.is_some()).then(|| NameHints {
            namespace: caller_namespace.map(str::to_owned),
            service,
            host,
            ..NameHints::default()
        })
    }

    /// `error=true` or `otel.status_code=ERROR` (Jaeger and Zipkin spell a failed span so).
    fn marks_error(&self) -> bool {
        self.get("error").is_some_and(|v| v == "true")
            || self.get("otel.status_code") == Some("ERROR")
    }
}

/// A 5xx response: the call failed whatever the span status says.
fn is_http_server_error(status: Option<u64>) -> bool {
    status.is_some_and(|code| (500..600).contains(&code))
}
