//! The user's own test cases ("what if X fails?"): a structured failure, and its blast radius
//! computed from the map with the same code as the generated experiments' (never guessed).
//!
//! A test case reads `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`: TARGET is a map id
//! (`shop/Deployment/cart`) or a name matched like a diagram's; FAULT is `kill`, `crash`,
//! `latency=500ms`, `loss`, `partition-from=NODE`, `dns-error`, `zone-down=ZONE`, `cpu-stress`,
//! `disk-latency`, `http-latency`, `http-abort` or `clock-skew`.

use std::collections::BTreeSet;

use super::builtin::blast_radius_for;
use super::duration::parse_go_duration;
use super::index::MapIndex;
use super::model::{ExperimentBlastRadius, SteadyState};
use crate::chaosmesh::{ChaosKind, SelectorMode};
use crate::servicemap::names::Callee;
use crate::servicemap::{Matching, NameHints, NameIndex, NodeId, ServiceMap};

/// What fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WhatIfFault {
    Kill,
    Crash,
    Latency { delay: String },
    Loss,
    PartitionFrom { peer: String },
    DnsError,
    ZoneDown { zone: String },
    CpuStress,
    DiskLatency,
    HttpLatency,
    HttpAbort,
    ClockSkew,
}

impl WhatIfFault {
    /// The Chaos Mesh kind that expresses the fault, or why none does.
    pub fn chaos_kind(&self) -> Result<ChaosKind, String> {
        Ok(match self {
            WhatIfFault::Kill | WhatIfFault::Crash => ChaosKind::PodChaos,
            WhatIfFault::Latency { .. } | WhatIfFault::Loss | WhatIfFault::PartitionFrom { .. } => {
                ChaosKind::NetworkChaos
            }
            WhatIfFault::DnsError => ChaosKind::DNSChaos,
            WhatIfFault::CpuStress => ChaosKind::StressChaos,
            WhatIfFault::DiskLatency => ChaosKind::IOChaos,
            WhatIfFault::HttpLatency | WhatIfFault::HttpAbort => ChaosKind::HTTPChaos,
            WhatIfFault::ClockSkew => ChaosKind::TimeChaos,
            WhatIfFault::ZoneDown { zone } => {
                return Err(format!(
                    "Chaos Mesh has no experiment that takes zone {zone} down (it selects pods, not nodes), and the map does not record which zone each pod runs in"
                ));
            }
        })
    }
}

/// A parsed test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIf {
    /// The target as written.
    pub target: String,
    pub fault: WhatIfFault,
    /// Which of the target's pods fail (default: one).
    pub mode: SelectorMode,
    pub value: Option<String>,
    /// The dependency involved (`to=`), as written.
    pub peer: Option<String>,
}

/// A test case that could not be read or placed on the map.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WhatIfError {
    #[error("a test case reads `TARGET FAULT [pods=one|all|N|N%] [to=NODE]`; {0}")]
    Syntax(String),
    #[error("{name:?} names no workload of the map ({reason})")]
    UnknownTarget { name: String, reason: String },
    #[error("{name:?} names no node of the map ({reason})")]
    UnknownPeer { name: String, reason: String },
}

