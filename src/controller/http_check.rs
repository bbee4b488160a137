//! `Http` steady-state checks, evaluated by the operator itself: it runs in the cluster, so it
//! reaches the entry points and Services a check names. A GET that answers 2xx or 3xx (redirects
//! are not followed) holds; any other status, a refused connection or no answer within the
//! timeout is a breach, because an unreachable service is exactly what a check exists to catch.
//! Only the status code is read; the body is never stored or shown.

use std::sync::OnceLock;
use std::time::Duration;

use super::checks::CheckOutcome;
use crate::analysis::check_target::{CheckTargets, check_url};
use crate::api::SteadyStateCheck;

/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client of the checks, built on first use (most operators never probe).
#[derive(Debug, Default)]
pub struct HttpProber {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl HttpProber {
    fn client(&self) -> Result<&reqwest::Client, &str> {
        self.client
            .get_or_init(|| {
                let tls = crate::traffic::prometheus::client::tls_config(None)
                    .map_err(|e| format!("building the HTTP client: {e}"))?;
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(PROBE_TIMEOUT)
                    .connect_timeout(PROBE_TIMEOUT)
                    .build()
                    .map_err(|e| format!("building the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Evaluates one `Http` check. A URL the target guard refuses is never fetched: the check
    /// is unavailable, which keeps the run from starting (see [`check_url`]).
    pub async fn probe(
        &self,
        check: &SteadyStateCheck,
        targets: &CheckTargets<'_>,
    ) -> CheckOutcome {
        let Some(url) = check.url.as_deref().map(str::trim) else {
            return CheckOutcome::NotEvaluated {
                reason: "an Http check needs url".into(),
            };
        };
        if let Err(why) = check_url(url, targets) {
            return CheckOutcome::Unavailable {
                reason: format!("refused to probe: {why}"),
            };
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(reason) => {
                return CheckOutcome::Unavailable {
                    reason: reason.to_string(),
                };
            }
        };
        match client.get(url).send().await {
            Ok(response) => judge_status(url, response.status().as_u16()),
            Err(error) if error.is_timeout() => CheckOutcome::Broken {
                reason: format!("GET {url} did not answer within {PROBE_TIMEOUT:?}"),
            },
            Err(error) => CheckOutcome::Broken {
                reason: format!("GET {url} failed: {}", error_chain(&error)),
            },
        }
    }
}

/// 2xx and 3xx hold (the value is the status code); anything else breaks.
pub fn judge_status(url: &str, status: u16) -> CheckOutcome {
    if (200..400).contains(&status) {
        CheckOutcome::Holds {
            value: i64::from(status),
        }
    } else {
        CheckOutcome::Broken {
            reason: format!("GET {url} answered {status}"),
        }
    }
}

/// The error with its causes ("connection refused" sits a few sources down).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::check_target::CheckTargetSettings;
    use crate::api::CheckKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The tests' servers listen on loopback, which only the operator's explicit setting allows.
    fn loopback() -> CheckTargetSettings {
        CheckTargetSettings {
            allow_loopback: true,
            ..CheckTargetSettings::default()
        }
    }

    fn targets(settings: &CheckTargetSettings) -> CheckTargets<'_> {
        CheckTargets {
            namespaces: Default::default(),
            settings,
        }
    }

    fn check(url: &str) -> SteadyStateCheck {
        SteadyStateCheck {
            name: "front".into(),
            kind: CheckKind::Http,
            subject: None,
            url: Some(url.into()),
            query: None,
            min_value: 1,
            max_value: None,
        }
    }

    /// A one-connection-at-a-time HTTP server on 127.0.0.1 answering `status`.
    async fn server(status: u16) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nLocation: /elsewhere\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_live_endpoint_holds_and_a_failing_one_breaks() {
        let prober = HttpProber::default();
        let settings = loopback();
        let targets = targets(&settings);
        let ok = server(200).await;
        assert_eq!(
            prober
                .probe(&check(&format!("http://{ok}/healthz")), &targets)
                .await,
            CheckOutcome::Holds { value: 200 }
        );
        let moved = server(302).await;
        assert_eq!(
            prober
                .probe(&check(&format!("http://{moved}/")), &targets)
                .await,
            CheckOutcome::Holds { value: 302 }
        );
        let failing = server(503).await;
        match prober
            .probe(&check(&format!("http://{failing}/")), &targets)
            .await
        {
            CheckOutcome::Broken { reason } => assert!(reason.contains("503"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_target_is_never_fetched_and_keeps_the_run_from_starting() {
        let prober = HttpProber::default();
        let ok = server(200).await;
        let settings = CheckTargetSettings::default();
        match prober
            .probe(&check(&format!("http://{ok}/")), &targets(&settings))
            .await
        {
            CheckOutcome::Unavailable { reason } => {
                assert!(reason.contains("refused to probe"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_a_breach_and_a_bad_url_is_not_evaluated() {
        let prober = HttpProber::default();
        let settings = loopback();
        let targets = targets(&settings);
        let closed = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        match prober
            .probe(&check(&format!("http://{closed}/")), &targets)
            .await
        {
            CheckOutcome::Broken { reason } => assert!(reason.contains("failed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            prober.probe(&check("ftp://example/"), &targets).await,
            CheckOutcome::Unavailable { .. }
        ));
    }
}
