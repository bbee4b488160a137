//! The analysis' provider spec and credentials Secret, translated into the [`ProviderConfig`]
//! that [`crate::llm::factory::build_engine`] takes, the same factory the CLI uses.
//!
//! The Secret named in `spec.provider.credentialsSecretRef` is the one Secret the operator reads,
//! and only when an analysis names it. Its values go into the config and nowhere else (the
//! config's `Debug` hides them).

use k8s_openapi::api::core::v1::Secret;

use super::Context;
use crate::api::{CredentialsSecretRef, ProviderName, ProviderSpec};
use crate::llm::factory::{Engine, build_engine};
use crate::llm::pricing::PriceTable;
use crate::llm::{BudgetLimits, EngineOptions, LlmSettings, ProviderConfig, StaticAwsCredentials};

/// Key of the OpenAI API key when `credentialsSecretRef.key` is unset.
pub const DEFAULT_API_KEY_KEY: &str = "apiKey";
/// Keys of AWS credentials in the Secret: the names of the AWS environment variables.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// The engine for `spec` in namespace `ns`, or a message a person can act on.
pub async fn engine_for(ctx: &Context, spec: &ProviderSpec, ns: &str) -> Result<Engine, String> {
    let secret = match &spec.credentials_secret_ref {
        Some(reference) => Some(
            super::telemetry::named_secret(
                &ctx.client,
                ns,
                &reference.name,
                "spec.provider.credentialsSecretRef",
            )
            .await?,
        ),
        None => None,
    };
    let config = provider_config(spec, secret.as_ref(), ctx.config.llm_settings.clone())
        .map_err(|e| format!("spec.provider: {e}"))?;
    build_engine(
        config,
        PriceTable::builtin(),
        Some(ctx.llm_cache.clone()),
        EngineOptions::default(),
    )
    .await
    .map_err(|e| format!("provider {}: {e}", spec.name))
}

/// The configuration `spec` asks for, with the credentials from `secret` (the one named in the
/// spec, already read). Pure, so every mistake in a Secret is tested without a cluster.
pub fn provider_config(
    spec: &ProviderSpec,
    secret: Option<&Secret>,
    settings: LlmSettings,
) -> Result<ProviderConfig, String> {
    let budgets = match &spec.budgets {
        Some(b) => BudgetLimits::try_from(b).map_err(|e| e.to_string())?,
        None => BudgetLimits::default(),
    };
    let mut config = ProviderConfig {
        provider: spec.name,
        default_model: spec.model.clone(),
        stage_models: spec.stage_models.clone(),
        region: spec.region.clone(),
        endpoint: spec.endpoint.clone(),
        settings,
        budgets,
        ..ProviderConfig::default()
    };
    let (Some(reference), Some(secret)) = (&spec.credentials_secret_ref, secret) else {
        return Ok(config);
    };
    let values = SecretValues { reference, secret };
    match spec.name {
        ProviderName::Builtin => {}
        ProviderName::Openai => {
            let key = reference.key.as_deref().unwrap_or(DEFAULT_API_KEY_KEY);
            config.api_key = Some(values.required(key)?);
        }
        ProviderName::Bedrock => {
            if let Some(key) = &reference.key {
                return Err(format!(
                    "credentialsSecretRef.key ({key:?}) is for openai; a bedrock Secret holds \
                     {AWS_ACCESS_KEY_ID}, {AWS_SECRET_ACCESS_KEY} and optionally {AWS_SESSION_TOKEN}"
                ));
            }
            config.aws_credentials = Some(StaticAwsCredentials {
                access_key_id: values.required(AWS_ACCESS_KEY_ID)?,
                secret_access_key: values.required(AWS_SECRET_ACCESS_KEY)?,
                session_token: values.optional(AWS_SESSION_TOKEN)?,
            });
        }
    }
    Ok(config)
}

/// The values of the credentials Secret, with errors that name the Secret and key (never a value).
struct SecretValues<'a> {
    reference: &'a CredentialsSecretRef,
    secret: &'a Secret,
}

