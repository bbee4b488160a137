//! Reading a [`Snapshot`] from YAML and JSON files: multi-document YAML, `kind: List` (and
//! `*List` kinds), the output of `helm template` and `kustomize build`, folders read recursively.
//!
//! One bad document does not stop the reading: it becomes a [`ReadWarning`] with the file and the
//! line, and the rest is read (`strict` turns the first warning into an error). Multi-document
//! YAML is split here, at `---` lines, so that each document's errors carry a line of the file.
//!
//! Hostile input is bounded: documents over [`ReadOptions::max_document_bytes`] are refused
//! before parsing, files over [`ReadOptions::max_file_bytes`] are not read, serde_yaml and
//! serde_json stop at 128 levels of nesting, and serde_yaml refuses alias bombs.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::Deserialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

use super::mesh::{DestinationRule, HttpRoute, VirtualService};
use super::{DEFAULT_NAMESPACE, KubeObject, ReadWarning, Snapshot, SnapshotError};

/// How to read files.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Namespace of objects that name none.
    pub default_namespace: String,
    /// Fail on the first bad document instead of warning.
    pub strict: bool,
    /// Documents larger than this are refused (with a warning) before parsing.
    pub max_document_bytes: usize,
    /// Files larger than this are not read (with a warning).
    pub max_file_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            default_namespace: DEFAULT_NAMESPACE.to_owned(),
            strict: false,
            max_document_bytes: 64 << 20,
            max_file_bytes: 1 << 30,
        }
    }
}

/// What reading produced.
#[derive(Clone, Debug, Default)]
pub struct ReadOutcome {
    pub snapshot: Snapshot,
    /// Documents that could not be read, with file and line.
    pub warnings: Vec<ReadWarning>,
    /// Files read.
    pub files: usize,
    /// Non-empty documents seen (List items count one each).
    pub documents: usize,
}

/// Reads files and folders (recursively: `.yaml`, `.yml` and `.json` files, hidden entries
/// skipped) into a normalized snapshot. `-` reads standard input. Files named explicitly are read
/// whatever their extension; a `.json` file is read as JSON, anything else as YAML.
pub fn read_paths(paths: &[PathBuf], options: &ReadOptions) -> Result<ReadOutcome, SnapshotError> {
    let mut reader = Reader::new(options);
    for path in paths {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(options.max_file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|source| SnapshotError::Io {
                    path: path.clone(),
                    source,
                })?;
            reader.read_file_bytes(path, &bytes)?;
        } else {
            let mut visited = BTreeSet::new();
            reader.read_path(path, true, &mut visited)?;
        }
    }
    Ok(reader.finish())
}

/// Reads one text as if it were the file `origin` (JSON if it ends in `.json`, else YAML).
pub fn read_str(
    text: &str,
    origin: &Path,
    options: &ReadOptions,
) -> Result<ReadOutcome, SnapshotError> {
    read_bytes(text.as_bytes(), origin, options)
}

/// Reads raw bytes as if they were the file `origin`; bytes that are not UTF-8 are a warning.
pub fn read_bytes(
    bytes: &[u8],
    origin: &Path,
    options: &ReadOptions,
) -> Result<ReadOutcome, SnapshotError> {
    let mut reader = Reader::new(options);
    reader.read_file_bytes(origin, bytes)?;
    Ok(reader.finish())
}

/// Why one document could not be read: a line within the document (1-based) when known.
struct DocError {
    line: Option<usize>,
    message: String,
}

impl DocError {
    fn new(message: impl Into<String>) -> Self {
        DocError {
            line: None,
            message: message.into(),
        }
    }
}

/// The two formats differ only in how they decode.
trait Format {
    type Value: DeserializeOwned;
    /// Whether documents must be checked for deep flow nesting before parsing.
    const NEEDS_NESTING_CHECK: bool;
    fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, DocError>;
    /// Drives `seed` over the document, for reading it piece by piece.
    fn from_text_seed<S>(text: &str, seed: S) -> Result<(), DocError>
    where
        S: for<'de> DeserializeSeed<'de, Value = ()>;
    fn from_value<T: DeserializeOwned>(value: Self::Value) -> Result<T, DocError>;
    fn str_field<'v>(value: &'v Self::Value, key: &str) -> Option<&'v str>;
    fn remove_field(value: &mut Self::Value, key: &str);
}

