//! Documents into the snapshot: each file split, each document decoded by its kind, warnings
//! where a document cannot be read.

use std::collections::BTreeSet;
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
use serde::de::DeserializeOwned;

use super::super::mesh::{DestinationRule, HttpRoute, VirtualService};
use super::super::{KubeObject, ReadWarning, SnapshotError};
use super::{ReadOptions, ReadOutcome};
use super::{documents::*, format::*, limits::*, list::*};

/// Items of a List decoded together, on one core.
const ITEMS_PER_PART: usize = 256;

#[derive(Deserialize)]
pub(super) struct NamespaceDocument {
    #[serde(default)]
    metadata: NamespaceMeta,
}

#[derive(Deserialize, Default)]
pub(super) struct NamespaceMeta {
    #[serde(default)]
    name: Option<String>,
}

/// What decoding one object gave, besides the snapshot change.
pub(super) enum Decoded {
    Kept,
    /// Kept, but read under another API version than it declares.
    KeptAs {
        declared: String,
        read_as: &'static str,
    },
}

pub(super) struct Reader<'o> {
    options: &'o ReadOptions,
    outcome: ReadOutcome,
}

impl<'o> Reader<'o> {
    pub(super) fn new(options: &'o ReadOptions) -> Self {
        Reader {
            options,
            outcome: ReadOutcome::default(),
        }
    }

    pub(super) fn finish(mut self) -> ReadOutcome {
        self.outcome.snapshot.normalize();
        self.outcome
    }

    pub(super) fn options(&self) -> &'o ReadOptions {
        self.options
    }

    /// Adds what `part`, a reader of a later part of the input, read.
    pub(super) fn join(&mut self, part: Reader<'_>) {
        let part = part.outcome;
        self.outcome.snapshot.append(part.snapshot);
        self.outcome.warnings.extend(part.warnings);
        self.outcome.files += part.files;
        self.outcome.documents += part.documents;
    }

    pub(super) fn warn(
        &mut self,
        file: &Path,
        line: usize,
        message: String,
    ) -> Result<(), SnapshotError> {
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

    pub(super) fn read_path(
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

    pub(super) fn read_file_bytes(
        &mut self,
        file: &Path,
        bytes: &[u8],
    ) -> Result<(), SnapshotError> {
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

    pub(super) fn read_document<F: Format>(
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

    pub(super) fn read_list<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
        kind: &str,
    ) -> Result<(), SnapshotError> {
        if let Some(items) = F::block_items(text) {
            return self.read_list_parts::<F>(file, start_line, text, &items, kind);
        }
        // `DeploymentList` items may omit their kind.
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        // The parse finds the items; parts of them are decoded on the other cores meanwhile.
        let find_parts = |hand_over: &mut dyn FnMut(Vec<(usize, F::ListItem)>)| {
            let mut part = Vec::with_capacity(ITEMS_PER_PART);
            let mut index = 0;
            // Handing an item over cannot fail; the parts' readers report the items' problems.
            let mut stopped = None;
            let mut on_item = |item: F::ListItem| {
                part.push((index, item));
                index += 1;
                if part.len() == ITEMS_PER_PART {
                    hand_over(std::mem::replace(
                        &mut part,
                        Vec::with_capacity(ITEMS_PER_PART),
                    ));
                }
                Ok(())
            };
            let parsed = F::from_text_seed(
                text,
                ListItems {
                    on_item: &mut on_item,
                    stopped: &mut stopped,
                    item: PhantomData,
                },
            );
            if !part.is_empty() {
                hand_over(part);
            }
            parsed
        };
        let read_part = |reader: &mut Reader<'_>, part: Vec<(usize, F::ListItem)>| {
            for (index, item) in part {
                reader.read_list_item::<F>(file, start_line, index, item, item_kind)?;
            }
            Ok(())
        };
        let parsed = self.read_parts(text.len(), find_parts, read_part)?;
        match parsed {
            Ok(()) => Ok(()),
            Err(e) => {
                let line = absolute_line(start_line, e.line);
                let message = format!("{kind}: {}", rebase_lines(&e.message, start_line));
                self.warn(file, line, message)
            }
        }
    }

    pub(super) fn read_list_item<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        index: usize,
        item: F::ListItem,
        item_kind: Option<&str>,
    ) -> Result<(), SnapshotError> {
        self.outcome.documents += 1;
        F::open_list_item(item, |meta, input| {
            let Some(kind) = meta.kind.or_else(|| item_kind.map(str::to_owned)) else {
                return self.warn(
                    file,
                    start_line,
                    format!("item {index} of the List has no `kind`"),
                );
            };
            match self.decode_kind::<F>(&kind, meta.api_version.as_deref(), input) {
                Ok(decoded) => self.note_decoded(file, start_line, &kind, decoded),
                Err(e) => self.warn(
                    file,
                    start_line,
                    format!("item {index} of the List ({kind}): {}", e.message),
                ),
            }
        })
    }

    pub(super) fn note_decoded(
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
    pub(super) fn decode_kind<F: Format>(
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

    pub(super) fn keep_typed<F, T>(
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

    pub(super) fn keep_custom<F, T>(
        &mut self,
        input: Input<'_, F::Value>,
    ) -> Result<Decoded, DocError>
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
