//! A small typed client for the Prometheus HTTP API (`/api/v1/...`): the three calls the
//! telemetry readers need, with a timeout on every request, an optional bearer token and an
//! optional CA. Every failure is a [`PrometheusError`] that names the server and the call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// How long one request may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest part of a query or body quoted in an error message.
const QUOTE_LIMIT: usize = 160;

/// Where Prometheus is and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept).
    pub url: String,
    /// Sent as `Authorization: Bearer ...`.
    pub bearer_token: Option<String>,
    /// PEM certificates to trust besides the platform's roots.
    pub ca_pem: Option<String>,
    /// Timeout of each request; [`DEFAULT_TIMEOUT`] when `None`.
    pub timeout: Option<Duration>,
}

/// Why Prometheus could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("Prometheus URL {url:?} must start with http:// or https://")]
    BadUrl { url: String },
    #[error("the CA given for Prometheus holds no PEM certificate: {message}")]
    BadCa { message: String },
    #[error("cannot build the HTTP client for Prometheus: {message}")]
    Client { message: String },
    #[error("Prometheus at {url} did not answer {call} within {seconds}s")]
    Timeout {
        url: String,
        call: String,
        seconds: u64,
    },
    #[error("cannot reach Prometheus at {url} ({call}): {message}")]
    Unreachable {
        url: String,
        call: String,
        message: String,
    },
    #[error("Prometheus at {url} answered {call} with HTTP {status}: {message}")]
    Status {
        url: String,
        call: String,
        status: u16,
        message: String,
    },
    #[error(
        "Prometheus at {url} answered {call} with something that is not its JSON API: {message}"
    )]
    Garbage {
        url: String,
        call: String,
        message: String,
    },
    #[error("Prometheus at {url} refused {call}: {error_type}: {message}")]
    Refused {
        url: String,
        call: String,
        error_type: String,
        message: String,
    },
}

impl PrometheusError {
    /// PascalCase category for metrics labels and condition reasons.
    pub fn category(&self) -> &'static str {
        match self {
            PrometheusError::BadUrl { .. }
            | PrometheusError::BadCa { .. }
            | PrometheusError::Client { .. } => "PrometheusConfig",
            PrometheusError::Timeout { .. } => "PrometheusTimeout",
            PrometheusError::Unreachable { .. } => "PrometheusUnreachable",
            PrometheusError::Status { .. } => "PrometheusStatus",
            PrometheusError::Garbage { .. } => "PrometheusGarbage",
            PrometheusError::Refused { .. } => "PrometheusRefused",
        }
    }
}

/// The API's envelope: `{"status":"success","data":...}` or `{"status":"error",...}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of an instant query.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "camelCase")]
enum QueryData {
    Vector(Vec<RawSample>),
    Scalar(RawValue),
}

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: RawValue,
}

/// `[unix_time, "value"]`.
#[derive(Deserialize)]
struct RawValue(#[allow(dead_code)] f64, String);

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A Prometheus server.
#[derive(Clone, Debug)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: String,
    bearer_token: Option<String>,
    timeout: Duration,
}

