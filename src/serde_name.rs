//! Names of enum values as serde spells them: the one source for the text people read (CLI output,
//! status messages, conditions, findings, rendered maps), so that what they read is what they
//! would write in a manifest or find in JSON. `{:?}` prints the Rust name, which is neither.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// What [`serde_name`] gives for a value that is not a unit enum variant; the tests of every
/// enum given a `Display` below make sure it is never seen.
pub const NO_SERDE_NAME: &str = "(unnamed)";

/// The name serde gives `value`, a unit enum variant (its `rename` / `rename_all` spelling).
pub fn serde_name<T: Serialize + ?Sized>(value: &T) -> &'static str {
    value.serialize(UnitVariantName).unwrap_or(NO_SERDE_NAME)
}

/// `Display` as the serde name, for enums whose every variant is a unit variant.
macro_rules! display_as_serde_name {
    ($($kind:ty),+ $(,)?) => {$(
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(serde_name(self))
            }
        }
    )+};
}

display_as_serde_name!(
    crate::analysis::Severity,
    crate::analysis::TierName,
    crate::api::ApprovalState,
    crate::api::CheckKind,
    crate::api::ProviderName,
    crate::chaosmesh::SelectorMode,
    crate::servicemap::CallEnd,
    crate::servicemap::DataStoreKind,
    crate::servicemap::ServiceType,
);

/// A serializer that accepts only a unit variant (through newtype structs) and returns its name.
struct UnitVariantName;

/// Anything but a unit variant.
#[derive(Debug)]
struct NotAUnitVariant;

impl fmt::Display for NotAUnitVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a unit enum variant")
    }
}

impl std::error::Error for NotAUnitVariant {}

impl ser::Error for NotAUnitVariant {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotAUnitVariant
    }
}

type Refused = Impossible<&'static str, NotAUnitVariant>;

/// Serializer methods that refuse their value.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),+ $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<&'static str, NotAUnitVariant> {
            Err(NotAUnitVariant)
        }
    )+};
}

