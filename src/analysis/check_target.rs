//! Where an Http steady-state check may point, and who holds each check.
//!
//! The operator (and, for checks Chaos Mesh holds, Chaos Mesh's controller) sends a GET to a URL a
//! proposal names, from inside the cluster. Unguarded, anyone who can write a proposal could make
//! it fetch the cloud metadata endpoint, the API server or another tenant's Services. So a check's
//! URL must be http(s), carry no credentials, and name an in-cluster Service of a namespace the
//! proposal already reaches: `<service>.<namespace>`, `<service>.<namespace>.svc` or
//! `<service>.<namespace>.svc.cluster.local`, where the namespace is the proposal's own or one its
//! experiment targets (namespaces the approval policy already requires the approver to hold).
//! A bare `<service>` is refused: it would resolve in the operator's namespace, not the proposal's.
//! IP addresses are refused. Hosts outside the cluster (an Ingress host) pass only when the
//! operator lists them (`--http-check-allowed-host`), and loopback only with
//! `--http-checks-allow-loopback`, which exists for tests.
//!
//! Pure: the URL is parsed, never resolved or fetched here.

use std::collections::BTreeSet;

use url::{Host, Url};

use crate::api::{CheckHolder, CheckHolding, CheckKind, SteadyStateCheck};
use crate::chaosmesh::ChaosSpec;

/// What the operator allows beyond in-cluster Service names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckTargetSettings {
    /// Exact host names that may be probed although they are not in-cluster Service names.
    pub allowed_hosts: BTreeSet<String>,
    /// Allow `127.0.0.1`, `::1` and `localhost` (tests run their HTTP servers there). Never a
    /// default: in a cluster it reaches the operator's own pod.
    pub allow_loopback: bool,
}

/// The namespaces a proposal's checks may reach, with the operator's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTargets<'a> {
    pub namespaces: BTreeSet<String>,
    pub settings: &'a CheckTargetSettings,
}

impl<'a> CheckTargets<'a> {
    /// The proposal's namespace and every namespace its experiment selects (for a NetworkChaos,
    /// the peer's too).
    pub fn of(
        proposal_namespace: &str,
        experiment: &ChaosSpec,
        settings: &'a CheckTargetSettings,
    ) -> Self {
        let mut namespaces: BTreeSet<String> =
            experiment.selector().namespaces.iter().cloned().collect();
        if let ChaosSpec::NetworkChaos(network) = experiment
            && let Some(target) = &network.target
        {
            namespaces.extend(target.selector.namespaces.iter().cloned());
        }
        namespaces.insert(proposal_namespace.to_string());
        CheckTargets {
            namespaces,
            settings,
        }
    }
}

/// A Service name or namespace: an RFC 1123 label (Service names also start with a letter, which
/// keeps `127.0`-like hosts out).
fn is_label(text: &str, must_start_with_letter: bool) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(|b| {
            b.is_ascii_lowercase() || (!must_start_with_letter && b.is_ascii_digit())
        })
        && bytes.last().is_some_and(|b| *b != b'-')
}

/// The namespace of an in-cluster Service host name, if `host` is one.
fn service_namespace(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let (service, namespace, rest) = match labels.as_slice() {
        [service, namespace, rest @ ..] => (*service, *namespace, rest),
        _ => return None,
    };
    let suffix_ok = matches!(rest, [] | ["svc"] | ["svc", "cluster", "local"]);
    (suffix_ok && is_label(service, true) && is_label(namespace, false)).then_some(namespace)
}

