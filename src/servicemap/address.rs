//! Finding network addresses in configuration values.
//!
//! Understands `name`, `name:port`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`,
//! `pod.name.ns.svc.cluster.local`, URLs with any scheme (`http://`, `grpc://`,
//! `postgres://user:pw@host:5432/db`, `mongodb://a:1,b:2/db`, `jdbc:mysql://...`), IP literals,
//! lists separated by commas, semicolons or spaces, `--flag=value` and `-Dkey=value` tokens, and
//! Kubernetes `$(VAR)` expansion. What an address refers to (a Service, an external host) is
//! decided by the map builder, which knows the Services.

use std::borrow::Cow;

/// The shape of a host name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostForm<'v> {
    /// One DNS label: a Service in the caller's namespace, if any.
    Bare { name: &'v str },
    /// Two labels: `service.namespace`, `pod.service` (headless) or an external host.
    Dotted { first: &'v str, second: &'v str },
    /// Cluster DNS: `name.ns.svc[.<cluster domain>]` or `pod.name.ns.svc[...]`.
    Cluster { name: &'v str, namespace: &'v str },
    /// Any other DNS name with dots.
    External,
    /// An IPv4 or IPv6 literal.
    Ip,
}

/// An address found in a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address<'v> {
    /// The URL scheme, lower case (`jdbc:` prefixes removed).
    pub scheme: Option<Cow<'v, str>>,
    /// The host as written, without a trailing dot.
    pub host: &'v str,
    pub port: Option<u16>,
    pub form: HostForm<'v>,
}

impl Address<'_> {
    /// The protocol the scheme names, normalized (`postgresql` → `postgres`...).
    pub fn protocol(&self) -> Option<&'static str> {
        self.scheme.as_deref().and_then(protocol_of_scheme)
    }
}

/// An address with the key it was given under in its token (`--db=host:1` → `db`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<'v> {
    pub key: Option<&'v str>,
    pub address: Address<'v>,
}

/// Schemes that never name a network peer.
const LOCAL_SCHEMES: &[&str] = &["file", "data", "mailto", "classpath", "unix", "jar", "urn"];

/// Maps a URL scheme to a protocol name.
pub fn protocol_of_scheme(scheme: &str) -> Option<&'static str> {
    Some(match scheme {
        "http" => "http",
        "https" => "https",
        "ws" | "wss" => "websocket",
        "grpc" | "grpcs" | "dns" | "xds" => "grpc",
        "redis" | "rediss" | "redis+sentinel" => "redis",
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        "mongodb" | "mongodb+srv" => "mongodb",
        "amqp" | "amqps" => "amqp",
        "kafka" | "kafka+ssl" => "kafka",
        "nats" | "tls" => "nats",
        "memcached" | "memcache" => "memcached",
        "cassandra" | "cql" => "cassandra",
        "elasticsearch" | "es" => "elasticsearch",
        "etcd" => "etcd",
        "zookeeper" | "zk" => "zookeeper",
        "tcp" => "tcp",
        "udp" => "udp",
        "ftp" | "sftp" => "ftp",
        "smtp" | "smtps" => "smtp",
        "ldap" | "ldaps" => "ldap",
        "thrift" => "thrift",
        "nacos" | "consul" => "http",
        _ => return None,
    })
}

/// Whether a variable or key name suggests its value is an address (`CART_SERVICE_ADDR`,
/// `redisHost`, `mongo`), and is not one of the names that merely describe a peer
/// (`SERVICE_NAME`, `DB_PORT`, `REDIS_PASSWORD`).
pub fn name_suggests_address(name: &str) -> bool {
    words_suggest_address(&name_words(name))
}

