//! Edges from a workload's configuration: addresses in env vars (literal, from a ConfigMap key,
//! or `envFrom`), in command and args, and in mounted ConfigMap files.

use super::super::address::{self, Found, HostForm};
use super::super::model::Evidence;
use super::index::lower;
use super::{Builder, Target, confidence};
use crate::snapshot::{ContainerRecord, EnvValue, VolumeSource, WorkloadRecord};

/// Where a value was read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SourceKind {
    Env,
    ConfigMapEnv,
    Args,
    /// A mounted ConfigMap file or a long script: free text, only strong forms count.
    Text,
}

impl SourceKind {
    pub(super) fn weight(self) -> f64 {
        match self {
            SourceKind::Env => 1.0,
            SourceKind::ConfigMapEnv => 0.95,
            SourceKind::Args => 0.9,
            SourceKind::Text => 0.7,
        }
    }
}

impl<'s> Builder<'s> {
    pub(super) fn workload_edges(&mut self, w: usize) {
        let workload = &self.snapshot().workloads[w];
        for container in workload
            .pod
            .containers
            .iter()
            .chain(&workload.pod.init_containers)
        {
            self.container_edges(w, workload, container);
        }
    }

    /// The value of an environment variable as the container sees it: `env` entries (the last
    /// definition wins) over `envFrom` ConfigMaps.
    pub(super) fn env_lookup(
        &self,
        workload: &'s WorkloadRecord,
        container: &'s ContainerRecord,
        name: &str,
        before: usize,
    ) -> Option<String> {
        let namespace = workload.namespace.as_str();
        for var in container.env[..before.min(container.env.len())]
            .iter()
            .rev()
        {
            if var.name == name {
                return match &var.value {
                    EnvValue::Literal { value } => Some(value.clone()),
                    EnvValue::ConfigMapKey { config_map, key } => self
                        .index
                        .config_map(namespace, config_map)
                        .and_then(|cm| cm.data.get(key).cloned()),
                    EnvValue::Other => None,
                };
            }
        }
        container.env_from.iter().rev().find_map(|from| {
            let key = name.strip_prefix(from.prefix.as_str())?;
            self.index
                .config_map(namespace, &from.config_map)?
                .data
                .get(key)
                .cloned()
        })
    }

    pub(super) fn container_edges(
        &mut self,
        w: usize,
        workload: &'s WorkloadRecord,
        container: &'s ContainerRecord,
    ) {
        let namespace = workload.namespace.as_str();
        // envFrom ConfigMaps: every key becomes a variable.
        for from in &container.env_from {
            let Some(cm) = self.index.config_map(namespace, &from.config_map) else {
                continue;
            };
            for (key, value) in &cm.data {
                let var_name = format!("{}{key}", from.prefix);
                self.scan(w, value, Some(&var_name), SourceKind::ConfigMapEnv, &|| {
                    Evidence::ConfigMap {
                        config_map: cm.name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    }
                });
            }
        }
        for (position, var) in container.env.iter().enumerate() {
            match &var.value {
                EnvValue::Literal { value } => {
                    let expanded = address::expand(value, |name| {
                        self.env_lookup(workload, container, name, position)
                    });
                    let expanded = expanded.as_ref();
                    self.scan(w, expanded, Some(&var.name), SourceKind::Env, &|| {
                        Evidence::Env {
                            container: container.name.clone(),
                            name: var.name.clone(),
                            value: expanded.to_owned(),
                        }
                    });
                }
                EnvValue::ConfigMapKey { config_map, key } => {
                    let Some(value) = self
                        .index
                        .config_map(namespace, config_map)
                        .and_then(|cm| cm.data.get(key))
                    else {
                        continue;
                    };
                    self.scan(w, value, Some(&var.name), SourceKind::ConfigMapEnv, &|| {
                        Evidence::ConfigMap {
                            config_map: config_map.clone(),
                            key: key.clone(),
                            value: value.clone(),
                        }
                    });
                }
                EnvValue::Other => {}
            }
        }
        for arg in container.command.iter().chain(&container.args) {
            let expanded = address::expand(arg, |name| {
                self.env_lookup(workload, container, name, container.env.len())
            });
            let expanded = expanded.as_ref();
            // A shell script passed as one argument is free text.
            let kind = if expanded.contains('\n') || expanded.len() > 256 {
                SourceKind::Text
            } else {
                SourceKind::Args
            };
            self.scan(w, expanded, None, kind, &|| Evidence::Args {
                container: container.name.clone(),
                value: expanded.to_owned(),
            });
        }
        // Mounted ConfigMaps are files the program reads.
        for mount in &container.mounts {
            let Some(volume) = workload.pod.volumes.iter().find(|v| v.name == mount.volume) else {
                continue;
            };
            for source in &volume.sources {
                let VolumeSource::ConfigMap { config_map, keys } = source else {
                    continue;
                };
                let Some(cm) = self.index.config_map(namespace, config_map) else {
                    continue;
                };
                for (key, value) in &cm.data {
                    if !keys.is_empty() && !keys.contains(key) {
                        continue;
                    }
                    let kind = if value.contains('\n') {
                        SourceKind::Text
                    } else {
                        SourceKind::ConfigMapEnv
                    };
                    self.scan(w, value, Some(key), kind, &|| Evidence::ConfigMap {
                        config_map: cm.name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    });
                }
            }
        }
    }