struct Yaml;
struct Json;

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

    fn str_field<'v>(value: &'v Self::Value, key: &str) -> Option<&'v str> {
        value.get(key).and_then(serde_yaml::Value::as_str)
    }

    fn remove_field(value: &mut Self::Value, key: &str) {
        if let Some(map) = value.as_mapping_mut() {
            map.remove(key);
        }
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

    fn str_field<'v>(value: &'v Self::Value, key: &str) -> Option<&'v str> {
        value.get(key).and_then(serde_json::Value::as_str)
    }

    fn remove_field(value: &mut Self::Value, key: &str) {
        if let Some(map) = value.as_object_mut() {
            map.remove(key);
        }
    }
}

/// A document to decode: its text, or a List item already parsed.
enum Input<'t, V> {
    Text(&'t str),
    Value(V),
}

/// `apiVersion` and `kind`, the only fields read before the kind is known.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// A List document read item by item: each item of `items` is parsed into its own value tree,
/// handed to `on_item` and dropped, so a `kubectl get -o json` of a large cluster never exists as
/// one tree (ten times the size of its text). Other fields are skipped unparsed.
struct ListItems<'c, V, F> {
    on_item: &'c mut F,
    /// The reader's error that stopped the walk (strict mode), to return as it is.
    stopped: &'c mut Option<SnapshotError>,
    item: PhantomData<V>,
}

impl<'de, V, F> DeserializeSeed<'de> for ListItems<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, V, F> Visitor<'de> for ListItems<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a List object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(ItemSequence {
                    on_item: &mut *self.on_item,
                    stopped: &mut *self.stopped,
                    item: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `items` array of a [`ListItems`].
struct ItemSequence<'c, V, F> {
    on_item: &'c mut F,
    stopped: &'c mut Option<SnapshotError>,
    item: PhantomData<V>,
}

impl<'de, V, F> DeserializeSeed<'de> for ItemSequence<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, V, F> Visitor<'de> for ItemSequence<'_, V, F>
where
    V: DeserializeOwned,
    F: FnMut(V) -> Result<(), SnapshotError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects in `items`")
    }

    /// `items: null` is an empty List.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<V>()? {
            if let Err(error) = (self.on_item)(item) {
                *self.stopped = Some(error);
                return Err(de::Error::custom("reading stopped"));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct NamespaceDocument {
    #[serde(default)]
    metadata: NamespaceMeta,
}

#[derive(Deserialize, Default)]
struct NamespaceMeta {
    #[serde(default)]
    name: Option<String>,
}

/// What decoding one object gave, besides the snapshot change.
enum Decoded {
    Kept,
    /// Kept, but read under another API version than it declares.
    KeptAs {
        declared: String,
        read_as: &'static str,
    },
}

struct Reader<'o> {
    options: &'o ReadOptions,
    outcome: ReadOutcome,
}

impl<'o> Reader<'o> {
    fn new(options: &'o ReadOptions) -> Self {
        Reader {
            options,
            outcome: ReadOutcome::default(),
        }
    }

    fn finish(mut self) -> ReadOutcome {
        self.outcome.snapshot.normalize();
        self.outcome
    }

    fn warn(&mut self, file: &Path, line: usize, message: String) -> Result<(), SnapshotError> {
        let warning = ReadWarning {
            file: file.to_path_buf(),
            line,
            message,
        };
        if self.options.strict {
            return Err(SnapshotError::Strict(warning));
        }
        self.outcome.warnings.push(warning);
        Ok(())
    }