fn words_suggest_address(words: &[String]) -> bool {
    const ADDRESS_WORDS: &[&str] = &[
        "HOST",
        "ADDR",
        "URL",
        "URI",
        "ENDPOINT",
        "SERVICE",
        "SERVER",
        "BROKER",
        "DSN",
        "UPSTREAM",
        "BACKEND",
        "PEER",
        "REDIS",
        "MONGO",
        "POSTGRES",
        "PG",
        "MYSQL",
        "DATABASE",
        "DB",
        "KAFKA",
        "AMQP",
        "RABBIT",
        "NATS",
        "MEMCACHE",
        "ELASTIC",
        "ZOOKEEPER",
        "ETCD",
        "CASSANDRA",
        "CONNECTION",
        "CONN",
        "API",
        "PROXY",
        "COLLECTOR",
        "AGENT",
        "ZIPKIN",
        "JAEGER",
        "OTLP",
        "REMOTE",
        "TARGET",
        "CLUSTER",
        "NODES",
        "SEEDS",
    ];
    const NOT_ADDRESS_SUFFIXES: &[&str] = &[
        "NAME", "NAMES", "PORT", "PATH", "DIR", "FILE", "ENABLED", "ENABLE", "DISABLED", "ID",
        "VERSION", "TIMEOUT", "USER", "USERNAME", "PASSWORD", "PASS", "PWD", "KEY", "TOKEN",
        "SECRET", "TYPE", "MODE", "LEVEL", "SIZE", "COUNT", "REPLICAS", "RETRIES", "INTERVAL",
        "PROTOCOL", "SCHEME", "REGION", "ZONE", "ACCOUNT", "DATABASE", "DB", "INDEX", "TOPIC",
        "QUEUE", "EXCHANGE", "BUCKET", "PREFIX", "SUFFIX", "FORMAT",
    ];
    let Some(last) = words.last() else {
        return false;
    };
    // A name that is only the store (`mongo`, `REDIS`, `DATABASE`) still points at it.
    if words.len() > 1 && NOT_ADDRESS_SUFFIXES.contains(&last.as_str()) {
        return false;
    }
    words
        .iter()
        .any(|w| ADDRESS_WORDS.iter().any(|a| w == a || w.starts_with(a)))
}

/// Whether a variable or key name says its value is an address but not a dependency: the
/// application's own public URL, allowed CORS origins, OAuth redirect targets.
pub fn name_denies_dependency(name: &str) -> bool {
    words_deny_dependency(&name_words(name))
}

fn words_deny_dependency(words: &[String]) -> bool {
    const NOT_DEPENDENCY_WORDS: &[&str] = &[
        "ORIGIN",
        "ORIGINS",
        "CORS",
        "REDIRECT",
        "CALLBACK",
        "PUBLIC",
        "HOMEPAGE",
        "WEBSITE",
        "ALLOWED",
        "AUDIENCE",
        "ADVERTISED",
        "LISTEN",
        "LISTENERS",
        "BIND",
        "SELF",
    ];
    words
        .iter()
        .any(|w| NOT_DEPENDENCY_WORDS.contains(&w.as_str()))
}

/// What a variable or key name says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NameClass {
    /// See [`name_suggests_address`].
    pub suggests_address: bool,
    /// See [`name_denies_dependency`].
    pub denies_dependency: bool,
}

/// Both judgements on a name, splitting it into words once.
pub fn classify_name(name: &str) -> NameClass {
    let words = name_words(name);
    NameClass {
        suggests_address: words_suggest_address(&words),
        denies_dependency: words_deny_dependency(&words),
    }
}