    /// Finds the addresses in one value and adds an edge for each that resolves.
    pub(super) fn scan(
        &mut self,
        w: usize,
        value: &str,
        name: Option<&str>,
        source: SourceKind,
        evidence: &dyn Fn() -> Evidence,
    ) {
        if value.is_empty() || value.len() > 1 << 20 {
            return;
        }
        // A multi-line value is a file or a script, whatever delivered it.
        let source = if value.contains('\n') {
            SourceKind::Text
        } else {
            source
        };
        let class = name.map(address::classify_name).unwrap_or_default();
        if class.denies_dependency {
            return;
        }
        for found in address::find_addresses(value) {
            let key_class = found.key.map(address::classify_name).unwrap_or_default();
            if key_class.denies_dependency {
                continue;
            }
            let hint = class.suggests_address || key_class.suggests_address;
            let Some((target, strength)) = self.resolve_found(w, &found, hint, source) else {
                continue;
            };
            let protocol = found.address.protocol();
            let port = found.address.port.map(i32::from);
            let from = self.index.workload_ids[w].clone();
            self.add_edge(
                from,
                target,
                evidence(),
                strength * source.weight(),
                port,
                protocol,
            );
        }
    }

    /// Decides what an address found in a workload's configuration refers to, and how strongly,
    /// or None when it is not taken as a dependency.
    pub(super) fn resolve_found(
        &self,
        w: usize,
        found: &Found<'_>,
        hint: bool,
        source: SourceKind,
    ) -> Option<(Target, f64)> {
        let caller_namespace = self.snapshot().workloads[w].namespace.as_str();
        let address = &found.address;
        let qualified = address.scheme.is_some() || address.port.is_some();
        let free_text = source == SourceKind::Text;
        let to_service = |service: usize, base: f64| -> Option<(Target, f64)> {
            // A workload reaching its own Service is not a dependency.
            if self.index.backends[service].contains(&w) {
                return None;
            }
            let ports = &self.snapshot().services[service].ports;
            let strength = match address.port {
                Some(port) if ports.iter().any(|p| p.port == i32::from(port)) => {
                    confidence::PORT_MATCH
                }
                Some(_) => confidence::PORT_MISMATCH,
                None => base,
            };
            Some((Target::Service(service), strength))
        };
        let unresolved = |namespace: &str, name: &str| {
            Some((
                Target::Unresolved {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
                confidence::OUTSIDE,
            ))
        };
        match address.form {
            HostForm::Ip => None,
            HostForm::Bare { name } => {
                let name = lower(name);
                if name == "localhost" {
                    return None;
                }
                match self.index.service(caller_namespace, &name) {
                    Some(service) if qualified || hint => {
                        let base = if address.scheme.is_some() {
                            confidence::QUALIFIED
                        } else {
                            confidence::NAME_ONLY
                        };
                        to_service(service, base)
                    }
                    Some(_) => None,
                    // A name nobody defines is reported only when it is clearly an address.
                    None if qualified && hint && !free_text => unresolved(caller_namespace, &name),
                    None => None,
                }
            }
            HostForm::Dotted { first, second } => {
                let (first, second) = (lower(first), lower(second));
                if let Some(service) = self.index.service(&second, &first) {
                    return to_service(service, confidence::QUALIFIED);
                }
                // `pod.service` of a headless Service in the caller's namespace.
                if let Some(service) = self.index.service(caller_namespace, &second)
                    && self.snapshot().services[service].headless
                {
                    return to_service(service, confidence::QUALIFIED);
                }
                if self.index.namespaces.contains(second.as_ref()) {
                    return if (qualified || hint) && !free_text {
                        unresolved(&second, &first)
                    } else {
                        None
                    };
                }
                self.external(address, hint, free_text)
            }
            HostForm::Cluster { name, namespace } => {
                let (name, namespace) = (lower(name), lower(namespace));
                match self.index.service(&namespace, &name) {
                    Some(service) => to_service(service, confidence::QUALIFIED),
                    None => unresolved(&namespace, &name),
                }
            }
            HostForm::External => self.external(address, hint, free_text),
        }
    }

    pub(super) fn external(
        &self,
        address: &address::Address<'_>,
        hint: bool,
        free_text: bool,
    ) -> Option<(Target, f64)> {
        if !address::has_plausible_tld(address.host) {
            return None;
        }
        let accepted = if free_text {
            address.scheme.is_some()
        } else {
            address.scheme.is_some() || address.port.is_some() || hint
        };
        accepted.then(|| {
            (
                Target::External {
                    host: address.host.to_ascii_lowercase(),
                },
                confidence::OUTSIDE,
            )
        })
    }
}