    fn read_path(
        &mut self,
        path: &Path,
        named: bool,
        visited: &mut BTreeSet<PathBuf>,
    ) -> Result<(), SnapshotError> {
        let io_error = |source| SnapshotError::Io {
            path: path.to_path_buf(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(io_error)?;
        if metadata.is_dir() {
            // Symlinked folders could loop; each real folder is read once.
            let real = std::fs::canonicalize(path).map_err(io_error)?;
            if !visited.insert(real) {
                return Ok(());
            }
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io_error)? {
                let entry = entry.map_err(io_error)?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden {
                    entries.push(entry.path());
                }
            }
            entries.sort();
            for entry in entries {
                self.read_path(&entry, false, visited)?;
            }
            return Ok(());
        }
        if !named && !has_manifest_extension(path) {
            return Ok(());
        }
        if metadata.len() > self.options.max_file_bytes {
            return self.warn(
                path,
                1,
                format!(
                    "file is {} bytes, over the limit of {} bytes; not read",
                    metadata.len(),
                    self.options.max_file_bytes
                ),
            );
        }
        let bytes = std::fs::read(path).map_err(io_error)?;
        self.read_file_bytes(path, &bytes)
    }

    fn read_file_bytes(&mut self, file: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.outcome.files += 1;
        if bytes.len() as u64 > self.options.max_file_bytes {
            return self.warn(
                file,
                1,
                format!(
                    "input is over the limit of {} bytes; not read",
                    self.options.max_file_bytes
                ),
            );
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                return self.warn(
                    file,
                    line,
                    format!(
                        "not UTF-8 text (invalid byte at offset {}); file skipped",
                        e.valid_up_to()
                    ),
                );
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if is_json(file) {
            if !is_blank(text) {
                self.read_document::<Json>(file, 1, text)?;
            }
            return Ok(());
        }
        for (start_line, document) in split_documents(text) {
            if !is_blank(document) {
                self.read_document::<Yaml>(file, start_line, document)?;
            }
        }
        Ok(())
    }

    fn read_document<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
    ) -> Result<(), SnapshotError> {
        self.outcome.documents += 1;
        if text.len() > self.options.max_document_bytes {
            return self.warn(
                file,
                start_line,
                format!(
                    "document is {} bytes, over the limit of {} bytes; skipped",
                    text.len(),
                    self.options.max_document_bytes
                ),
            );
        }
        if F::NEEDS_NESTING_CHECK
            && let Some(line) = excessive_flow_nesting(text, MAX_FLOW_NESTING)
        {
            return self.warn(
                    file,
                    start_line + line - 1,
                    format!("flow collections nested deeper than {MAX_FLOW_NESTING} levels; document skipped"),
                );
        }
        let type_meta = match probe_type_meta(text) {
            Some(meta) => Ok(meta),
            None => F::from_text::<TypeMeta>(text),
        };
        let (kind, api_version) = match type_meta {
            Ok(TypeMeta {
                kind: Some(kind),
                api_version,
            }) if !kind.trim().is_empty() => (kind, api_version),
            Ok(_) => {
                return self.warn(
                    file,
                    start_line,
                    "document has no `kind`; not a Kubernetes object".to_owned(),
                );
            }
            Err(e) => {
                let line = absolute_line(start_line, e.line);
                let message = format!(
                    "not a Kubernetes object: {}",
                    rebase_lines(&e.message, start_line)
                );
                return self.warn(file, line, message);
            }
        };
        if is_list_kind(&kind) {
            return self.read_list::<F>(file, start_line, text, &kind);
        }
        match self.decode_kind::<F>(&kind, api_version.as_deref(), Input::Text(text)) {
            Ok(decoded) => self.note_decoded(file, start_line, &kind, decoded),
            Err(e) => {
                let line = absolute_line(start_line, e.line);
                let message = format!("{kind}: {}", rebase_lines(&e.message, start_line));
                self.warn(file, line, message)
            }
        }
    }

    fn read_list<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
        kind: &str,
    ) -> Result<(), SnapshotError> {
        // `DeploymentList` items may omit their kind.
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let mut index = 0;
        let mut stopped = None;
        let mut on_item = |item: F::Value| {
            let result = self.read_list_item::<F>(file, start_line, index, item, item_kind);
            index += 1;
            result
        };
        let parsed = F::from_text_seed(
            text,
            ListItems {
                on_item: &mut on_item,
                stopped: &mut stopped,
                item: PhantomData,
            },
        );
        if let Some(error) = stopped {
            return Err(error);
        }
        match parsed {
            Ok(()) => Ok(()),
            Err(e) => {
                let line = absolute_line(start_line, e.line);
                let message = format!("{kind}: {}", rebase_lines(&e.message, start_line));
                self.warn(file, line, message)
            }
        }
    }