/// Splits `CART_SERVICE_ADDR`, `redisHost`, `spring.data.mongodb.uri`, `db-url` into upper-case
/// words.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_uppercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Expands Kubernetes `$(VAR)` references with `lookup`; `$$(VAR)` is an escaped literal and an
/// unknown variable stays as written, as the kubelet does.
pub fn expand<'v>(value: &'v str, lookup: impl Fn(&str) -> Option<String>) -> Cow<'v, str> {
    if !value.contains("$(") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix("$(") {
            out.push_str("$(");
            rest = escaped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str(&rest[at..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | ';' | '"' | '\'' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '|'
        )
}

/// Every address in a value: a single address, a list, a URL with several hosts, or tokens of
/// a command line or a configuration file.
pub fn find_addresses(value: &str) -> Vec<Found<'_>> {
    let mut found = Vec::new();
    // The scheme of `mongodb://a:1,b:2/db` carries over to `b:2/db`.
    let mut carried_scheme: Option<Cow<'_, str>> = None;
    let mut previous_end = 0usize;
    let mut start = None;
    let bytes_end = value.len();
    let mut boundaries: Vec<(usize, usize)> = Vec::new();
    // An unexpanded `$(VAR)` (e.g. a password from a Secret) is part of its token, not a break.
    let mut in_placeholder = false;
    let mut previous = '\0';
    for (i, c) in value.char_indices() {
        let opens_placeholder = c == '(' && previous == '$';
        previous = c;
        if in_placeholder {
            in_placeholder = c != ')';
            continue;
        }
        if opens_placeholder {
            in_placeholder = true;
            continue;
        }
        if is_separator(c) {
            if let Some(s) = start.take() {
                boundaries.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        boundaries.push((s, bytes_end));
    }
    for (s, e) in boundaries {
        let token = &value[s..e];
        let follows_comma = value[previous_end..s].trim() == ",";
        previous_end = e;
        let (key, candidate) = split_key(token);
        match parse_address(candidate) {
            Some(mut address) => {
                if address.scheme.is_some() {
                    carried_scheme = address.scheme.clone();
                } else if follows_comma {
                    address.scheme = carried_scheme.clone();
                } else {
                    carried_scheme = None;
                }
                found.push(Found { key, address });
            }
            None => carried_scheme = None,
        }
    }
    found
}

/// `--flag=value`, `-Dkey=value` and `key=value` give (key, value); a URL's own `=` (in its query)
/// is left alone.
fn split_key(token: &str) -> (Option<&str>, &str) {
    if let Some(eq) = token.find('=') {
        let (key, value) = (&token[..eq], &token[eq + 1..]);
        let identifier = key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if identifier && !key.is_empty() {
            let key = key.trim_start_matches('-');
            let key = key
                .strip_prefix('D')
                .filter(|_| token.starts_with("-D"))
                .unwrap_or(key);
            return (Some(key), value);
        }
    }
    (None, token)
}

/// Parses one address: `[scheme://][user[:pw]@]host[:port][/path][?query]`.
pub fn parse_address(token: &str) -> Option<Address<'_>> {
    if token
        .trim_matches(|c: char| matches!(c, ':' | '.' | '/'))
        .is_empty()
    {
        return None;
    }
    let without_jdbc = strip_prefix_ignore_case(token, "jdbc:").unwrap_or(token);
    let (scheme, rest) = match without_jdbc.find("://") {
        Some(at) => {
            let scheme = &without_jdbc[..at];
            let valid = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if !valid {
                return None;
            }
            let scheme: Cow<'_, str> = if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(scheme.to_ascii_lowercase())
            } else {
                Cow::Borrowed(scheme)
            };
            if LOCAL_SCHEMES.contains(&scheme.as_ref()) {
                return None;
            }
            (Some(scheme), &without_jdbc[at + 3..])
        }
        None => (None, without_jdbc),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if host_port.is_empty() {
        return None;
    }
    if let Some(v6) = host_port.strip_prefix('[') {
        let end = v6.find(']')?;
        let port = parse_port(v6[end + 1..].strip_prefix(':'))?;
        return Some(Address {
            scheme,
            host: &v6[..end],
            port,
            form: HostForm::Ip,
        });
    }
    let (host, port) = match host_port.rfind(':') {
        Some(at) => (&host_port[..at], parse_port(Some(&host_port[at + 1..]))?),
        None => (host_port, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let form = host_form(host)?;
    Some(Address {
        scheme,
        host,
        port,
        form,
    })
}

fn strip_prefix_ignore_case<'t>(token: &'t str, prefix: &str) -> Option<&'t str> {
    let head = token.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &token[prefix.len()..])
}

/// `None` port text: no port. Digits: the port. An unexpanded placeholder (`$(PORT)`,
/// `${PORT}`): no port known. Anything else: not an address (Some(None) vs None).
fn parse_port(text: Option<&str>) -> Option<Option<u16>> {
    let Some(text) = text else {
        return Some(None);
    };
    if text.starts_with('$') || text.starts_with('{') {
        return Some(None);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 5 {
        return None;
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(port) => Some(Some(port)),
    }
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Classifies a host; None when it is not a host name at all.
fn host_form(host: &str) -> Option<HostForm<'_>> {
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if !labels.iter().all(|l| is_dns_label(l)) {
        return None;
    }
    if labels.len() == 4 && labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Some(HostForm::Ip);
    }
    // Kubernetes names start with a letter; `10`, `1.2.3` and `v1.2` are versions, not hosts.
    let first = labels[0];
    if !first.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if let Some(svc) = labels.iter().position(|l| l.eq_ignore_ascii_case("svc"))
        && (2..=3).contains(&svc)
    {
        return Some(HostForm::Cluster {
            name: labels[svc - 2],
            namespace: labels[svc - 1],
        });
    }
    Some(match labels.as_slice() {
        [name] => HostForm::Bare { name },
        [first, second] => HostForm::Dotted { first, second },
        _ => HostForm::External,
    })
}

/// File extensions that make a dotted word a file name rather than a host.
const FILE_EXTENSIONS: &[&str] = &[
    "yaml",
    "yml",
    "json",
    "js",
    "ts",
    "html",
    "htm",
    "txt",
    "log",
    "conf",
    "cfg",
    "xml",
    "properties",
    "jar",
    "war",
    "py",
    "rb",
    "go",
    "java",
    "sh",
    "pem",
    "crt",
    "cert",
    "key",
    "ini",
    "toml",
    "env",
    "lock",
    "md",
    "csv",
    "sql",
    "so",
    "class",
    "tar",
    "gz",
    "zip",
    "png",
    "jpg",
    "svg",
    "css",
    "lua",
    "tmpl",
    "tpl",
    "j2",
    "db",
    "sock",
    "pid",
    "bin",
    "exe",
    "dll",
];