impl WhatIf {
    /// Reads a test case.
    pub fn parse(text: &str) -> Result<Self, WhatIfError> {
        let mut words = text.split_whitespace();
        let target = words
            .next()
            .ok_or_else(|| WhatIfError::Syntax("it is empty".to_owned()))?
            .to_owned();
        let mut fault = None;
        let mut mode = SelectorMode::One;
        let mut value = None;
        let mut peer = None;
        for word in words {
            let (key, argument) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            let needs = |what: &str| {
                argument
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| WhatIfError::Syntax(format!("`{key}` needs `={what}`")))
            };
            let parsed = match key {
                "kill" => WhatIfFault::Kill,
                "crash" => WhatIfFault::Crash,
                "latency" => {
                    let delay = needs("DURATION")?;
                    parse_go_duration(&delay)
                        .map_err(|e| WhatIfError::Syntax(format!("latency {delay:?}: {e}")))?;
                    WhatIfFault::Latency { delay }
                }
                "loss" => WhatIfFault::Loss,
                "partition-from" => WhatIfFault::PartitionFrom {
                    peer: needs("NODE")?,
                },
                "dns-error" => WhatIfFault::DnsError,
                "zone-down" => WhatIfFault::ZoneDown {
                    zone: needs("ZONE")?,
                },
                "cpu-stress" => WhatIfFault::CpuStress,
                "disk-latency" => WhatIfFault::DiskLatency,
                "http-latency" => WhatIfFault::HttpLatency,
                "http-abort" => WhatIfFault::HttpAbort,
                "clock-skew" => WhatIfFault::ClockSkew,
                "pods" => {
                    let pods = needs("one|all|N|N%")?;
                    (mode, value) = parse_pods(&pods)?;
                    continue;
                }
                "to" => {
                    peer = Some(needs("NODE")?);
                    continue;
                }
                other => {
                    return Err(WhatIfError::Syntax(format!("unknown word `{other}`")));
                }
            };
            if fault.replace(parsed).is_some() {
                return Err(WhatIfError::Syntax("one fault per test case".to_owned()));
            }
        }
        let fault = fault.ok_or_else(|| WhatIfError::Syntax("no fault given".to_owned()))?;
        if let WhatIfFault::PartitionFrom { peer: from } = &fault {
            peer.get_or_insert_with(|| from.clone());
        }
        Ok(WhatIf {
            target,
            fault,
            mode,
            value,
            peer,
        })
    }

    /// The test case written back in its canonical form (what the user is shown).
    pub fn canonical(&self, target: &NodeId) -> String {
        let fault = match &self.fault {
            WhatIfFault::Kill => "kill".to_owned(),
            WhatIfFault::Crash => "crash".to_owned(),
            WhatIfFault::Latency { delay } => format!("latency={delay}"),
            WhatIfFault::Loss => "loss".to_owned(),
            WhatIfFault::PartitionFrom { peer } => format!("partition-from={peer}"),
            WhatIfFault::DnsError => "dns-error".to_owned(),
            WhatIfFault::ZoneDown { zone } => format!("zone-down={zone}"),
            WhatIfFault::CpuStress => "cpu-stress".to_owned(),
            WhatIfFault::DiskLatency => "disk-latency".to_owned(),
            WhatIfFault::HttpLatency => "http-latency".to_owned(),
            WhatIfFault::HttpAbort => "http-abort".to_owned(),
            WhatIfFault::ClockSkew => "clock-skew".to_owned(),
        };
        let pods = match (self.mode, &self.value) {
            (SelectorMode::One, _) => "one".to_owned(),
            (SelectorMode::All, _) => "all".to_owned(),
            (SelectorMode::Fixed, Some(n)) => n.clone(),
            (SelectorMode::FixedPercent | SelectorMode::RandomMaxPercent, Some(p)) => {
                format!("{p}%")
            }
            (_, None) => "one".to_owned(),
        };
        let mut text = format!("{target} {fault} pods={pods}");
        if let Some(peer) = self
            .peer
            .as_ref()
            .filter(|_| !matches!(self.fault, WhatIfFault::PartitionFrom { .. }))
        {
            text.push_str(&format!(" to={peer}"));
        }
        text
    }
}

fn parse_pods(pods: &str) -> Result<(SelectorMode, Option<String>), WhatIfError> {
    let bad = || WhatIfError::Syntax(format!("pods={pods}: expected one, all, N or N%"));
    match pods {
        "one" => Ok((SelectorMode::One, None)),
        "all" => Ok((SelectorMode::All, None)),
        _ => match pods.strip_suffix('%') {
            Some(percent) => {
                let n: u8 = percent.parse().map_err(|_| bad())?;
                (n <= 100)
                    .then(|| (SelectorMode::FixedPercent, Some(n.to_string())))
                    .ok_or_else(bad)
            }
            None => {
                let n: u32 = pods.parse().map_err(|_| bad())?;
                Ok((SelectorMode::Fixed, Some(n.to_string())))
            }
        },
    }
}

/// A test case placed on the map, with its blast radius.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIfOutcome {
    /// The test case in canonical form, with the target's map id.
    pub canonical: String,
    pub target: NodeId,
    pub peer: Option<NodeId>,
    /// The Chaos Mesh kind that would run it, or why none can.
    pub chaos_kind: Result<ChaosKind, String>,
    pub blast_radius: ExperimentBlastRadius,
    /// Steady states whose subject is affected: expected to break, by id.
    pub breaks: Vec<String>,
}

/// Computes a test case's blast radius on `map`; `steady_states` are the analysis' own.
pub fn what_if(
    map: &ServiceMap,
    steady_states: &[SteadyState],
    test_case: &WhatIf,
) -> Result<WhatIfOutcome, WhatIfError> {
    let names = NameIndex::new(map);
    let target = resolve_workload(map, &names, &test_case.target)?;
    let peer = match &test_case.peer {
        None => None,
        Some(name) => Some(resolve_peer(map, &names, name)?),
    };
    let index = MapIndex::new(map);
    let chaos_kind = test_case.fault.chaos_kind();
    let what = match &chaos_kind {
        Ok(kind) => kind.to_string(),
        Err(_) => "the failure".to_owned(),
    };
    let canonical = test_case.canonical(&target);
    let blast_radius = blast_radius_for(
        &index,
        &format!("what-if {canonical}"),
        &target,
        test_case.mode,
        test_case.value.as_deref(),
        &what,
    );
    let affected: BTreeSet<&NodeId> = blast_radius
        .affected_workloads
        .iter()
        .chain(&blast_radius.affected_entry_points)
        .collect();
    let breaks = steady_states
        .iter()
        .filter(|s| {
            affected.contains(&s.subject)
                || map.nodes.iter().any(|n| {
                    n.id == s.subject
                        && n.service
                            .as_ref()
                            .is_some_and(|svc| svc.backends.iter().any(|b| affected.contains(b)))
                })
        })
        .map(|s| s.id.clone())
        .collect();
    Ok(WhatIfOutcome {
        canonical,
        target,
        peer,
        chaos_kind,
        blast_radius,
        breaks,
    })
}

