//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas never act twice.
//!
//! The algorithm is client-go's: the holder renews `renewTime` every retry period; a contender
//! takes the Lease over only after it has seen the same record unchanged for a whole lease
//! duration (measured on its own monotonic clock, so clock skew between replicas does not
//! matter), or at once when the holder released it. Every write is a replace guarded by the
//! resourceVersion that was read, so two contenders can never both win: the API server lets one
//! write through and answers 409 Conflict to the other. A holder that cannot renew within the
//! renew deadline steps down before anyone else may take over.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// Where the Lease lives and how it is held.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long steps down. Shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseSettings {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A Lease operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("reading Lease {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing Lease {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// What to do with the Lease as last read.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// No Lease yet: create it, held by us.
    Create,
    /// We hold it: renew.
    Renew,
    /// Released or expired: take it over.
    TakeOver,
    /// Someone else holds it, validly.
    Follow { holder: String },
}

/// The part of a Lease that proves its holder is alive; it changes on every renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<String>,
    resource_version: Option<String>,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Record {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            renew_time: spec
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0.to_string()),
            resource_version: lease.metadata.resource_version.clone(),
        }
    }
}

/// Decides, purely, what to do given the Lease, who we are, and for how long the current record
/// has been observed unchanged.
pub fn decide(
    lease: Option<&Lease>,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> LeaseAction {
    let Some(lease) = lease else {
        return LeaseAction::Create;
    };
    let spec = lease.spec.as_ref();
    let holder = spec
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty());
    match holder {
        None => LeaseAction::TakeOver,
        Some(h) if h == identity => LeaseAction::Renew,
        Some(h) => {
            let duration = spec
                .and_then(|s| s.lease_duration_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(default_duration);
            if unchanged_for >= duration {
                LeaseAction::TakeOver
            } else {
                LeaseAction::Follow {
                    holder: h.to_string(),
                }
            }
        }
    }
}

/// Publishes leadership, notifying receivers only when it changes.
fn set_leading(leading: &watch::Sender<bool>, value: bool) {
    leading.send_if_modified(|current| {
        let changed = *current != value;
        *current = value;
        changed
    });
}

/// One replica's side of the election.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The last record seen and when it was first seen in that form.
    observed: Option<(Record, Instant)>,
}

