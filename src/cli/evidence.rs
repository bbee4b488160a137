//! Runtime evidence given on the command line (`--traces`), read and attached to the map. A file
//! that cannot be read is a warning: the map from the manifests, and every other file, stand.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::servicemap::{Matching, ServiceMap, attach};
use crate::traffic::traces::{self, ReadLimits};

/// Reads the trace files under `paths` and adds the calls they show to `map`, reporting on
/// stderr what was read, what matched nothing and which files could not be read.
pub fn attach_traces(map: &mut ServiceMap, paths: &[PathBuf]) -> anyhow::Result<()> {
    let outcome = traces::read_paths(paths, ReadLimits::default());
    let mut stderr = std::io::stderr().lock();
    for error in outcome.errors() {
        writeln!(
            stderr,
            "warning: {error} (calls read before it are kept; the map stands without the rest)"
        )
        .context("writing to stderr")?;
    }
    let calls: Vec<_> = outcome
        .calls()
        .cloned()
        .map(|call| call.into_named_call())
        .collect();
    let observed = calls.len();
    let report = attach(map, calls, Matching::Exact);
    writeln!(
        stderr,
        "read {} spans from {} trace files: {observed} observed caller/callee pairs, {} attached \
         ({} new edges), {} unmatched",
        outcome.spans(),
        outcome.files.len(),
        report.attached,
        report.new_edges,
        report.unmatched_calls
    )
    .context("writing to stderr")?;
    for name in &map.unmatched {
        writeln!(
            stderr,
            "unmatched {} {}: {} ({} calls, {})",
            name.end, name.name, name.reason, name.calls, name.origin
        )
        .context("writing to stderr")?;
    }
    Ok(())
}