    fn read_list_item<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        index: usize,
        item: F::Value,
        item_kind: Option<&str>,
    ) -> Result<(), SnapshotError> {
        self.outcome.documents += 1;
        let kind = F::str_field(&item, "kind").or(item_kind).map(str::to_owned);
        let Some(kind) = kind else {
            return self.warn(
                file,
                start_line,
                format!("item {index} of the List has no `kind`"),
            );
        };
        let api_version = F::str_field(&item, "apiVersion").map(str::to_owned);
        match self.decode_kind::<F>(&kind, api_version.as_deref(), Input::Value(item)) {
            Ok(decoded) => self.note_decoded(file, start_line, &kind, decoded),
            Err(e) => self.warn(
                file,
                start_line,
                format!("item {index} of the List ({kind}): {}", e.message),
            ),
        }
    }

    fn note_decoded(
        &mut self,
        file: &Path,
        line: usize,
        kind: &str,
        decoded: Decoded,
    ) -> Result<(), SnapshotError> {
        match decoded {
            Decoded::Kept => Ok(()),
            Decoded::KeptAs { declared, read_as } => self.warn(
                file,
                line,
                format!(
                    "{kind} {declared} was read as {read_as}; fields that differ between the \
                     versions are missed"
                ),
            ),
        }
    }

    /// Decodes one object of `kind` into the snapshot, or counts it as skipped.
    fn decode_kind<F: Format>(
        &mut self,
        kind: &str,
        api_version: Option<&str>,
        input: Input<'_, F::Value>,
    ) -> Result<Decoded, DocError> {
        let group = api_version
            .and_then(|v| v.rsplit_once('/'))
            .map_or("", |(group, _)| group);
        match kind {
            "Deployment" => self.keep_typed::<F, Deployment>(api_version, input),
            "StatefulSet" => self.keep_typed::<F, StatefulSet>(api_version, input),
            "DaemonSet" => self.keep_typed::<F, DaemonSet>(api_version, input),
            "Job" => self.keep_typed::<F, Job>(api_version, input),
            "CronJob" => self.keep_typed::<F, CronJob>(api_version, input),
            "Pod" => self.keep_typed::<F, Pod>(api_version, input),
            "Service" => self.keep_typed::<F, Service>(api_version, input),
            "EndpointSlice" => self.keep_typed::<F, EndpointSlice>(api_version, input),
            "Ingress" => self.keep_typed::<F, Ingress>(api_version, input),
            "ConfigMap" => self.keep_typed::<F, ConfigMap>(api_version, input),
            "NetworkPolicy" => self.keep_typed::<F, NetworkPolicy>(api_version, input),
            "HorizontalPodAutoscaler" => {
                self.keep_typed::<F, HorizontalPodAutoscaler>(api_version, input)
            }
            "PodDisruptionBudget" => self.keep_typed::<F, PodDisruptionBudget>(api_version, input),
            "VirtualService" if group == "networking.istio.io" => {
                self.keep_custom::<F, VirtualService>(input)
            }
            "DestinationRule" if group == "networking.istio.io" => {
                self.keep_custom::<F, DestinationRule>(input)
            }
            "HTTPRoute" if group == "gateway.networking.k8s.io" => {
                self.keep_custom::<F, HttpRoute>(input)
            }
            "Namespace" => {
                let namespace: NamespaceDocument = decode::<F, _>(input)?;
                if let Some(name) = namespace.metadata.name {
                    self.outcome.snapshot.add_namespace(name);
                }
                self.outcome.snapshot.skip(kind);
                Ok(Decoded::Kept)
            }
            // Secrets (never decoded, so their content is never held) and kinds the map does not
            // read are counted and skipped.
            _ => {
                self.outcome.snapshot.skip(kind);
                Ok(Decoded::Kept)
            }
        }
    }

    fn keep_typed<F, T>(
        &mut self,
        api_version: Option<&str>,
        input: Input<'_, F::Value>,
    ) -> Result<Decoded, DocError>
    where
        F: Format,
        T: k8s_openapi::Resource + DeserializeOwned + Into<KubeObject>,
    {
        // k8s-openapi refuses another apiVersion than its own; an older version of the same
        // kind (extensions/v1beta1 Ingress, policy/v1beta1 PDB...) is read without it.
        let (object, decoded) = match api_version {
            Some(declared) if declared != T::API_VERSION => {
                let mut value: F::Value = match input {
                    Input::Text(text) => F::from_text(text)?,
                    Input::Value(value) => value,
                };
                F::remove_field(&mut value, "apiVersion");
                let object: T = F::from_value(value)?;
                let decoded = Decoded::KeptAs {
                    declared: declared.to_owned(),
                    read_as: T::API_VERSION,
                };
                (object, decoded)
            }
            _ => (decode::<F, T>(input)?, Decoded::Kept),
        };
        let namespace = self.options.default_namespace.clone();
        self.outcome.snapshot.add(object, &namespace);
        Ok(decoded)
    }

    fn keep_custom<F, T>(&mut self, input: Input<'_, F::Value>) -> Result<Decoded, DocError>
    where
        F: Format,
        T: DeserializeOwned + Into<KubeObject>,
    {
        let object: T = decode::<F, T>(input)?;
        let namespace = self.options.default_namespace.clone();
        self.outcome.snapshot.add(object, &namespace);
        Ok(Decoded::Kept)
    }
}

