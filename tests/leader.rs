//! Leader election on the real kube-apiserver: two contenders, as the operator's service account
//! (so the shipped Role for Leases is what they have), never hold the Lease at once, and one takes
//! over when the other releases it or stops renewing. Two whole operators: one acts.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams};
use operator_support::{
    admin_with_operator_manifests, create_proposal, deployment, eventually, proposal,
};
use smart_chaos::api::ApprovalState;
use smart_chaos::chaosmesh::ChaosKind;
use smart_chaos::cli::approve::{Decision, ProposalRef, decide};
use smart_chaos::controller::leader::{LeaderElector, LeaseSettings};
use smart_chaos::controller::proposals::chaos_resource;
use smart_chaos::controller::{ControllerSettings, Operator, OperatorConfig};
use support::User;
use tokio::sync::watch;

const NS: &str = "smart-chaos-system";

fn settings(lease: &str, identity: &str) -> LeaseSettings {
    let mut s = LeaseSettings::new(NS, lease, identity);
    s.lease_duration = Duration::from_secs(2);
    s.renew_deadline = Duration::from_millis(1500);
    s.retry_period = Duration::from_millis(200);
    s
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos % 0xffffff)
}

async fn holder(lease: &str) -> Option<String> {
    let admin = support::server().client(User::Admin).await;
    Api::<Lease>::namespaced(admin, NS)
        .get(lease)
        .await
        .ok()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_release_hands_over_at_once() {
    admin_with_operator_manifests().await;
    let lease = unique("lease-release");
    let operator = support::server().client(User::Operator).await;
    let mut a = LeaderElector::new(operator.clone(), settings(&lease, "a"));
    let mut b = LeaderElector::new(operator, settings(&lease, "b"));
    assert!(
        a.try_acquire_or_renew().await.expect("a tries"),
        "a creates and holds it"
    );
    assert!(
        !b.try_acquire_or_renew().await.expect("b tries"),
        "b must follow"
    );
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.try_acquire_or_renew().await.expect("a renews"));
        assert!(!b.try_acquire_or_renew().await.expect("b tries"));
    }
    assert_eq!(holder(&lease).await.as_deref(), Some("a"));
    a.release().await.expect("a releases");
    let start = Instant::now();
    assert!(
        b.try_acquire_or_renew().await.expect("b takes over"),
        "a released: b takes over at once"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(holder(&lease).await.as_deref(), Some("b"));
    assert!(
        !a.try_acquire_or_renew().await.expect("a tries"),
        "now a follows"
    );
}

