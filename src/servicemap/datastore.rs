//! Recognising data stores by container image and port.

use super::model::DataStoreKind;

/// Image name words and the store they mean. Checked against the image's last path segment
/// without registry and tag (`docker.io/bitnami/redis:7` → `redis`).
const IMAGE_WORDS: &[(&str, DataStoreKind)] = &[
    ("redis", DataStoreKind::Redis),
    ("valkey", DataStoreKind::Redis),
    ("keydb", DataStoreKind::Redis),
    ("postgres", DataStoreKind::Postgres),
    ("postgis", DataStoreKind::Postgres),
    ("timescaledb", DataStoreKind::Postgres),
    ("cockroach", DataStoreKind::Postgres),
    ("mysql", DataStoreKind::Mysql),
    ("mariadb", DataStoreKind::Mysql),
    ("percona", DataStoreKind::Mysql),
    ("mongo", DataStoreKind::Mongodb),
    ("cassandra", DataStoreKind::Cassandra),
    ("scylla", DataStoreKind::Cassandra),
    ("elasticsearch", DataStoreKind::Elasticsearch),
    ("opensearch", DataStoreKind::Elasticsearch),
    ("memcached", DataStoreKind::Memcached),
    ("rabbitmq", DataStoreKind::Rabbitmq),
    ("kafka", DataStoreKind::Kafka),
    ("redpanda", DataStoreKind::Kafka),
    ("nats", DataStoreKind::Nats),
    ("etcd", DataStoreKind::Etcd),
    ("zookeeper", DataStoreKind::Zookeeper),
];

/// Image words of tools that sit next to a store without being one.
const NOT_A_STORE: &[&str] = &[
    "exporter",
    "operator",
    "commander",
    "insight",
    "admin",
    "ui",
    "proxy",
    "sentinel-exporter",
    "backup",
    "client",
    "cli",
    "connect",
    "manager",
];

/// The store an image runs, from its name.
pub fn by_image(image: &str) -> Option<DataStoreKind> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name = last_segment
        .split(':')
        .next()
        .unwrap_or(last_segment)
        .to_ascii_lowercase();
    let words: Vec<&str> = name.split(['-', '_', '.']).collect();
    if words.iter().any(|w| NOT_A_STORE.contains(w)) {
        return None;
    }
    IMAGE_WORDS
        .iter()
        .find(|(word, _)| words.iter().any(|w| w.starts_with(word)))
        .map(|(_, kind)| *kind)
}

/// The store a well-known port belongs to.
pub fn by_port(port: i32) -> Option<DataStoreKind> {
    Some(match port {
        6379 | 26379 => DataStoreKind::Redis,
        5432 => DataStoreKind::Postgres,
        3306 => DataStoreKind::Mysql,
        27017 => DataStoreKind::Mongodb,
        9042 => DataStoreKind::Cassandra,
        9200 | 9300 => DataStoreKind::Elasticsearch,
        11211 => DataStoreKind::Memcached,
        5672 => DataStoreKind::Rabbitmq,
        9092 => DataStoreKind::Kafka,
        4222 => DataStoreKind::Nats,
        2379 => DataStoreKind::Etcd,
        2181 => DataStoreKind::Zookeeper,
        _ => return None,
    })
}

/// The protocol a store speaks.
pub fn protocol(kind: DataStoreKind) -> &'static str {
    match kind {
        DataStoreKind::Redis => "redis",
        DataStoreKind::Postgres => "postgres",
        DataStoreKind::Mysql => "mysql",
        DataStoreKind::Mongodb => "mongodb",
        DataStoreKind::Cassandra => "cassandra",
        DataStoreKind::Elasticsearch => "http",
        DataStoreKind::Memcached => "memcached",
        DataStoreKind::Rabbitmq => "amqp",
        DataStoreKind::Kafka => "kafka",
        DataStoreKind::Nats => "nats",
        DataStoreKind::Etcd => "grpc",
        DataStoreKind::Zookeeper => "zookeeper",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert_eq!(by_image("redis:alpine"), Some(DataStoreKind::Redis));
        assert_eq!(
            by_image("docker.io/bitnami/postgresql:16"),
            Some(DataStoreKind::Postgres)
        );
        assert_eq!(by_image("mongo:3.4"), Some(DataStoreKind::Mongodb));
        assert_eq!(
            by_image("rabbitmq:3.6.8-management"),
            Some(DataStoreKind::Rabbitmq)
        );
        assert_eq!(
            by_image("confluentinc/cp-kafka:7"),
            Some(DataStoreKind::Kafka)
        );
        assert_eq!(by_image("kbudde/rabbitmq-exporter"), None);
        assert_eq!(by_image("weaveworksdemos/catalogue-db:0.3.0"), None);
        assert_eq!(by_image("gcr.io/x/frontend:v1@sha256:abc"), None);
    }

    #[test]
    fn ports() {
        assert_eq!(by_port(3306), Some(DataStoreKind::Mysql));
        assert_eq!(by_port(8080), None);
    }
}
