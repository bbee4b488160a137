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
//!
//! The parts: [`format`] (YAML or JSON, and what is read before the kind is known), [`documents`]
//! (splitting multi-document YAML, lines of the file), [`list`] (a `kind: List` item by item),
//! [`block_items`] and [`list_parts`] (a block-style YAML List parsed a part at a time),
//! [`limits`] (bounds against hostile input), [`parallel`] (a large List's parts read on all
//! cores, joined in order) and [`reader`] (documents into the snapshot).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DEFAULT_NAMESPACE, ReadWarning, Snapshot, SnapshotError};

mod block_items;
mod documents;
mod format;
mod limits;
mod list;
mod list_parts;
mod parallel;
mod reader;

use reader::Reader;

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

#[cfg(test)]
mod tests;