impl PrometheusClient {
    /// A client for `config`; fails on a URL that is not http(s) or a CA that holds no certificate.
    pub fn new(config: &PrometheusConfig) -> Result<Self, PrometheusError> {
        let base = config.url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PrometheusError::BadUrl {
                url: config.url.clone(),
            });
        }
        let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(config.ca_pem.as_deref())?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| PrometheusError::Client {
                message: e.to_string(),
            })?;
        Ok(PrometheusClient {
            http,
            base,
            bearer_token: config.bearer_token.clone().filter(|t| !t.is_empty()),
            timeout,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Names of the metrics the server holds (`/api/v1/label/__name__/values`): what exists,
    /// asked, never guessed.
    pub async fn metric_names(&self) -> Result<BTreeSet<String>, PrometheusError> {
        let names: Vec<String> = self
            .get("/api/v1/label/__name__/values", &[], "the metric names")
            .await?;
        Ok(names.into_iter().collect())
    }

    /// Label sets of the series matching `selector` (`/api/v1/series`), over the last `window`.
    pub async fn series(
        &self,
        selector: &str,
        window: Duration,
    ) -> Result<Vec<BTreeMap<String, String>>, PrometheusError> {
        let end = jiff::Timestamp::now().as_second();
        let start = end.saturating_sub(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
        let (start, end) = (start.to_string(), end.to_string());
        self.get(
            "/api/v1/series",
            &[("match[]", selector), ("start", &start), ("end", &end)],
            &format!("series {}", quote(selector)),
        )
        .await
    }

    /// An instant query at the server's now. A scalar result is one sample without labels.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, PrometheusError> {
        let call = format!("query {}", quote(promql));
        let data: QueryData = self
            .get("/api/v1/query", &[("query", promql)], &call)
            .await?;
        let garbage = |message: String| PrometheusError::Garbage {
            url: self.base.clone(),
            call: call.clone(),
            message,
        };
        let parse = |raw: &str| {
            raw.parse::<f64>()
                .map_err(|_| garbage(format!("sample value {raw:?} is not a number")))
        };
        match data {
            QueryData::Vector(samples) => samples
                .into_iter()
                .map(|s| {
                    Ok(Sample {
                        value: parse(&s.value.1)?,
                        labels: s.metric,
                    })
                })
                .collect(),
            QueryData::Scalar(value) => Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: parse(&value.1)?,
            }]),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        call: &str,
    ) -> Result<T, PrometheusError> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|_| PrometheusError::BadUrl {
                url: self.base.clone(),
            })?;
        let mut request = self.http.get(url);
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                PrometheusError::Timeout {
                    url: self.base.clone(),
                    call: call.to_owned(),
                    seconds: self.timeout.as_secs().max(1),
                }
            } else {
                PrometheusError::Unreachable {
                    url: self.base.clone(),
                    call: call.to_owned(),
                    // The URL is in the message already; reqwest's would repeat it, query and all.
                    message: error_chain(&e.without_url()),
                }
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&body);
        match envelope {
            Ok(Envelope {
                status: word,
                data: Some(data),
                ..
            }) if status.is_success() && word == "success" => Ok(data),
            // The API reports bad queries as 400/422 with an error envelope.
            Ok(Envelope {
                error_type, error, ..
            }) if error.is_some() => Err(PrometheusError::Refused {
                url: self.base.clone(),
                call: call.to_owned(),
                error_type: error_type.unwrap_or_else(|| status.as_u16().to_string()),
                message: error.unwrap_or_default(),
            }),
            _ if status != StatusCode::OK => Err(PrometheusError::Status {
                url: self.base.clone(),
                call: call.to_owned(),
                status: status.as_u16(),
                message: quote(&String::from_utf8_lossy(&body)),
            }),
            Ok(_) => Err(PrometheusError::Garbage {
                url: self.base.clone(),
                call: call.to_owned(),
                message: "a success without data".into(),
            }),
            Err(e) => Err(PrometheusError::Garbage {
                url: self.base.clone(),
                call: call.to_owned(),
                message: format!(
                    "{e}; body starts {}",
                    quote(&String::from_utf8_lossy(&body))
                ),
            }),
        }
    }
}

/// `text` cut to [`QUOTE_LIMIT`] characters, quoted.
fn quote(text: &str) -> String {
    let cut: String = text.chars().take(QUOTE_LIMIT).collect();
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// An error with its causes (reqwest's own message hides the interesting part).
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

/// rustls with ring: the platform's roots, plus `ca_pem` when given.
pub(crate) fn tls_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, PrometheusError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PrometheusError::Client {
            message: format!("TLS: {e}"),
        })?;
    let config = match ca_pem {
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| PrometheusError::Client {
                    message: format!("TLS: {e}"),
                })?
                .with_no_client_auth()
        }
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| PrometheusError::BadCa {
                    message: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| PrometheusError::BadCa {
                    message: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(PrometheusError::BadCa {
                    message: "no CERTIFICATE block found".into(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http() {
        let config = PrometheusConfig {
            url: "prometheus:9090".into(),
            ..PrometheusConfig::default()
        };
        assert!(matches!(
            PrometheusClient::new(&config),
            Err(PrometheusError::BadUrl { .. })
        ));
    }

    #[test]
    fn a_ca_without_certificates_is_refused() {
        let config = PrometheusConfig {
            url: "https://prometheus:9090".into(),
            ca_pem: Some("not a certificate".into()),
            ..PrometheusConfig::default()
        };
        let error = PrometheusClient::new(&config).unwrap_err();
        assert_eq!(error.category(), "PrometheusConfig");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn long_text_is_cut_when_quoted() {
        assert_eq!(quote("up"), "\"up\"");
        assert!(quote(&"x".repeat(500)).ends_with("\"..."));
    }
}