/// Whether `url` may be probed; the error says why not, for the proposal's status.
pub fn check_url(url: &str, targets: &CheckTargets<'_>) -> Result<(), String> {
    let parsed = Url::parse(url.trim()).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?} carries credentials"));
    }
    let loopback = match parsed.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain == "localhost",
        None => return Err(format!("{url:?} names no host")),
    };
    if loopback && targets.settings.allow_loopback {
        return Ok(());
    }
    let Some(Host::Domain(host)) = parsed.host() else {
        return Err(format!(
            "{url:?} names an IP address; a check must name an in-cluster Service (service.namespace.svc)"
        ));
    };
    if targets.settings.allowed_hosts.contains(host) {
        return Ok(());
    }
    match service_namespace(host) {
        Some(namespace) if targets.namespaces.contains(namespace) => Ok(()),
        Some(namespace) => Err(format!(
            "{url:?} reaches namespace {namespace}, which this proposal does not target (allowed: {})",
            targets
                .namespaces
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Err(format!(
            "{url:?} is not an in-cluster Service name (service.namespace[.svc[.cluster.local]]) nor a host the operator allows (--http-check-allowed-host)"
        )),
    }
}

/// Who holds each check, in order: with `asked` = ChaosMesh, every Http check whose URL may be
/// probed goes to Chaos Mesh; everything else stays with the operator, with the reason.
pub fn holdings(
    checks: &[SteadyStateCheck],
    asked: CheckHolder,
    targets: &CheckTargets<'_>,
) -> Vec<CheckHolding> {
    checks
        .iter()
        .map(|check| {
            let (held_by, reason) = match (asked, check.kind, check.url.as_deref()) {
                (CheckHolder::Operator, _, _) => (CheckHolder::Operator, None),
                (CheckHolder::ChaosMesh, CheckKind::Http, Some(url)) => {
                    match check_url(url, targets) {
                        Ok(()) => (CheckHolder::ChaosMesh, None),
                        Err(why) => (CheckHolder::Operator, Some(why)),
                    }
                }
                (CheckHolder::ChaosMesh, CheckKind::Http, None) => (
                    CheckHolder::Operator,
                    Some("an Http check needs url".to_string()),
                ),
                (CheckHolder::ChaosMesh, kind, _) => (
                    CheckHolder::Operator,
                    Some(format!(
                        "Chaos Mesh can only hold Http checks; a {kind:?} check stays with the operator"
                    )),
                ),
            };
            CheckHolding {
                check: check.name.clone(),
                held_by,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaosmesh::{PodChaosAction, PodChaosSpec, PodSelector, SelectorMode};

    fn pod_kill_in(ns: &str) -> ChaosSpec {
        ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: PodSelector {
                namespaces: vec![ns.into()],
                ..PodSelector::default()
            },
            mode: SelectorMode::One,
            value: None,
            duration: None,
            container_names: vec![],
        })
    }

    fn http(name: &str, url: &str) -> SteadyStateCheck {
        SteadyStateCheck {
            name: name.into(),
            kind: CheckKind::Http,
            subject: None,
            url: Some(url.into()),
            query: None,
            min_value: 1,
            max_value: None,
        }
    }

    #[test]
    fn in_cluster_services_of_the_targeted_namespaces_pass() {
        let settings = CheckTargetSettings::default();
        let targets = CheckTargets::of("team", &pod_kill_in("shop"), &settings);
        for url in [
            "http://frontend.shop/",
            "http://frontend.shop.svc:8080/healthz",
            "https://frontend.shop.svc.cluster.local/",
            "http://api.team.svc/",
        ] {
            assert_eq!(check_url(url, &targets), Ok(()), "{url}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let settings = CheckTargetSettings::default();
        let targets = CheckTargets::of("shop", &pod_kill_in("shop"), &settings);
        let refused = |url: &str| check_url(url, &targets).unwrap_err();
        assert!(refused("http://169.254.169.254/latest/meta-data/").contains("IP address"));
        assert!(refused("http://127.0.0.1:8080/").contains("IP address"));
        assert!(refused("http://[::1]/").contains("IP address"));
        assert!(refused("http://localhost/").contains("not an in-cluster Service"));
        assert!(refused("http://kubernetes.default.svc/").contains("namespace default"));
        assert!(refused("http://frontend/").contains("not an in-cluster Service"));
        assert!(refused("http://127.0/").contains("IP address"));
        assert!(refused("http://evil.example.com/").contains("not an in-cluster Service"));
        assert!(refused("http://frontend.shop.svc.evil.com/").contains("not an in-cluster"));
        assert!(refused("http://user:pw@frontend.shop/").contains("credentials"));
        assert!(refused("file:///etc/passwd").contains("not an http(s) URL"));
        assert!(refused("not a url").contains("not a URL"));
    }

    #[test]
    fn loopback_and_listed_hosts_need_the_operators_word() {
        let settings = CheckTargetSettings {
            allowed_hosts: BTreeSet::from(["shop.example.com".to_string()]),
            allow_loopback: true,
        };
        let targets = CheckTargets::of("shop", &pod_kill_in("shop"), &settings);
        assert_eq!(check_url("http://127.0.0.1:4000/", &targets), Ok(()));
        assert_eq!(check_url("http://localhost/", &targets), Ok(()));
        assert_eq!(check_url("http://shop.example.com/", &targets), Ok(()));
        assert!(check_url("http://10.0.0.1/", &targets).is_err());
    }

    #[test]
    fn chaos_mesh_holds_only_http_checks_it_may_probe() {
        let settings = CheckTargetSettings::default();
        let targets = CheckTargets::of("shop", &pod_kill_in("shop"), &settings);
        let mut replicas = http("web", "");
        replicas.kind = CheckKind::AvailableReplicas;
        replicas.url = None;
        let checks = [
            http("front", "http://frontend.shop.svc/"),
            http("meta", "http://169.254.169.254/"),
            replicas,
        ];
        let held = holdings(&checks, CheckHolder::ChaosMesh, &targets);
        assert_eq!(held[0].held_by, CheckHolder::ChaosMesh);
        assert_eq!(held[1].held_by, CheckHolder::Operator);
        assert!(held[1].reason.as_deref().unwrap().contains("IP address"));
        assert_eq!(held[2].held_by, CheckHolder::Operator);
        assert!(
            held[2]
                .reason
                .as_deref()
                .unwrap()
                .contains("only hold Http")
        );
        let by_operator = holdings(&checks, CheckHolder::Operator, &targets);
        assert!(
            by_operator
                .iter()
                .all(|h| h.held_by == CheckHolder::Operator && h.reason.is_none())
        );
    }
}