impl ser::Serializer for UnitVariantName {
    type Ok = &'static str;
    type Error = NotAUnitVariant;
    type SerializeSeq = Refused;
    type SerializeTuple = Refused;
    type SerializeTupleStruct = Refused;
    type SerializeTupleVariant = Refused;
    type SerializeMap = Refused;
    type SerializeStruct = Refused;
    type SerializeStructVariant = Refused;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<&'static str, NotAUnitVariant> {
        Ok(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<&'static str, NotAUnitVariant> {
        value.serialize(self)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<&'static str, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<&'static str, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple(self, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::analysis::Severity::{self, *};
    use crate::analysis::{StageId, TierName};
    use crate::api::{ApprovalState, CheckKind, ProviderName};
    use crate::chaosmesh::{ChaosKind, SelectorMode};
    use crate::servicemap::{CallEnd, DataStoreKind, EvidenceKind, NodeKind, ServiceType};

    /// `Display` is the JSON spelling, and reads back as the same value.
    fn displays_as_json<T>(values: &[T])
    where
        T: Serialize + DeserializeOwned + fmt::Display + PartialEq + fmt::Debug,
    {
        for value in values {
            let shown = value.to_string();
            assert_ne!(shown, NO_SERDE_NAME, "{value:?}");
            assert_eq!(
                serde_json::to_string(value).unwrap(),
                format!("\"{shown}\"")
            );
            assert_eq!(
                &serde_json::from_str::<T>(&format!("\"{shown}\"")).unwrap(),
                value
            );
        }
    }

    #[test]
    fn every_displayed_enum_shows_its_serde_name() {
        displays_as_json(&[Info, Low, Medium, High, Critical]);
        displays_as_json(&[
            TierName::Entry,
            TierName::Frontend,
            TierName::Backend,
            TierName::Data,
            TierName::Unreached,
            TierName::LoadGenerator,
            TierName::External,
        ]);
        use ApprovalState::*;
        displays_as_json(&[Pending, Approved, Rejected]);
        use CheckKind::*;
        displays_as_json(&[AvailableReplicas, ReadyEndpoints, Http, Prometheus]);
        use ProviderName::*;
        displays_as_json(&[Builtin, Bedrock, Openai]);
        use SelectorMode::*;
        displays_as_json(&[One, All, Fixed, FixedPercent, RandomMaxPercent]);
        displays_as_json(&[CallEnd::Caller, CallEnd::Callee]);
        use ServiceType::*;
        displays_as_json(&[ClusterIP, Headless, NodePort, LoadBalancer, ExternalName]);
        use DataStoreKind::*;
        displays_as_json(&[
            Redis,
            Postgres,
            Mysql,
            Mongodb,
            Cassandra,
            Elasticsearch,
            Memcached,
            Rabbitmq,
            Kafka,
            Nats,
            Etcd,
            Zookeeper,
        ]);
    }

    #[test]
    fn names_are_the_serde_renames() {
        assert_eq!(SelectorMode::FixedPercent.to_string(), "fixed-percent");
        assert_eq!(TierName::LoadGenerator.to_string(), "loadGenerator");
        assert_eq!(StageId::SteadyState.as_str(), "steadyState");
        assert_eq!(NodeKind::HTTPRoute.as_str(), "HTTPRoute");
        assert_eq!(ChaosKind::IOChaos.as_str(), "IOChaos");
    }

    /// Each `as_str` is the JSON spelling.
    fn as_str_is_json<T: Serialize>(values: &[T], as_str: impl Fn(&T) -> &'static str) {
        for value in values {
            assert_eq!(
                serde_json::to_string(value).unwrap(),
                format!("\"{}\"", as_str(value))
            );
        }
    }

    #[test]
    fn every_as_str_is_the_serde_name() {
        as_str_is_json(&StageId::ALL, |s| s.as_str());
        as_str_is_json(&ChaosKind::ALL, |k| k.as_str());
        as_str_is_json(&[Info, Low, Medium, High, Critical], |s| s.as_str());
        use NodeKind::*;
        as_str_is_json(
            &[
                Deployment,
                StatefulSet,
                DaemonSet,
                Job,
                CronJob,
                Pod,
                Service,
                Ingress,
                HTTPRoute,
                VirtualService,
                External,
                Unresolved,
            ],
            |k| k.as_str(),
        );
        use EvidenceKind::*;
        as_str_is_json(&[Config, Traffic, Declared], |k| k.as_str());
        use crate::remediate::PatchedKind;
        as_str_is_json(
            &[
                PatchedKind::Deployment,
                PatchedKind::StatefulSet,
                PatchedKind::DaemonSet,
            ],
            |k| k.as_str(),
        );
        use crate::snapshot::WorkloadKind;
        as_str_is_json(
            &[
                WorkloadKind::Deployment,
                WorkloadKind::StatefulSet,
                WorkloadKind::DaemonSet,
                WorkloadKind::Job,
                WorkloadKind::CronJob,
                WorkloadKind::Pod,
            ],
            |k| k.as_str(),
        );
    }

    /// Text people read where enums used to be printed with `{:?}`.
    #[test]
    fn user_facing_text_spells_enums_as_serde_does() {
        use crate::analysis::{analyze_builtin, fixtures, render_map_compact};
        let map = fixtures::boutique();
        for picture in [map.to_dot(), map.to_mermaid()] {
            assert!(!picture.contains("Redis"), "{picture}");
        }
        assert!(render_map_compact(&map).contains("dataStore=redis"));
        let result = analyze_builtin(&map, &Default::default()).unwrap();
        assert!(
            result
                .dependencies
                .findings
                .iter()
                .any(|f| f.message.contains("redis-cart (redis) runs 1 replica")),
            "{:#?}",
            result.dependencies.findings
        );
        let via = crate::servicemap::EntryVia::ServiceType {
            service_type: ServiceType::LoadBalancer,
        };
        assert_eq!(via.to_string(), "LoadBalancer Service");
    }

    #[test]
    fn anything_but_a_unit_variant_has_no_name() {
        assert_eq!(serde_name("text"), NO_SERDE_NAME);
        assert_eq!(serde_name(&3u8), NO_SERDE_NAME);
        assert_eq!(serde_name(&Some(Severity::Low)), NO_SERDE_NAME);
        assert_eq!(serde_name(&[Severity::Low]), NO_SERDE_NAME);
    }
}