fn decode<F: Format, T: DeserializeOwned>(input: Input<'_, F::Value>) -> Result<T, DocError> {
    match input {
        Input::Text(text) => F::from_text(text),
        Input::Value(value) => F::from_value(value),
    }
}

/// Deeper flow nesting than serde_yaml's recursion limit could never deserialize anyway.
const MAX_FLOW_NESTING: usize = 128;

/// libyaml's scanner takes time quadratic in the depth of flow collections (`[[[[...`), so a few
/// hundred kilobytes of brackets would take minutes. This linear pre-scan finds such nesting
/// and returns the 1-based line where it goes past `limit`. It follows YAML closely enough for
/// manifests: brackets count where a value starts or inside flow collections, not inside quoted
/// or block scalars, nor in comments.
fn excessive_flow_nesting(document: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    // Indentation of the line that opened a block scalar (`|` or `>`): deeper lines are text.
    let mut block_scalar_indent: Option<usize> = None;
    for (index, line) in document.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar_indent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar_indent = None;
        }
        let mut value_start = quote.is_none();
        let mut after_space = true;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                match (q, c) {
                    ('\'', '\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    ('"', '\\') => {
                        chars.next();
                    }
                    (q, c) if q == c => quote = None,
                    _ => {}
                }
                continue;
            }
            let next_is_space = chars.peek().is_none_or(|n| n.is_whitespace());
            match c {
                ' ' | '\t' => {
                    after_space = true;
                    continue;
                }
                '#' if after_space => break,
                '[' | '{' if value_start || depth > 0 => {
                    depth += 1;
                    if depth > limit {
                        return Some(index + 1);
                    }
                    value_start = true;
                }
                ']' | '}' if depth > 0 => {
                    depth -= 1;
                    value_start = false;
                }
                ',' if depth > 0 => value_start = true,
                '"' | '\'' if value_start => {
                    quote = Some(c);
                    value_start = false;
                }
                ':' => value_start = next_is_space || depth > 0,
                '-' | '?' if value_start && next_is_space => value_start = true,
                '|' | '>' if value_start && depth == 0 => {
                    block_scalar_indent = Some(indent);
                    break;
                }
                _ => value_start = false,
            }
            after_space = false;
        }
    }
    None
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

fn absolute_line(start_line: usize, line_in_document: Option<usize>) -> usize {
    match line_in_document {
        Some(line) if line > 0 => start_line + line - 1,
        _ => start_line,
    }
}

/// Rewrites every `line N` in a parser message to a line of the file.
fn rebase_lines(message: &str, start_line: usize) -> String {
    const MARKER: &str = "line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARKER) {
        let (before, after) = rest.split_at(at + MARKER.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = after.split_at(digits);
        match number.parse::<usize>() {
            Ok(n) if n > 0 => out.push_str(&(start_line + n - 1).to_string()),
            _ => out.push_str(number),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Whether a line is a document marker: `---` or `...`, alone or followed by a space.
fn marker_rest<'l>(line: &'l str, marker: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some(rest)
}

/// Splits multi-document YAML at `---` lines (which start the next document) and after `...`
/// lines (which end one). Returns each document with the 1-based line it starts on.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        if marker_rest(line, "---").is_some() && offset > start {
            documents.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
        if marker_rest(line, "...").is_some() {
            documents.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number + 1;
        }
    }
    if offset > start {
        documents.push((start_line, &text[start..offset]));
    }
    documents
}

/// Whether a document holds nothing but blank lines, comments, markers and directives.
fn is_blank(document: &str) -> bool {
    document.lines().all(|line| {
        let line = marker_rest(line, "---")
            .or_else(|| marker_rest(line, "..."))
            .unwrap_or(line)
            .trim();
        line.is_empty() || line.starts_with('#') || line.starts_with('%')
    })
}