fn resolve_workload(
    map: &ServiceMap,
    names: &NameIndex<'_>,
    name: &str,
) -> Result<NodeId, WhatIfError> {
    if let Some(node) = map
        .nodes
        .iter()
        .find(|n| n.id.as_str() == name && n.kind.is_workload())
    {
        return Ok(node.id.clone());
    }
    let hints = NameHints {
        service_name: Some(name.to_owned()),
        ..NameHints::default()
    };
    names
        .workload(&hints, Matching::Loose)
        .map_err(|why| WhatIfError::UnknownTarget {
            name: name.to_owned(),
            reason: why.reason(),
        })
}

fn resolve_peer(
    map: &ServiceMap,
    names: &NameIndex<'_>,
    name: &str,
) -> Result<NodeId, WhatIfError> {
    if let Some(node) = map.nodes.iter().find(|n| n.id.as_str() == name) {
        return Ok(node.id.clone());
    }
    let hints = NameHints {
        service_name: Some(name.to_owned()),
        ..NameHints::default()
    };
    match names.callee(&hints, Matching::Loose) {
        Ok(Callee::Service(id)) => Ok(id),
        Ok(Callee::External(host)) => Err(WhatIfError::UnknownPeer {
            name: host,
            reason: "outside the map".to_owned(),
        }),
        Err(why) => Err(WhatIfError::UnknownPeer {
            name: name.to_owned(),
            reason: why.reason(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};

    #[test]
    fn test_cases_parse_and_fail_clearly() {
        let case = WhatIf::parse("cartservice latency=500ms pods=50% to=redis-cart").unwrap();
        assert_eq!(
            case.fault,
            WhatIfFault::Latency {
                delay: "500ms".into()
            }
        );
        assert_eq!(case.mode, SelectorMode::FixedPercent);
        assert_eq!(case.value.as_deref(), Some("50"));
        assert_eq!(case.peer.as_deref(), Some("redis-cart"));
        for (bad, says) in [
            ("", "empty"),
            ("cart", "no fault"),
            ("cart explode", "unknown word `explode`"),
            ("cart latency", "`latency` needs"),
            ("cart latency=soon", "latency \"soon\""),
            ("cart kill pods=150%", "pods=150%"),
            ("cart kill crash", "one fault"),
        ] {
            let error = WhatIf::parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn every_generated_experiment_gets_its_own_blast_radius() {
        let map = fixtures::boutique();
        let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
        assert!(!result.planned.is_empty());
        for planned in &result.planned {
            let (mode, value) = planned.spec.selection();
            let pods = match (mode, value) {
                (SelectorMode::One, _) => "one".to_owned(),
                (SelectorMode::All, _) => "all".to_owned(),
                (SelectorMode::Fixed, Some(n)) => n.to_owned(),
                (_, Some(p)) => format!("{p}%"),
                (_, None) => "one".to_owned(),
            };
            let case = WhatIf::parse(&format!("{} kill pods={pods}", planned.target)).unwrap();
            let outcome = what_if(&map, &result.steady_state.steady_states, &case).unwrap();
            let ids = |v: &[NodeId]| v.iter().map(|i| i.as_str().to_owned()).collect::<Vec<_>>();
            assert_eq!(
                ids(&outcome.blast_radius.affected_workloads),
                planned.blast_radius.affected_workloads,
                "{}",
                planned.name
            );
            assert_eq!(
                ids(&outcome.blast_radius.affected_entry_points),
                planned.blast_radius.affected_entry_points
            );
            assert_eq!(
                outcome.blast_radius.pod_share_percent,
                planned.blast_radius.pod_share_percent
            );
        }
    }

    #[test]
    fn zone_down_is_not_expressible_and_names_still_resolve() {
        let map = fixtures::boutique();
        let case = WhatIf::parse("Cart-Service zone-down=eu-west-1a").unwrap();
        let outcome = what_if(&map, &[], &case).unwrap();
        assert_eq!(outcome.target.as_str(), "shop/Deployment/cartservice");
        assert!(outcome.chaos_kind.unwrap_err().contains("zone eu-west-1a"));
        assert!(
            outcome
                .canonical
                .starts_with("shop/Deployment/cartservice zone-down=eu-west-1a")
        );
        let unknown = what_if(&map, &[], &WhatIf::parse("nothing kill").unwrap()).unwrap_err();
        assert!(matches!(unknown, WhatIfError::UnknownTarget { .. }));
    }
}