impl SecretValues<'_> {
    fn optional(&self, key: &str) -> Result<Option<String>, String> {
        let name = &self.reference.name;
        let Some(bytes) = self.secret.data.as_ref().and_then(|d| d.get(key)) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&bytes.0)
            .map_err(|_| format!("Secret {name} key {key:?} is not UTF-8"))?
            .trim();
        if text.is_empty() {
            return Err(format!("Secret {name} key {key:?} is empty"));
        }
        Ok(Some(text.to_string()))
    }

    fn required(&self, key: &str) -> Result<String, String> {
        self.optional(key)?
            .ok_or_else(|| format!("Secret {} has no key {key:?}", self.reference.name))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    fn spec(name: ProviderName, key: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            name,
            model: Some("m".into()),
            credentials_secret_ref: Some(CredentialsSecretRef {
                name: "creds".into(),
                key: key.map(str::to_string),
            }),
            ..ProviderSpec::default()
        }
    }

    #[test]
    fn bedrock_reads_aws_keys() {
        let with_token = secret(&[
            (AWS_ACCESS_KEY_ID, "AKIDEXAMPLE\n"),
            (AWS_SECRET_ACCESS_KEY, "wJalr"),
            (AWS_SESSION_TOKEN, "tok"),
        ]);
        let config = provider_config(
            &spec(ProviderName::Bedrock, None),
            Some(&with_token),
            LlmSettings::default(),
        )
        .unwrap();
        assert_eq!(
            config.aws_credentials,
            Some(StaticAwsCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalr".into(),
                session_token: Some("tok".into()),
            })
        );
        assert_eq!(config.api_key, None);
        let without_token = secret(&[(AWS_ACCESS_KEY_ID, "A"), (AWS_SECRET_ACCESS_KEY, "S")]);
        let config = provider_config(
            &spec(ProviderName::Bedrock, None),
            Some(&without_token),
            LlmSettings::default(),
        )
        .unwrap();
        assert_eq!(config.aws_credentials.unwrap().session_token, None);
    }

    #[test]
    fn bedrock_refuses_an_incomplete_secret() {
        let error = provider_config(
            &spec(ProviderName::Bedrock, None),
            Some(&secret(&[(AWS_ACCESS_KEY_ID, "AKIDEXAMPLE")])),
            LlmSettings::default(),
        )
        .unwrap_err();
        assert!(error.contains(AWS_SECRET_ACCESS_KEY), "{error}");
        assert!(!error.contains("AKIDEXAMPLE"), "{error}");
        let error = provider_config(
            &spec(ProviderName::Bedrock, Some("token")),
            Some(&secret(&[])),
            LlmSettings::default(),
        )
        .unwrap_err();
        assert!(error.contains("is for openai"), "{error}");
    }

    #[test]
    fn openai_reads_the_named_key_or_api_key() {
        let config = provider_config(
            &spec(ProviderName::Openai, Some("token")),
            Some(&secret(&[("token", " sk-1 ")])),
            LlmSettings::default(),
        )
        .unwrap();
        assert_eq!(config.api_key.as_deref(), Some("sk-1"));
        assert_eq!(config.aws_credentials, None);
        let config = provider_config(
            &spec(ProviderName::Openai, None),
            Some(&secret(&[(DEFAULT_API_KEY_KEY, "sk-2")])),
            LlmSettings::default(),
        )
        .unwrap();
        assert_eq!(config.api_key.as_deref(), Some("sk-2"));
        let error = provider_config(
            &spec(ProviderName::Openai, Some("token")),
            Some(&secret(&[("token", "")])),
            LlmSettings::default(),
        )
        .unwrap_err();
        assert!(error.contains("empty"), "{error}");
    }

    #[test]
    fn without_a_secret_the_standard_chain() {
        let mut spec = spec(ProviderName::Bedrock, None);
        spec.credentials_secret_ref = None;
        let config = provider_config(&spec, None, LlmSettings::default()).unwrap();
        assert_eq!(config.aws_credentials, None);
        assert_eq!(config.default_model.as_deref(), Some("m"));
    }
}