impl LeaderElector {
    /// An elector for `settings.namespace`/`settings.name`.
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    fn read_error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Read {
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            source,
        }
    }

    fn write_error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Write {
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            source,
        }
    }

    fn held_spec(
        &self,
        now: MicroTime,
        acquired: Option<MicroTime>,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: acquired.or_else(|| Some(now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt to acquire or renew. `Ok(true)` when we hold the Lease afterwards; a lost race
    /// (409 Conflict, or 409 AlreadyExists on create) is `Ok(false)`, not an error.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let current = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|e| self.read_error(e))?;
        let now_instant = Instant::now();
        let unchanged_for = match (&current, &self.observed) {
            (Some(lease), Some((record, since))) if *record == Record::of(lease) => {
                now_instant.duration_since(*since)
            }
            (Some(lease), _) => {
                self.observed = Some((Record::of(lease), now_instant));
                Duration::ZERO
            }
            (None, _) => Duration::ZERO,
        };
        let action = decide(
            current.as_ref(),
            &self.settings.identity,
            unchanged_for,
            self.settings.lease_duration,
        );
        let now = MicroTime(jiff::Timestamp::now());
        let result = match (action, current) {
            (LeaseAction::Follow { .. }, _) => return Ok(false),
            (LeaseAction::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.settings.name.clone()),
                        namespace: Some(self.settings.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.held_spec(now, None, 0)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (LeaseAction::Renew, Some(mut lease)) => {
                let spec = lease.spec.take().unwrap_or_default();
                let transitions = spec.lease_transitions.unwrap_or(0);
                lease.spec = Some(self.held_spec(now, spec.acquire_time, transitions));
                self.api
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await
            }
            (LeaseAction::TakeOver, Some(mut lease)) => {
                let transitions = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.lease_transitions)
                    .unwrap_or(0)
                    .saturating_add(1);
                lease.spec = Some(self.held_spec(now, None, transitions));
                self.api
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await
            }
            // Renew or take over with no Lease cannot come out of `decide`.
            (LeaseAction::Renew | LeaseAction::TakeOver, None) => return Ok(false),
        };
        match result {
            Ok(written) => {
                self.observed = Some((Record::of(&written), Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.write_error(e)),
        }
    }

    /// Gives the Lease up if we hold it, so that another replica takes over at once.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|e| self.read_error(e))?
        else {
            return Ok(());
        };
        let held = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.settings.identity.as_str());
        if !held {
            return Ok(());
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        }
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            // Someone else wrote it meanwhile: it is not ours to release any more.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(self.write_error(e)),
            Ok(_) => Ok(()),
        }
    }

    /// Contends until `shutdown` resolves, publishing leadership on `leading`. On shutdown the
    /// Lease is released.
    pub async fn run(mut self, leading: watch::Sender<bool>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewal = Some(Instant::now());
                    if !*leading.borrow() {
                        tracing::info!(identity = %self.settings.identity, lease = %self.settings.name, "became leader");
                    }
                    set_leading(&leading, true);
                }
                Ok(false) => {
                    if *leading.borrow() {
                        tracing::warn!(identity = %self.settings.identity, "lost the leader Lease");
                    }
                    last_renewal = None;
                    set_leading(&leading, false);
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election");
                    let overdue =
                        last_renewal.is_none_or(|t| t.elapsed() >= self.settings.renew_deadline);
                    if overdue && *leading.borrow() {
                        tracing::warn!(identity = %self.settings.identity, "could not renew the leader Lease in time; stepping down");
                        set_leading(&leading, false);
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.settings.retry_period) => {}
            }
        }
        set_leading(&leading, false);
        if let Err(error) = self.release().await {
            tracing::warn!(%error, "releasing the leader Lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, duration: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                lease_duration_seconds: Some(duration),
                ..LeaseSpec::default()
            }),
        }
    }

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn no_lease_is_created() {
        assert_eq!(decide(None, "a", Duration::ZERO, D), LeaseAction::Create);
    }

    #[test]
    fn own_lease_is_renewed_whatever_its_age() {
        let l = lease(Some("a"), 15);
        assert_eq!(
            decide(Some(&l), "a", Duration::from_secs(60), D),
            LeaseAction::Renew
        );
    }

    #[test]
    fn released_lease_is_taken_over_at_once() {
        assert_eq!(
            decide(Some(&lease(None, 1)), "b", Duration::ZERO, D),
            LeaseAction::TakeOver
        );
        assert_eq!(
            decide(Some(&lease(Some(""), 1)), "b", Duration::ZERO, D),
            LeaseAction::TakeOver
        );
    }

    #[test]
    fn a_valid_holder_is_followed_until_its_record_is_stale_for_a_whole_duration() {
        let l = lease(Some("a"), 10);
        assert_eq!(
            decide(Some(&l), "b", Duration::from_secs(9), D),
            LeaseAction::Follow { holder: "a".into() }
        );
        assert_eq!(
            decide(Some(&l), "b", Duration::from_secs(10), D),
            LeaseAction::TakeOver
        );
    }

    #[test]
    fn a_lease_without_duration_uses_ours() {
        let mut l = lease(Some("a"), 10);
        if let Some(spec) = l.spec.as_mut() {
            spec.lease_duration_seconds = None;
        }
        assert!(matches!(
            decide(Some(&l), "b", Duration::from_secs(14), D),
            LeaseAction::Follow { .. }
        ));
        assert_eq!(
            decide(Some(&l), "b", Duration::from_secs(15), D),
            LeaseAction::TakeOver
        );
    }
}
