//! Benchmark: building the service map of synthetic clusters, against merely parsing the same
//! YAML with serde. Run with `cargo bench --bench servicemap` (release profile); pass object
//! counts as arguments to choose the sizes (default: 1000 10000 50000 100000).
//!
//! Phases, each timed (best of 3) in its own child process so that memory one phase's allocator
//! keeps does not count against the next:
//! - `serde`: every document into a `serde_yaml::Value`, the plain serde parse;
//! - `read`: the file reader, YAML → typed k8s-openapi objects → pruned snapshot;
//! - `build`: snapshot → service map (the child reads the snapshot first, untimed).
//!
//! Memory: the process' peak RSS during the phase (VmHWM, reset through /proc/self/clear_refs
//! just before it) and the RSS just before it, so the phase's own growth is the difference.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use smart_chaos::servicemap;
use smart_chaos::snapshot::{ReadOptions, files, synthetic};

const SEED: u64 = 42;
const RUNS: usize = 3;
const PHASES: [&str; 3] = ["serde", "read", "build"];

/// A field of /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    let kib: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    kib as f64 / 1024.0
}

/// What one phase measured.
struct Measured {
    best: Duration,
    peak_mib: f64,
    before_mib: f64,
    /// Documents, nodes, edges: whatever the phase counts.
    count: usize,
}

/// Runs `work` RUNS times; the peak is that of the first run (later runs reuse freed memory).
fn measure(
    mut work: impl FnMut() -> Result<usize, Box<dyn Error>>,
) -> Result<Measured, Box<dyn Error>> {
    // Resets the peak RSS to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before_mib = status_mib("VmRSS:");
    let start = Instant::now();
    let count = work()?;
    let mut best = start.elapsed();
    let peak_mib = status_mib("VmHWM:");
    for _ in 1..RUNS {
        let start = Instant::now();
        work()?;
        best = best.min(start.elapsed());
    }
    Ok(Measured {
        best,
        peak_mib,
        before_mib,
        count,
    })
}

/// One phase on `objects` objects, in this process; prints one machine-readable line.
fn run_phase(phase: &str, objects: usize) -> Result<(), Box<dyn Error>> {
    let yaml = synthetic::generate(objects, SEED)?;
    let yaml_bytes = yaml.len();
    let options = ReadOptions::default();
    let read = |yaml: &str| -> Result<files::ReadOutcome, Box<dyn Error>> {
        let outcome = files::read_str(yaml, Path::new("synthetic.yaml"), &options)?;
        if outcome.warnings.is_empty() {
            Ok(outcome)
        } else {
            Err(format!("synthetic input gave warnings: {:?}", outcome.warnings).into())
        }
    };
    let (measured, extra) = match phase {
        "serde" => {
            let measured = measure(|| {
                let documents = serde_yaml::Deserializer::from_str(&yaml)
                    .map(serde::Deserialize::deserialize)
                    .collect::<Result<Vec<serde_yaml::Value>, _>>()?;
                Ok(documents.len())
            })?;
            (measured, 0)
        }
        "read" => {
            let measured = measure(|| Ok(read(&yaml)?.snapshot.len()))?;
            (measured, 0)
        }
        "build" => {
            let snapshot = read(&yaml)?.snapshot;
            drop(yaml);
            let mut edges = 0;
            let measured = measure(|| {
                let map = servicemap::build(&snapshot);
                edges = map.edges.len();
                Ok(map.nodes.len())
            })?;
            (measured, edges)
        }
        other => return Err(format!("unknown phase {other}").into()),
    };
    println!(
        "RESULT {} {} {} {} {} {}",
        measured.best.as_secs_f64(),
        measured.peak_mib,
        measured.before_mib,
        measured.count,
        extra,
        yaml_bytes
    );
    Ok(())
}

/// Runs one phase in a child process and parses its result line.
fn child(phase: &str, objects: usize) -> Result<Vec<f64>, Box<dyn Error>> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--phase", phase, &objects.to_string()])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "phase {phase} on {objects} objects failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or("no RESULT line")?;
    Ok(line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<f64>, _>>()?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if let Some(at) = args.iter().position(|a| a == "--phase") {
        let phase = args.get(at + 1).ok_or("--phase needs a name")?;
        let objects = *sizes.first().ok_or("--phase needs an object count")?;
        return run_phase(phase, objects);
    }
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 50_000, 100_000]
    } else {
        sizes
    };
    println!(
        "{:>8} {:>8} {:>7} {:>7} | {:>8} {:>8} {:>8} | {:>11} {:>10} | {:>15} {:>15} {:>15}",
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
        let mut results = Vec::new();
        for phase in PHASES {
            results.push(child(phase, objects)?);
        }
        let [serde, read, build] = [&results[0], &results[1], &results[2]];
        let field = |r: &Vec<f64>, i: usize| r.get(i).copied().unwrap_or(f64::NAN);
        let memory =
            |r: &Vec<f64>| format!("{:.0} (+{:.0})", field(r, 1), field(r, 1) - field(r, 2));
        println!(
            "{:>8} {:>8.1} {:>7} {:>7} | {:>8.1} {:>8.1} {:>8.1} | {:>11.3} {:>10.3} | {:>15} {:>15} {:>15}",
            field(serde, 3),
            field(serde, 5) / 1e6,
            field(build, 3),
            field(build, 4),
            field(serde, 0) * 1e3,
            field(read, 0) * 1e3,
            field(build, 0) * 1e3,
            field(build, 0) / field(serde, 0),
            field(build, 0) / field(read, 0),
            memory(serde),
            memory(read),
            memory(build),
        );
    }
    println!(
        "objects: YAML documents. MiB: peak RSS of the phase's process (+ growth during the phase)."
    );
    println!(
        "build: the map from the snapshot; read: YAML -> typed objects -> snapshot; serde: YAML -> serde_yaml::Value."
    );
    Ok(())
}