#[tokio::test]
async fn a_holder_that_stops_renewing_is_replaced_only_after_the_lease_expires() {
    admin_with_operator_manifests().await;
    let lease = unique("lease-expiry");
    let operator = support::server().client(User::Operator).await;
    let mut a = LeaderElector::new(operator.clone(), settings(&lease, "a"));
    let mut b = LeaderElector::new(operator, settings(&lease, "b"));
    assert!(a.try_acquire_or_renew().await.expect("a tries"));
    // a goes silent (a crashed replica). b must wait a whole lease duration of silence.
    let silent_since = Instant::now();
    let taken = loop {
        if b.try_acquire_or_renew().await.expect("b tries") {
            break silent_since.elapsed();
        }
        assert!(
            silent_since.elapsed() < Duration::from_secs(10),
            "b never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("takeover after {taken:?} of silence (lease 2 s)");
    assert!(
        taken >= Duration::from_secs(2),
        "b took over after only {taken:?}"
    );
    assert_eq!(holder(&lease).await.as_deref(), Some("b"));
    let admin = support::server().client(User::Admin).await;
    let transitions = Api::<Lease>::namespaced(admin, NS)
        .get(&lease)
        .await
        .expect("the lease")
        .spec
        .and_then(|s| s.lease_transitions);
    assert_eq!(transitions, Some(1));
    // a comes back: it sees b's lease and follows.
    assert!(!a.try_acquire_or_renew().await.expect("a tries"));
}

#[tokio::test]
async fn running_contenders_never_lead_together() {
    admin_with_operator_manifests().await;
    let lease = unique("lease-loop");
    let operator = support::server().client(User::Operator).await;
    let (a_tx, a_rx) = watch::channel(false);
    let (b_tx, b_rx) = watch::channel(false);
    let (stop_a_tx, stop_a_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_b_tx, stop_b_rx) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn(
        LeaderElector::new(operator.clone(), settings(&lease, "a")).run(a_tx, async {
            let _ = stop_a_rx.await;
        }),
    );
    let b = tokio::spawn(
        LeaderElector::new(operator, settings(&lease, "b")).run(b_tx, async {
            let _ = stop_b_rx.await;
        }),
    );
    let mut led = (false, false);
    let sample_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < sample_until {
        let (la, lb) = (*a_rx.borrow(), *b_rx.borrow());
        assert!(!(la && lb), "both replicas lead at once");
        led.0 |= la;
        led.1 |= lb;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(led.0 ^ led.1, "exactly one should have led: {led:?}");
    // Stop the leader: it releases, and the other takes over.
    let (leader_rx, follower_rx, stop_leader, stop_follower, leader_task, follower_task) = if led.0
    {
        (a_rx, b_rx, stop_a_tx, stop_b_tx, a, b)
    } else {
        (b_rx, a_rx, stop_b_tx, stop_a_tx, b, a)
    };
    let _ = stop_leader.send(());
    leader_task.await.expect("the leader's loop ends");
    assert!(!*leader_rx.borrow(), "a stopped replica does not lead");
    let start = Instant::now();
    eventually("the follower to lead", Duration::from_secs(5), || {
        let rx = follower_rx.clone();
        async move { (*rx.borrow()).then_some(()) }
    })
    .await;
    eprintln!("handover after release took {:?}", start.elapsed());
    let _ = stop_follower.send(());
    follower_task.await.expect("the follower's loop ends");
}

#[tokio::test]
async fn two_operators_at_once_one_acts() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "two-operators").await;
    let lease = unique("lease-operators");
    deployment(&admin, &ns, "web", 3).await;
    create_proposal(&admin, &proposal("kill-web", &ns, "web")).await;
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for identity in ["replica-a", "replica-b"] {
        let client = support::server().client(User::Operator).await;
        let config = OperatorConfig {
            controller: ControllerSettings {
                check_interval: Duration::from_millis(500),
                default_window: Duration::from_secs(60),
                ..ControllerSettings::default()
            },
            lease: settings(&lease, identity),
            watch_namespace: Some(ns.clone()),
            http_addr: "127.0.0.1:0".parse().expect("an address"),
        };
        let operator = Operator::bind(client, config).await.expect("binding");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        tasks.push(tokio::spawn(operator.run(async {
            let _ = rx.await;
        })));
    }
    let approver = support::server().client(User::Approver).await;
    decide(
        &approver,
        &ProposalRef {
            namespace: ns.clone(),
            name: "kill-web".into(),
        },
        &Decision {
            state: ApprovalState::Approved,
            reason: None,
        },
    )
    .await
    .expect("approving");
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let started = eventually(
        "the ExperimentStarted event",
        Duration::from_secs(20),
        || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await.ok()?;
                list.items
                    .into_iter()
                    .find(|e| e.reason.as_deref() == Some("ExperimentStarted"))
            }
        },
    )
    .await;
    let actor = started
        .reporting_instance
        .clone()
        .expect("a reporting instance");
    assert_eq!(
        holder(&lease).await,
        Some(actor.clone()),
        "the Lease holder acted"
    );
    // Started once, shown by the Chaos Mesh object itself: one object, one uid, generation 1,
    // through a window that gives the follower every chance to act too.
    let chaos: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), &ns, &chaos_resource(ChaosKind::PodChaos));
    let mut uids = std::collections::BTreeSet::new();
    let watch_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < watch_until {
        let objects = chaos
            .list(&ListParams::default())
            .await
            .expect("PodChaos")
            .items;
        assert_eq!(objects.len(), 1, "{objects:?}");
        assert_eq!(objects[0].metadata.name.as_deref(), Some("kill-web"));
        assert_eq!(
            objects[0].metadata.generation,
            Some(1),
            "the PodChaos was written again: {:?}",
            objects[0].metadata
        );
        uids.insert(objects[0].metadata.uid.clone().expect("a uid"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(uids.len(), 1, "the PodChaos was recreated: {uids:?}");
    let all = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items;
    let instances: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|e| e.reporting_instance.clone())
        .collect();
    assert_eq!(
        instances.len(),
        1,
        "more than one replica acted: {instances:?}"
    );
    // The recorder folds a repeated event into `series.count` instead of a new Event object, so
    // one ExperimentStarted object proves nothing unless it has no series.
    let started: Vec<&Event> = all
        .iter()
        .filter(|e| e.reason.as_deref() == Some("ExperimentStarted"))
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(
        started[0].series.is_none(),
        "ExperimentStarted was published again: {:?}",
        started[0].series
    );
    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
}

/// A TCP relay to the API server that can be cut, as a network partition would: every open
/// connection is dropped and new ones are refused.
struct Partition {
    url: String,
    relay: tokio::task::JoinHandle<()>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Partition {
    async fn open(upstream: String) -> Partition {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let relay = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().unwrap().push(task);
            }
        });
        Partition {
            url,
            relay,
            connections,
        }
    }

    fn cut(&self) {
        self.relay.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// What a hand-written elector has over `kube-lease-manager` 0.13 (docs/leader-election.md):
/// a leader that cannot renew steps down within its renew deadline, before its Lease expires
/// and another replica may take over. (That crate keeps reporting leadership while its API
/// calls fail, and renews only `grace` seconds before the expiry it computes from wall clocks.)
#[tokio::test]
async fn a_leader_cut_off_from_the_api_server_steps_down_before_anyone_takes_over() {
    admin_with_operator_manifests().await;
    let lease = unique("lease-partition");
    let direct = support::server().config(User::Operator).await;
    let upstream = direct
        .cluster_url
        .authority()
        .expect("the API server's address")
        .to_string();
    let partition = Partition::open(upstream).await;
    let mut through_partition = direct.clone();
    through_partition.cluster_url = partition.url.parse().unwrap();
    let a_client = kube::Client::try_from(through_partition).unwrap();
    let b_client = kube::Client::try_from(direct).unwrap();

    let (a_tx, a_rx) = watch::channel(false);
    let (b_tx, b_rx) = watch::channel(false);
    let (stop_a_tx, stop_a_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_b_tx, stop_b_rx) = tokio::sync::oneshot::channel::<()>();
    let a_settings = settings(&lease, "a");
    let a = tokio::spawn(
        LeaderElector::new(a_client, a_settings.clone()).run(a_tx, async {
            let _ = stop_a_rx.await;
        }),
    );
    eventually("a to lead", Duration::from_secs(5), || {
        let rx = a_rx.clone();
        async move { (*rx.borrow()).then_some(()) }
    })
    .await;
    let b = tokio::spawn(
        LeaderElector::new(b_client, settings(&lease, "b")).run(b_tx, async {
            let _ = stop_b_rx.await;
        }),
    );
    // b follows a valid holder.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(*a_rx.borrow() && !*b_rx.borrow());

    partition.cut();
    let cut_at = Instant::now();
    let mut a_stepped_down = None;
    let b_led = loop {
        let (la, lb) = (*a_rx.borrow(), *b_rx.borrow());
        assert!(!(la && lb), "both replicas lead at once");
        if !la && a_stepped_down.is_none() {
            a_stepped_down = Some(cut_at.elapsed());
        }
        if lb {
            break cut_at.elapsed();
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "b never took over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let a_stepped_down = a_stepped_down.expect("a stepped down before b led");
    eprintln!("after the cut: a stepped down at {a_stepped_down:?}, b led at {b_led:?}");
    // a's last renewal was at most one retry period before the cut; it steps down once its renew
    // deadline has passed, which is before its lease duration has.
    assert!(
        a_stepped_down <= a_settings.renew_deadline + a_settings.retry_period * 2,
        "a stepped down only after {a_stepped_down:?}"
    );
    assert!(
        a_stepped_down < a_settings.lease_duration,
        "a still led when its Lease expired"
    );
    // b takes over only once it has seen a's record unchanged for a whole lease duration.
    assert!(
        b_led >= a_settings.lease_duration - a_settings.retry_period * 2,
        "b took over after only {b_led:?}"
    );
    assert_eq!(holder(&lease).await.as_deref(), Some("b"));
    let _ = stop_b_tx.send(());
    let _ = stop_a_tx.send(());
    b.await.expect("b's loop ends");
    a.await.expect("a's loop ends");
}
