//! Benchmark: building the service map of synthetic clusters, against merely parsing the same
//! YAML with serde. Run with `cargo bench --bench servicemap` (release profile); pass object
//! counts as arguments to choose the sizes (default: 1000 10000 50000 100000).
//!
//! Phases, each timed (best of 3) with the process' peak RSS during it (VmHWM, reset through
//! /proc/self/clear_refs before each phase):
//! - `serde`: every document into a `serde_yaml::Value`, the plain serde parse;
//! - `read`: the file reader, YAML → typed k8s-openapi objects → pruned snapshot;
//! - `build`: snapshot → service map.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use smart_chaos::servicemap;
use smart_chaos::snapshot::{ReadOptions, files, synthetic};

const SEED: u64 = 42;
const RUNS: usize = 3;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the peak RSS to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}

struct Phase {
    best: Duration,
    peak_mib: f64,
    rss_before_mib: f64,
}

/// Runs `work` RUNS times; the peak is that of the first run (later runs reuse freed memory).
fn measure<T>(mut work: impl FnMut() -> T) -> (Phase, T) {
    reset_peak();
    let rss_before_mib = mib(status_kib("VmRSS:"));
    let start = Instant::now();
    let mut result = work();
    let mut best = start.elapsed();
    let peak_mib = mib(status_kib("VmHWM:"));
    for _ in 1..RUNS {
        drop(result);
        let start = Instant::now();
        result = work();
        best = best.min(start.elapsed());
    }
    (
        Phase {
            best,
            peak_mib,
            rss_before_mib,
        },
        result,
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 50_000, 100_000]
    } else {
        sizes
    };
    println!(
        "{:>8} {:>8} {:>7} {:>7} | {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>10} {:>10} {:>10}",
        "objects",
        "yaml MB",
        "nodes",
        "edges",
        "serde ms",
        "read ms",
        "build ms",
        "build/serde",
        "build/read",
        "serde MiB",
        "read MiB",
        "build MiB"
    );
    for objects in sizes {
        let yaml = synthetic::generate(objects, SEED)?;
        let yaml_mb = yaml.len() as f64 / 1e6;

        let (serde_phase, documents) = measure(|| {
            serde_yaml::Deserializer::from_str(&yaml)
                .map(serde::Deserialize::deserialize)
                .collect::<Result<Vec<serde_yaml::Value>, _>>()
        });
        let documents = documents?;
        let document_count = documents.len();
        drop(documents);

        let options = ReadOptions::default();
        let (read_phase, outcome) =
            measure(|| files::read_str(&yaml, Path::new("synthetic.yaml"), &options));
        let outcome = outcome?;
        if !outcome.warnings.is_empty() {
            return Err(format!("synthetic input gave warnings: {:?}", outcome.warnings).into());
        }
        drop(yaml);
        let snapshot = outcome.snapshot;

        let (build_phase, map) = measure(|| servicemap::build(&snapshot));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:>8} {:>8.1} {:>7} {:>7} | {:>9.1} {:>9.1} {:>9.1} | {:>11.3} {:>10.3} | {:>10.1} {:>10.1} {:>10.1}",
            document_count,
            yaml_mb,
            map.nodes.len(),
            map.edges.len(),
            ms(serde_phase.best),
            ms(read_phase.best),
            ms(build_phase.best),
            build_phase.best.as_secs_f64() / serde_phase.best.as_secs_f64(),
            build_phase.best.as_secs_f64() / read_phase.best.as_secs_f64(),
            serde_phase.peak_mib,
            read_phase.peak_mib,
            build_phase.peak_mib,
        );
        eprintln!(
            "  ({objects} objects: RSS before serde {:.1} MiB, before read {:.1} MiB, before build {:.1} MiB)",
            serde_phase.rss_before_mib, read_phase.rss_before_mib, build_phase.rss_before_mib
        );
    }
    println!("MiB columns: peak RSS of the whole process during the phase (VmHWM).");
    Ok(())
}