/// Whether a dotted host ends in something that can be a top-level domain (letters, not a file
/// extension).
pub fn has_plausible_tld(host: &str) -> bool {
    host.rsplit('.').next().is_some_and(|tld| {
        tld.len() >= 2
            && tld.bytes().all(|b| b.is_ascii_alphabetic())
            && !FILE_EXTENSIONS.contains(&tld.to_ascii_lowercase().as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Address<'_> {
        let found = find_addresses(value);
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        found
            .into_iter()
            .next()
            .map(|f| f.address)
            .expect("one address")
    }

    #[test]
    fn bare_name() {
        let a = one("cartservice");
        assert_eq!(
            a.form,
            HostForm::Bare {
                name: "cartservice"
            }
        );
        assert_eq!((a.port, a.scheme), (None, None));
    }

    #[test]
    fn name_and_port() {
        let a = one("cartservice:7070");
        assert_eq!(
            a.form,
            HostForm::Bare {
                name: "cartservice"
            }
        );
        assert_eq!(a.port, Some(7070));
        assert!(parse_address("cartservice:70700").is_none());
        assert!(parse_address("cartservice:0").is_none());
        assert!(parse_address("cartservice:http").is_none());
    }

    #[test]
    fn name_and_namespace() {
        let a = one("redis.cache:6379");
        assert_eq!(
            a.form,
            HostForm::Dotted {
                first: "redis",
                second: "cache"
            }
        );
        assert_eq!(a.port, Some(6379));
    }

    #[test]
    fn cluster_dns_forms() {
        for value in [
            "zipkin.jaeger.svc",
            "zipkin.jaeger.svc.cluster.local",
            "zipkin.jaeger.svc.cluster.local.",
            "http://zipkin.jaeger.svc.cluster.local:9411/api/v2/spans",
        ] {
            let a = one(value);
            assert_eq!(
                a.form,
                HostForm::Cluster {
                    name: "zipkin",
                    namespace: "jaeger"
                },
                "{value}"
            );
        }
        let pod = one("kafka-0.kafka-headless.data.svc.cluster.local:9092");
        assert_eq!(
            pod.form,
            HostForm::Cluster {
                name: "kafka-headless",
                namespace: "data"
            }
        );
        assert_eq!(pod.port, Some(9092));
    }

    #[test]
    fn urls_with_schemes_users_paths_and_queries() {
        let a = one("postgres://app:s3cr=t@orders-db.shop:5432/orders?sslmode=disable");
        assert_eq!(a.scheme.as_deref(), Some("postgres"));
        assert_eq!(a.protocol(), Some("postgres"));
        assert_eq!(
            a.form,
            HostForm::Dotted {
                first: "orders-db",
                second: "shop"
            }
        );
        assert_eq!(a.port, Some(5432));
        for (value, protocol) in [
            ("http://frontend:80/", "http"),
            ("grpc://checkout:5050", "grpc"),
            ("redis://redis-cart:6379/0", "redis"),
            ("mongodb://user-db:27017/users", "mongodb"),
            ("amqp://guest:guest@rabbitmq:5672/", "amqp"),
            ("kafka://kafka:9092", "kafka"),
            ("postgresql://db/x", "postgres"),
            ("HTTPS://API.example.com", "https"),
        ] {
            assert_eq!(one(value).protocol(), Some(protocol), "{value}");
        }
        let jdbc = one("jdbc:mysql://catalogue-db:3306/socksdb");
        assert_eq!(jdbc.protocol(), Some("mysql"));
        assert_eq!(
            jdbc.form,
            HostForm::Bare {
                name: "catalogue-db"
            }
        );
        assert!(parse_address("file:///etc/config").is_none());
        assert!(parse_address("/tmp/logs").is_none());
        assert!(parse_address("file:/dev/urandom").is_none());
    }

    #[test]
    fn lists_and_multi_host_urls() {
        let found = find_addresses("kafka-0:9092, kafka-1:9092,kafka-2:9092");
        let hosts: Vec<&str> = found.iter().map(|f| f.address.host).collect();
        assert_eq!(hosts, vec!["kafka-0", "kafka-1", "kafka-2"]);
        let found = find_addresses("mongodb://db-0:27017,db-1:27017/app?replicaSet=rs0");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].address.host, "db-1");
        assert_eq!(found[1].address.scheme.as_deref(), Some("mongodb"));
    }

    #[test]
    fn flags_and_java_properties() {
        let found = find_addresses("--catalogue-url=http://catalogue:80 -port=80");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, Some("catalogue-url"));
        assert_eq!(found[0].address.host, "catalogue");
        let java = "-Xms64m -XX:+UseG1GC -Djava.security.egd=file:/dev/urandom \
                    -Dspring.zipkin.enabled=false -Dspring.zipkin.baseUrl=http://zipkin:9411";
        let found = find_addresses(java);
        let hosts: Vec<(&str, Option<&str>)> =
            found.iter().map(|f| (f.address.host, f.key)).collect();
        // `false` and `-Xms64m` parse as bare words; the builder drops them (no Service, no hint).
        assert!(
            hosts.contains(&("zipkin", Some("spring.zipkin.baseUrl"))),
            "{hosts:?}"
        );
        assert!(
            !hosts.iter().any(|(h, _)| h.contains("urandom")),
            "{hosts:?}"
        );
    }

    #[test]
    fn non_hosts_are_rejected() {
        for value in [
            "",
            "10",
            "1.2.3",
            "-",
            "a..b",
            "-bad",
            "under_score:80",
            ":80",
            "//",
        ] {
            assert!(parse_address(value).is_none(), "{value:?}");
        }
        assert_eq!(one("10.0.0.1:80").form, HostForm::Ip);
        let v6 = parse_address("[::1]:8080").expect("an IPv6 literal");
        assert_eq!((v6.form, v6.port), (HostForm::Ip, Some(8080)));
        assert_eq!(one("db.example.com:5432").form, HostForm::External);
    }

    #[test]
    fn unexpanded_secret_in_userinfo_is_not_a_host() {
        let found = find_addresses("amqp://shop:$(AMQP_PASSWORD)@rabbitmq:5672/");
        let hosts: Vec<&str> = found.iter().map(|f| f.address.host).collect();
        assert_eq!(hosts, vec!["rabbitmq"]);
    }

    #[test]
    fn unexpanded_port_placeholders() {
        let a = one("redis:${REDIS_PORT}");
        assert_eq!((a.host, a.port), ("redis", None));
    }

    #[test]
    fn expansion_follows_kubelet_rules() {
        let lookup = |name: &str| match name {
            "HOST" => Some("cartservice".to_owned()),
            "PORT" => Some("7070".to_owned()),
            _ => None,
        };
        assert_eq!(expand("$(HOST):$(PORT)", lookup), "cartservice:7070");
        assert_eq!(expand("$$(HOST)", lookup), "$(HOST)");
        assert_eq!(expand("$(MISSING):1", lookup), "$(MISSING):1");
        assert_eq!(expand("$(HOST", lookup), "$(HOST");
        assert_eq!(expand("a$b", lookup), "a$b");
        assert!(matches!(expand("plain", lookup), Cow::Borrowed(_)));
    }

    #[test]
    fn address_names() {
        for name in [
            "CART_SERVICE_ADDR",
            "REDIS_ADDR",
            "mongo",
            "redisHost",
            "DATABASE_URL",
            "db-url",
            "spring.data.mongodb.uri",
            "KAFKA_BROKERS",
            "ZIPKIN",
            "upstream",
        ] {
            assert!(name_suggests_address(name), "{name}");
        }
        for name in [
            "SERVICE_NAME",
            "OTEL_SERVICE_NAME",
            "PORT",
            "DB_PORT",
            "REDIS_PASSWORD",
            "LOG_DIR",
            "ENABLE_PROFILER",
            "USERS",
            "RATE",
            "JAVA_OPTS",
            "SESSION_REDIS_ENABLED",
            "DB_USER",
        ] {
            assert!(!name_suggests_address(name), "{name}");
        }
    }

    #[test]
    fn names_that_deny_a_dependency() {
        for name in [
            "CORS_ALLOWED_ORIGINS",
            "PUBLIC_URL",
            "oauthRedirectUri",
            "KAFKA_CFG_ADVERTISED_LISTENERS",
            "BIND_ADDR",
        ] {
            assert!(name_denies_dependency(name), "{name}");
        }
        for name in ["API_URL", "REDIS_ADDR", "publisher"] {
            assert!(!name_denies_dependency(name), "{name}");
        }
    }

    #[test]
    fn plausible_top_level_domains() {
        assert!(has_plausible_tld("api.example.com"));
        assert!(!has_plausible_tld("config.yaml"));
        assert!(!has_plausible_tld("a.b1"));
    }
}
