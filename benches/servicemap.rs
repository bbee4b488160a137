//! Benchmark: building the service map of synthetic clusters, against merely parsing the same
//! YAML with serde. Run with `cargo bench --bench servicemap` (release profile); pass object
//! counts as arguments to choose the sizes (default: 1000 10000 50000 100000).
//!
//! Phases, each timed (best of 3) in its own child process so that memory one phase's allocator
//! keeps does not count against the next:
//! - `serde`: every document into a `serde_yaml::Value`, the plain serde parse;
//! - `read`: the file reader, YAML → typed k8s-openapi objects → pruned snapshot;
//! - `build`: snapshot → service map (the child reads the snapshot first, untimed);
//! - `offline`: the whole offline analysis from the YAML text: read, map, every stage, proposals,
//!   Chaos Mesh manifests and the rendered reports (everything `analyze -f` does but the writes).
//!
//! Then, whole processes on the same objects as one `kind: List` (the shape of `kubectl get -o
//! json`), as JSON and as YAML, written at run time to a temporary folder: `smart-chaos map -f
//! FILE -o json` against this binary merely parsing the same file into one value (`--parse
//! PARSER FILE`: serde_json; serde_yaml and serde-saphyr for YAML), each timed (best of 3) with
//! its peak RSS from GNU time, as ratios, and against the targets at 50,000 objects
//! (JSON under 0.8 s, YAML under 2 s, both under 200 MiB): PASS or FAIL.
//!
//! Memory: the process' peak RSS during the phase (VmHWM, reset through /proc/self/clear_refs
//! just before it) and the RSS just before it, so the phase's own growth is the difference.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use smart_chaos::analysis::{self, AnalysisConfig};
use smart_chaos::api::Guardrails;
use smart_chaos::snapshot::{ReadOptions, files, synthetic};
use smart_chaos::{report, servicemap};

const SEED: u64 = 42;
const RUNS: usize = 3;
const PHASES: [&str; 4] = ["serde", "read", "build", "offline"];

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
        "offline" => {
            // The whole offline analysis, as `smart-chaos analyze -f` runs it, minus the disk:
            // YAML -> snapshot -> map -> every stage -> proposals, manifests and rendered reports.
            let config = AnalysisConfig::from_guardrails(&Guardrails::default(), None)?;
            let mut experiments = 0;
            let measured = measure(|| {
                let snapshot = read(&yaml)?.snapshot;
                let map = servicemap::build(&snapshot);
                let result = analysis::analyze_builtin(&map, &config)?;
                let proposals = analysis::build_proposals(&result, "bench");
                let manifests = analysis::build_chaos_manifests(&result, "bench");
                let files = report::render_all(&map, &result, &proposals, &manifests)?;
                experiments = proposals.len();
                Ok(files.len())
            })?;
            (measured, experiments)
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

/// A `kind: List` holding the objects, typed so that the bench builds no JSON by hand.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectList {
    api_version: &'static str,
    kind: &'static str,
    items: Vec<serde_yaml::Value>,
}

/// Writes the synthetic objects as one List, in JSON and in YAML; returns both paths.
fn write_lists(objects: usize, dir: &Path) -> Result<[std::path::PathBuf; 2], Box<dyn Error>> {
    let yaml = synthetic::generate(objects, SEED)?;
    let items = serde_yaml::Deserializer::from_str(&yaml)
        .map(serde::Deserialize::deserialize)
        .collect::<Result<Vec<serde_yaml::Value>, _>>()?;
    let list = ObjectList {
        api_version: "v1",
        kind: "List",
        items,
    };
    let json = dir.join(format!("list-{objects}.json"));
    let yaml = dir.join(format!("list-{objects}.yaml"));
    std::fs::write(&json, serde_json::to_vec(&list)?)?;
    std::fs::write(&yaml, serde_yaml::to_string(&list)?)?;
    Ok([json, yaml])
}

/// The plain serde baselines: the whole file into one value, with serde_json, serde_yaml, or
/// serde-saphyr (the maintained YAML crate the input path could move to; it has no value type of
/// its own, so it builds a `serde_json::Value`).
fn parse_only(parser: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    let items = match parser {
        "serde_json" => {
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            value["items"].as_array().map_or(0, Vec::len)
        }
        "serde_yaml" => {
            let value: serde_yaml::Value = serde_yaml::from_slice(&bytes)?;
            value["items"].as_sequence().map_or(0, Vec::len)
        }
        "serde_saphyr" => {
            // Its default budgets are sized for configuration files; a List's events, nodes and
            // scalar bytes are bounded by its length.
            let mut budget = serde_saphyr::Budget::default();
            budget.max_events = budget.max_events.max(bytes.len());
            budget.max_nodes = budget.max_nodes.max(bytes.len());
            budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(bytes.len());
            let mut options = serde_saphyr::Options::default();
            options.budget = Some(budget);
            let value: serde_json::Value = serde_saphyr::from_slice_with_options(&bytes, options)?;
            value["items"].as_array().map_or(0, Vec::len)
        }
        other => return Err(format!("unknown parser {other}").into()),
    };
    println!("{items} items");
    Ok(())
}

