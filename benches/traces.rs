//! Benchmark: ingesting a trace file of 1,000,000 spans (OTLP JSON, one `{"resourceSpans":[...]}`
//! per line as the Collector's file exporter writes it), generated into a temporary folder, against
//! plainly parsing the same file with serde (`serde_json::Value` per line) and against building
//! the manifests-only map of the synthetic cluster the traces are about. Run with
//! `cargo bench --bench traces [SPANS]`.
//!
//! Each phase runs in its own child process; memory is the process' peak RSS (VmHWM).

use std::error::Error;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use smart_chaos::servicemap::{self, Matching, NodeKind, ServiceMap};
use smart_chaos::snapshot::{ReadOptions, files, synthetic};
use smart_chaos::traffic::traces::{self, ReadLimits, otlp};

const SEED: u64 = 42;
/// The synthetic cluster the traces are about.
const OBJECTS: usize = 10_000;
/// Traces per line of the file (a Collector batch).
const TRACES_PER_LINE: usize = 50;
/// Spans per trace: a server span, a client span, the callee's server span, its client span to a
/// data store.
const SPANS_PER_TRACE: usize = 4;
const PHASES: [&str; 4] = ["serde", "ingest", "map", "map+traces"];

fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn manifests_map() -> Result<ServiceMap, Box<dyn Error>> {
    let yaml = synthetic::generate(OBJECTS, SEED)?;
    let outcome = files::read_str(&yaml, Path::new("synthetic.yaml"), &ReadOptions::default())?;
    Ok(servicemap::build(&outcome.snapshot))
}

/// Writes `spans` spans of calls between workloads and Services of the synthetic map.
fn generate(path: &Path, spans: usize) -> Result<(), Box<dyn Error>> {
    let map = manifests_map()?;
    let services: Vec<(&str, &str)> = map
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Service)
        .filter_map(|n| {
            let backend = n.service.as_ref()?.backends.first()?;
            let workload = backend.as_str().rsplit('/').next()?;
            Some((n.namespace.as_str(), workload))
        })
        .collect();
    if services.len() < 3 {
        return Err("the synthetic map has too few Services".into());
    }
    let mut file = BufWriter::new(std::fs::File::create(path)?);
    let traces = spans / SPANS_PER_TRACE;
    let mut trace = 0usize;
    while trace < traces {
        let mut resource_spans = Vec::new();
        for _ in 0..TRACES_PER_LINE.min(traces - trace) {
            let (ns, caller) = services[trace % services.len()];
            let (_, callee) = services[(trace * 7 + 1) % services.len()];
            let (_, store) = services[(trace * 13 + 2) % services.len()];
            let id = |n: usize| format!("{:016x}", trace * 8 + n + 1);
            let trace_id = format!("{trace:032x}");
            let start = 1_700_000_000_000_000_000u64 + trace as u64 * 1_000_000;
            let span = |span_id: String,
                        parent: String,
                        kind: u64,
                        offset: u64,
                        peer: Option<&str>| {
                otlp::Span {
                    trace_id: trace_id.clone(),
                    span_id,
                    parent_span_id: parent,
                    name: "GET /".to_owned(),
                    kind,
                    start_time_unix_nano: start + offset,
                    end_time_unix_nano: start + offset + 2_000_000 + (trace as u64 % 97) * 10_000,
                    attributes: peer
                        .map(|p| vec![otlp::KeyValue::text("server.address", p)])
                        .unwrap_or_default(),
                    status: otlp::Status::default(),
                }
            };
            let resource = |name: &str| otlp::Resource {
                attributes: vec![
                    otlp::KeyValue::text("service.name", name),
                    otlp::KeyValue::text("k8s.namespace.name", ns),
                    otlp::KeyValue::text("k8s.deployment.name", name),
                    otlp::KeyValue::text("k8s.pod.name", &format!("{name}-7d9f8b6c5d-x2x9k")),
                ],
            };
            resource_spans.push(otlp::ResourceSpans {
                resource: resource(caller),
                scope_spans: vec![otlp::ScopeSpans {
                    spans: vec![
                        span(id(0), String::new(), 2, 0, None),
                        span(id(1), id(0), 3, 100_000, None),
                    ],
                }],
            });
            resource_spans.push(otlp::ResourceSpans {
                resource: resource(callee),
                scope_spans: vec![otlp::ScopeSpans {
                    spans: vec![
                        span(id(2), id(1), 2, 200_000, None),
                        span(id(3), id(2), 3, 300_000, Some(store)),
                    ],
                }],
            });
            trace += 1;
        }
        serde_json::to_writer(&mut file, &otlp::TracesData { resource_spans })?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(())
}

/// Runs one phase in this process and prints `RESULT seconds peak_mib count`.
fn run_phase(phase: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let count = match phase {
        "serde" => {
            let mut values = 0usize;
            for line in BufReader::new(std::fs::File::open(path)?).lines() {
                let value: serde_json::Value = serde_json::from_str(&line?)?;
                values += usize::from(!value.is_null());
            }
            values
        }
        "ingest" => {
            let read = traces::read_file(path, ReadLimits::default());
            if let Some(error) = read.error {
                return Err(error.into());
            }
            read.spans as usize
        }
        "map" => manifests_map()?.edges.len(),
        "map+traces" => {
            let mut map = manifests_map()?;
            let read = traces::read_file(path, ReadLimits::default());
            if let Some(error) = read.error {
                return Err(error.into());
            }
            let report = servicemap::attach(
                &mut map,
                read.calls.into_iter().map(|c| c.into_named_call()),
                Matching::Exact,
            );
            report.attached
        }
        other => return Err(format!("unknown phase {other}").into()),
    };
    println!(
        "RESULT {} {} {count}",
        start.elapsed().as_secs_f64(),
        peak_mib()
    );
    Ok(())
}

fn child(phase: &str, path: &Path) -> Result<(f64, f64, f64), Box<dyn Error>> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--phase", phase])
        .arg(path)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "phase {phase} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or("no RESULT line")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    match fields.as_slice() {
        [seconds, mib, count] => Ok((*seconds, *mib, *count)),
        _ => Err("bad RESULT line".into()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--phase") {
        let phase = args.get(at + 1).ok_or("--phase needs a name")?;
        let path = PathBuf::from(args.get(at + 2).ok_or("--phase needs a file")?);
        return run_phase(phase, &path);
    }
    let spans: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("smart-chaos-bench-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("collector.jsonl");
    let started = Instant::now();
    generate(&path, spans)?;
    let size_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    println!(
        "generated {spans} spans ({size_mb:.0} MB, {} traces per line) in {:.1} s",
        TRACES_PER_LINE,
        started.elapsed().as_secs_f64()
    );
    let mut results = Vec::new();
    for phase in PHASES {
        let result = child(phase, &path)?;
        println!(
            "{phase:>12}: {:>8.2} s {:>8.0} MiB peak RSS  (count {})",
            result.0, result.1, result.2
        );
        results.push(result);
    }
    let (serde, ingest, map, full) = (results[0], results[1], results[2], results[3]);
    println!(
        "ingest / serde Value: time {:.2}x, peak memory {:.2}x",
        ingest.0 / serde.0,
        ingest.1 / serde.1
    );
    println!(
        "ingest / manifests-only map ({OBJECTS} objects): time {:.2}x, peak memory {:.2}x",
        ingest.0 / map.0,
        ingest.1 / map.1
    );
    println!(
        "map + traces / manifests-only map: time {:.2}x, peak memory {:.2}x",
        full.0 / map.0,
        full.1 / map.1
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