/// Finds `kind:` and `apiVersion:` as top-level keys at the start of a line, the way nearly every
/// manifest is written, so that the document is parsed once instead of twice. Returns None when
/// the document is written another way (flow style, quoted keys): the caller then asks serde.
fn probe_type_meta(document: &str) -> Option<TypeMeta> {
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
fn plain_scalar(value: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> ReadOutcome {
        read_str(text, Path::new("test.yaml"), &ReadOptions::default())
            .expect("non-strict reading never fails")
    }

    #[test]
    fn splits_documents_with_their_start_lines() {
        let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\nd: 4\n";
        let docs = split_documents(text);
        let starts: Vec<usize> = docs.iter().map(|(line, _)| *line).collect();
        assert_eq!(starts, vec![1, 2, 4, 7]);
        assert_eq!(docs[0].1, "a: 1\n");
        assert_eq!(docs[3].1, "d: 4\n");
        // `----` and `---x` are not markers.
        assert_eq!(split_documents("a: |\n  x\n----\n").len(), 1);
    }

    #[test]
    fn probes_kind_and_api_version_from_top_level_lines() {
        let meta = probe_type_meta("apiVersion: apps/v1\nkind: \"Deployment\" # c\nspec: {}\n")
            .expect("kind found");
        assert_eq!(meta.kind.as_deref(), Some("Deployment"));
        assert_eq!(meta.api_version.as_deref(), Some("apps/v1"));
        assert!(probe_type_meta("{\"kind\": \"Service\"}").is_none());
        assert!(probe_type_meta("metadata:\n  kind: x\n").is_none());
    }

    #[test]
    fn flow_nesting_prescan_counts_only_real_flow_collections() {
        let deep = format!("a: {}", "[".repeat(200));
        assert_eq!(excessive_flow_nesting(&deep, 128), Some(1));
        let nested_ok = format!("a: {}x{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(excessive_flow_nesting(&nested_ok, 128), None);
        // Brackets in plain, quoted and block scalars, and comments, are text.
        let texts = format!(
            "a: x{b}\nb: '{b}'\nc: \"{b}\"\nd: |\n  {b}\n  {b}\ne: 1 # {b}\n",
            b = "[".repeat(200)
        );
        assert_eq!(excessive_flow_nesting(&texts, 128), None);
        let late = format!("a: 1\nb:\n  - {}\n", "{".repeat(129));
        assert_eq!(excessive_flow_nesting(&late, 128), Some(3));
    }

    #[test]
    fn rebases_parser_lines() {
        assert_eq!(
            rebase_lines(
                "bad at line 3 column 2, while parsing at line 1 column 1",
                10
            ),
            "bad at line 12 column 2, while parsing at line 10 column 1"
        );
    }

    #[test]
    fn bad_document_is_reported_with_its_file_line_and_the_rest_is_read() {
        let text = "\
apiVersion: v1
kind: Service
metadata: {name: a}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: three
---
apiVersion: v1
kind: Service
metadata: {name: b}
";
        let outcome = read(text);
        let names: Vec<&str> = outcome
            .snapshot
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
        let warning = &outcome.warnings[0];
        assert_eq!(warning.line, 10, "{warning}");
        assert!(warning.message.contains("Deployment"), "{warning}");
        assert!(
            warning.to_string().starts_with("test.yaml:10: "),
            "{warning}"
        );
    }

    #[test]
    fn strict_makes_the_first_warning_fatal() {
        let options = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        let err = read_str(
            "kind: Service\nmetadata: [\n",
            Path::new("x.yaml"),
            &options,
        )
        .expect_err("strict fails");
        assert!(
            matches!(err, SnapshotError::Strict(ref w) if w.line >= 1),
            "{err}"
        );
        assert!(err.to_string().contains("x.yaml"), "{err}");
    }

    #[test]
    fn namespaces_default_and_can_be_overridden() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
                    apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: shop}\n";
        let outcome = read(text);
        let ids: Vec<(&str, &str)> = outcome
            .snapshot
            .services
            .iter()
            .map(|s| (s.namespace.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(ids, vec![("default", "a"), ("shop", "b")]);
        let options = ReadOptions {
            default_namespace: "team".to_owned(),
            ..ReadOptions::default()
        };
        let outcome = read_str(text, Path::new("t.yaml"), &options).expect("reads");
        assert_eq!(outcome.snapshot.services[1].namespace, "team");
    }

    #[test]
    fn lists_json_and_unknown_kinds() {
        let list = "apiVersion: v1\nkind: List\nitems:\n\
                    - {apiVersion: v1, kind: Service, metadata: {name: a}}\n\
                    - {apiVersion: v1, kind: ServiceAccount, metadata: {name: sa}}\n\
                    - {apiVersion: v1, kind: Secret, metadata: {name: s}, data: {k: dg==}}\n";
        let outcome = read(list);
        assert_eq!(outcome.snapshot.services.len(), 1);
        assert_eq!(outcome.snapshot.skipped.get("ServiceAccount"), Some(&1));
        assert_eq!(outcome.snapshot.skipped.get("Secret"), Some(&1));
        assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);

        let json = r#"{"apiVersion":"v1","kind":"ConfigMapList","items":[
            {"metadata":{"name":"cm","namespace":"x"},"data":{"A":"b:1"}}]}"#;
        let outcome = read_str(json, Path::new("l.json"), &ReadOptions::default()).expect("reads");
        assert_eq!(outcome.snapshot.config_maps.len(), 1);
        assert_eq!(outcome.snapshot.config_maps[0].namespace, "x");
    }

    #[test]
    fn older_api_versions_are_read_with_a_warning() {
        let text = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\n\
                    metadata: {name: p}\nspec: {minAvailable: 1, selector: {matchLabels: {a: b}}}\n";
        let outcome = read(text);
        assert_eq!(outcome.snapshot.pdbs.len(), 1);
        assert_eq!(outcome.warnings.len(), 1);
        assert!(outcome.warnings[0].message.contains("policy/v1beta1"));
    }

    #[test]
    fn controlled_pods_are_skipped_and_bare_pods_kept() {
        let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: owned
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u, controller: true}]
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare}
spec: {containers: [{name: c, image: i}]}
";
        let outcome = read(text);
        let names: Vec<&str> = outcome
            .snapshot
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        assert_eq!(names, vec!["bare"]);
        assert_eq!(
            outcome.snapshot.skipped.get("Pod (owned by a controller)"),
            Some(&1)
        );
    }

    #[test]
    fn empty_documents_and_comments_are_skipped() {
        let outcome = read("---\n# only a comment\n---\n\n---\n");
        assert_eq!(outcome.documents, 0);
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn documents_without_a_kind_are_warnings() {
        let outcome = read("apiVersion: v1\nmetadata: {name: a}\n---\nkind: ''\n---\n- a list\n");
        let lines: Vec<usize> = outcome.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![1, 3, 6], "{:?}", outcome.warnings);
        assert!(outcome.snapshot.skipped.is_empty());
    }

    fn service(name: &str) -> String {
        format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"n"}},"spec":{{"ports":[{{"port":80}}]}}}}"#
        )
    }

    #[test]
    fn json_list_is_read_item_by_item_and_a_bad_item_loses_only_itself() {
        let text = format!(
            r#"{{"kind":"List","metadata":{{}},"items":[{},{{"apiVersion":"v1","kind":"Service","spec":"oops"}},{}]}}"#,
            service("a"),
            service("b")
        );
        let outcome = read_str(&text, Path::new("l.json"), &ReadOptions::default()).expect("reads");
        assert_eq!(outcome.snapshot.services.len(), 2);
        assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
        assert!(
            outcome.warnings[0]
                .message
                .starts_with("item 1 of the List (Service)"),
            "{}",
            outcome.warnings[0].message
        );
    }

    #[test]
    fn truncated_list_is_one_warning_with_its_cause() {
        let text = format!(
            r#"{{"kind":"List","items":[{},{},{{"kind":"Serv"#,
            service("a"),
            service("b")
        );
        let outcome = read_str(&text, Path::new("l.json"), &ReadOptions::default()).expect("reads");
        // Not valid JSON: its kind cannot be trusted, so nothing of it is read.
        assert_eq!(outcome.snapshot.services.len(), 0);
        assert_eq!(outcome.warnings.len(), 1);
        assert!(
            outcome.warnings[0].message.contains("EOF"),
            "{}",
            outcome.warnings[0].message
        );
        let strict = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        assert!(read_str(&text, Path::new("l.json"), &strict).is_err());
    }

    #[test]
    fn yaml_list_with_null_items_is_empty() {
        let outcome = read("apiVersion: v1\nkind: List\nitems:\n");
        assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
        assert_eq!(outcome.documents, 1);
    }
}