/// Best wall time of RUNS runs and the largest peak RSS (MiB), from GNU time.
fn whole_process(program: &Path, args: &[&str]) -> Result<(f64, f64), Box<dyn Error>> {
    let mut best = f64::INFINITY;
    let mut peak: f64 = 0.0;
    for _ in 0..RUNS {
        let output = Command::new("/usr/bin/time")
            .args(["-f", "TIME %e %M"])
            .arg(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running /usr/bin/time (GNU time, Debian package `time`): {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("{} {args:?} failed: {stderr}", program.display()).into());
        }
        let line = stderr
            .lines()
            .find_map(|l| l.strip_prefix("TIME "))
            .ok_or("GNU time printed no TIME line")?;
        let mut fields = line.split_whitespace().map(str::parse::<f64>);
        let seconds = fields.next().ok_or("no time")??;
        let kib = fields.next().ok_or("no memory")??;
        best = best.min(seconds);
        peak = peak.max(kib / 1024.0);
    }
    Ok((best, peak))
}

/// The targets for `map` on the 50,000-object List: seconds and peak MiB, per format.
const LIST_TARGETS: [(&str, f64, f64); 2] = [("json", 0.8, 200.0), ("yaml", 2.0, 200.0)];

/// `map` on the objects as one List, JSON and YAML, against parsing the file alone with each
/// serde parser of that format.
fn list_table(objects: usize) -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("smart-chaos-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let files = write_lists(objects, &dir)?;
    let smart_chaos = Path::new(env!("CARGO_BIN_EXE_smart-chaos"));
    let this = std::env::current_exe()?;
    println!();
    println!(
        "{:>8} {:>5} {:>8} | {:>7} {:>8} | {:>12} {:>8} {:>9} | {:>7} {:>7} | {:>8} {:>6}",
        "objects",
        "list",
        "MB",
        "map s",
        "map MiB",
        "parser",
        "parse s",
        "parse MiB",
        "s ratio",
        "MiB ratio",
        "target",
        "result"
    );
    for file in &files {
        let path = file.to_str().ok_or("temp path is not UTF-8")?;
        let format = file.extension().and_then(|e| e.to_str()).unwrap_or("?");
        let (map_s, map_mib) = whole_process(smart_chaos, &["map", "-f", path, "-o", "json"])?;
        let parsers: &[&str] = if format == "json" {
            &["serde_json"]
        } else {
            &["serde_yaml", "serde_saphyr"]
        };
        let target = LIST_TARGETS.iter().find(|(f, ..)| *f == format);
        let verdict = match target {
            // The targets are for the 50,000-object List; other sizes are for the curve.
            Some(&(_, seconds, mib)) if objects == 50_000 => {
                let pass = map_s < seconds && map_mib < mib;
                (
                    format!("{seconds}s {mib:.0}M"),
                    if pass { "PASS" } else { "FAIL" },
                )
            }
            _ => (String::from("-"), "-"),
        };
        for parser in parsers {
            let (parse_s, parse_mib) = whole_process(&this, &["--parse", parser, path])?;
            println!(
                "{:>8} {:>5} {:>8.1} | {:>7.2} {:>8.0} | {:>12} {:>8.2} {:>9.0} | {:>7.2} {:>7.2} | {:>8} {:>6}",
                objects,
                format,
                std::fs::metadata(file)?.len() as f64 / 1e6,
                map_s,
                map_mib,
                parser,
                parse_s,
                parse_mib,
                map_s / parse_s,
                map_mib / parse_mib,
                verdict.0,
                verdict.1,
            );
        }
    }
    std::fs::remove_dir_all(&dir)?;
    println!(
        "List runs: whole processes, best of {RUNS} (MiB: the largest peak RSS); `map -f FILE -o json` \
         vs parsing the file into one value with each parser. ratio = map / parse."
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--parse") {
        let parser = args.get(at + 1).ok_or("--parse needs a parser")?;
        let path = args.get(at + 2).ok_or("--parse needs a file")?;
        return parse_only(parser, Path::new(path));
    }
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
        "{:>8} {:>8} {:>7} {:>7} | {:>8} {:>8} {:>8} | {:>11} {:>10} | {:>15} {:>15} {:>15} | {:>10} {:>13} {:>11}",
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
        "build MiB",
        "offline ms",
        "offline MiB",
        "experiments"
    );
    for &objects in &sizes {
        let mut results = Vec::new();
        for phase in PHASES {
            results.push(child(phase, objects)?);
        }
        let [serde, read, build, offline] = [&results[0], &results[1], &results[2], &results[3]];
        let field = |r: &Vec<f64>, i: usize| r.get(i).copied().unwrap_or(f64::NAN);
        let memory =
            |r: &Vec<f64>| format!("{:.0} (+{:.0})", field(r, 1), field(r, 1) - field(r, 2));
        println!(
            "{:>8} {:>8.1} {:>7} {:>7} | {:>8.1} {:>8.1} {:>8.1} | {:>11.3} {:>10.3} | {:>15} {:>15} {:>15} | {:>10.1} {:>13} {:>11}",
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
            field(offline, 0) * 1e3,
            memory(offline),
            field(offline, 4),
        );
    }
    println!(
        "objects: YAML documents. MiB: peak RSS of the phase's process (+ growth during the phase)."
    );
    println!(
        "build: the map from the snapshot; read: YAML -> typed objects -> snapshot; serde: YAML -> serde_yaml::Value."
    );
    for &objects in &sizes {
        list_table(objects)?;
    }
    Ok(())
}
