//! The operator's HTTP endpoints: `/livez` (the process answers), `/healthz` (its loops are
//! alive), `/readyz` (CRDs checked and the first watch synced) and `/metrics` (OpenMetrics).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

/// What the probes report. All flags start false except `healthy`.
#[derive(Debug)]
pub struct Health {
    crds_checked: AtomicBool,
    synced: AtomicBool,
    healthy: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            crds_checked: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
        }
    }
}

impl Health {
    /// Our CRDs answer on the API server.
    pub fn set_crds_checked(&self) {
        self.crds_checked.store(true, Ordering::Release);
    }
    /// The proposal watch has listed everything once.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }
    /// A loop the operator needs has stopped.
    pub fn set_unhealthy(&self) {
        self.healthy.store(false, Ordering::Release);
    }
    /// Ready for traffic: CRDs checked and first sync done.
    pub fn is_ready(&self) -> bool {
        self.crds_checked.load(Ordering::Acquire) && self.synced.load(Ordering::Acquire)
    }
    /// Every loop is alive.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }
}

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct HttpState {
    pub registry: Arc<Registry>,
    pub health: Arc<Health>,
}

/// The router with every endpoint.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(state): State<HttpState>) -> Response {
    if state.health.is_healthy() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "a controller loop has stopped",
        )
            .into_response()
    }
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if state.health.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the CRD check and the first watch sync",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match crate::metrics::encode(&state.registry) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response(),
    }
}

/// A bound listener, so that callers learn the port before serving (port 0 in tests).
pub struct HttpServer {
    listener: tokio::net::TcpListener,
}

impl HttpServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(HttpServer {
            listener: tokio::net::TcpListener::bind(addr).await?,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        state: HttpState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(state))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_both_the_crd_check_and_the_sync() {
        let health = Health::default();
        assert!(!health.is_ready());
        health.set_crds_checked();
        assert!(!health.is_ready());
        health.set_synced();
        assert!(health.is_ready());
        assert!(health.is_healthy());
        health.set_unhealthy();
        assert!(!health.is_healthy());
    }
}
