//! The start and end every reconcile shares, so both controllers behave alike: an object that
//! cannot be read as our type is an error (never a stalled watch), followers do nothing, every
//! run is timed, a success resets the object's backoff, and backoff keys name the kind so that a
//! proposal and an analysis of the same name never share a count.

use std::future::Future;
use std::sync::Arc;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::{Context, Error};

/// The backoff key of an object: kind, namespace and name.
pub(crate) fn backoff_key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default()
    )
}

/// Runs `pipeline` on the object inside `obj` when this replica leads, and resets the object's
/// backoff when it succeeds.
pub(crate) async fn reconcile<'a, K, Fut>(
    controller: &'static str,
    obj: &'a DeserializeGuard<K>,
    ctx: &'a Context,
    pipeline: impl FnOnce(&'a K) -> Fut,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    Fut: Future<Output = Result<Action, Error>>,
{
    let _timer = ctx.metrics.reconcile(controller);
    let object = match &obj.0 {
        Ok(object) => object,
        Err(invalid) => {
            return Err(Error::InvalidObject {
                name: obj.name_any(),
                reason: invalid.error.clone(),
            });
        }
    };
    if !ctx.is_leader() {
        // Followers keep their caches warm; the leader's election triggers a full pass.
        return Ok(Action::await_change());
    }
    let action = pipeline(object).await?;
    ctx.backoff.reset(&backoff_key(obj));
    Ok(action)
}

/// What to do after a failed reconcile: wait for a change when retrying cannot help, otherwise
/// retry with per-object exponential backoff.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(ctx.backoff.next(&backoff_key(obj.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::{ChaosAnalysis, ExperimentProposal};
    use crate::controller::test_context;

    fn analysis() -> ChaosAnalysis {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "chaos.smartchaos.io/v1alpha1",
            "kind": "ChaosAnalysis",
            "metadata": {"name": "shop", "namespace": "shop", "uid": "u1"},
            "spec": {"scope": {"namespaces": []}}
        }))
        .unwrap()
    }

    fn proposal() -> ExperimentProposal {
        use crate::api::{Approval, BlastRadius, ExperimentProposalSpec, ProposalHypothesis};
        use crate::chaosmesh::{
            ChaosSpec, PodChaosAction, PodChaosSpec, PodSelector, SelectorMode,
        };
        let experiment = ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: PodSelector {
                namespaces: vec!["shop".into()],
                label_selectors: [("app".to_string(), "web".to_string())].into(),
            },
            mode: SelectorMode::One,
            value: None,
            duration: None,
            container_names: vec![],
        });
        let mut p = ExperimentProposal::new(
            "shop",
            ExperimentProposalSpec {
                analysis_ref: "shop".into(),
                target: "shop/Deployment/web".into(),
                hypothesis: ProposalHypothesis {
                    id: "h1".into(),
                    statement: "web survives".into(),
                },
                steady_state: vec![],
                blast_radius: BlastRadius::default(),
                experiment: experiment.into(),
                approval: Approval::default(),
            },
        );
        p.metadata.namespace = Some("shop".into());
        p
    }

    fn transient() -> Error {
        Error::Status(kube::Error::Api(
            kube::core::Status::failure("busy", "Conflict")
                .with_code(409)
                .boxed(),
        ))
    }

    #[tokio::test]
    async fn backoff_keys_include_the_kind() {
        let ctx = Arc::new(test_context(true, serde_json::json!({})));
        let analysis = Arc::new(DeserializeGuard(Ok(analysis())));
        let proposal = Arc::new(DeserializeGuard(Ok(proposal())));
        assert_ne!(
            backoff_key(analysis.as_ref()),
            backoff_key(proposal.as_ref())
        );
        for _ in 0..3 {
            error_policy(proposal.clone(), &transient(), ctx.clone());
        }
        // The analysis' first failure, then its second delay: 4 s and jitter, not the 32 s that
        // the proposal's fifth would be.
        error_policy(analysis.clone(), &transient(), ctx.clone());
        assert!(ctx.backoff.next(&backoff_key(analysis.as_ref())) < Duration::from_secs(5));
        assert!(ctx.backoff.next(&backoff_key(proposal.as_ref())) >= Duration::from_secs(16));
    }

    #[tokio::test]
    async fn the_analysis_controller_resets_its_backoff_on_success() {
        // The API answers every request with the analysis, so an empty scope (a spec problem,
        // recorded in status) completes the reconcile successfully.
        let object = analysis();
        let ctx = Arc::new(test_context(true, serde_json::to_value(&object).unwrap()));
        let guard = Arc::new(DeserializeGuard(Ok(object)));
        for _ in 0..4 {
            error_policy(guard.clone(), &transient(), ctx.clone());
        }
        crate::controller::analysis::reconcile_analysis(guard.clone(), ctx.clone())
            .await
            .unwrap();
        assert!(ctx.backoff.next(&backoff_key(guard.as_ref())) < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn followers_and_failures_keep_the_backoff() {
        let ctx = test_context(false, serde_json::json!({}));
        let guard = DeserializeGuard(Ok(analysis()));
        ctx.backoff.next(&backoff_key(&guard));
        let action = reconcile("test", &guard, &ctx, |_| async {
            Ok(Action::requeue(Duration::from_secs(1)))
        })
        .await
        .unwrap();
        assert_eq!(action, Action::await_change(), "a follower does nothing");
        let leader = test_context(true, serde_json::json!({}));
        leader.backoff.next(&backoff_key(&guard));
        let failed = reconcile("test", &guard, &leader, |_| async { Err(transient()) }).await;
        assert!(failed.is_err());
        assert!(leader.backoff.next(&backoff_key(&guard)) >= Duration::from_secs(4));
    }
}
