//! A content-addressed cache of stage results, so an unchanged re-run costs no tokens.
//!
//! The key is a sha256 over the stage, the prompt version, the provider, the model and the hash
//! of everything the model would see ([`super::CompletionRequest::input_hash`]). The CLI uses
//! [`FileCache`]; the operator may use any [`CompletionCache`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::Completion;
use crate::hashing::sha256_hex;

/// The address of one cached stage result (64 hex digits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of a stage result. Each field is length-prefixed, so no two different field lists
    /// hash the same input.
    pub fn new(
        stage: &str,
        prompt_version: &str,
        provider: &str,
        model: &str,
        input_hash: &str,
    ) -> Self {
        let mut material = Vec::new();
        for field in [stage, prompt_version, provider, model, input_hash] {
            material.extend_from_slice(&(field.len() as u64).to_be_bytes());
            material.extend_from_slice(field.as_bytes());
        }
        CacheKey(sha256_hex(&material))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong with a cache.
#[derive(thiserror::Error, Debug)]
pub enum CacheError {
    #[error("cache I/O at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode a completion: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("no cache directory: set XDG_CACHE_HOME or HOME, or name one")]
    NoDirectory,
}

/// A store of completions by key.
#[async_trait]
pub trait CompletionCache: Send + Sync {
    /// The stored completion, if any. An unreadable entry is a miss, not an error.
    async fn get(&self, key: &CacheKey) -> Result<Option<Completion>, CacheError>;
    /// Stores a completion (replacing any entry under the key).
    async fn put(&self, key: &CacheKey, completion: &Completion) -> Result<(), CacheError>;
}

/// Completions as JSON files under a directory: `<dir>/<first two hex>/<key>.json`.
#[derive(Clone, Debug)]
pub struct FileCache {
    dir: PathBuf,
}

impl FileCache {
    /// A cache under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCache { dir: dir.into() }
    }

    /// `$XDG_CACHE_HOME/smart-chaos`, else `~/.cache/smart-chaos`.
    pub fn default_dir() -> Option<PathBuf> {
        default_dir_from(
            std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// A cache in [`FileCache::default_dir`].
    pub fn open_default() -> Result<Self, CacheError> {
        Self::default_dir()
            .map(Self::new)
            .ok_or(CacheError::NoDirectory)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &CacheKey) -> PathBuf {
        let fan_out = key.as_str().get(..2).unwrap_or("00");
        self.dir.join(fan_out).join(format!("{key}.json"))
    }
}

fn default_dir_from(xdg_cache_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    // XDG says a relative XDG_CACHE_HOME is invalid and must be ignored.
    match xdg_cache_home.filter(|p| p.is_absolute()) {
        Some(base) => Some(base.join("smart-chaos")),
        None => home.map(|h| h.join(".cache").join("smart-chaos")),
    }
}

#[async_trait]
impl CompletionCache for FileCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Completion>, CacheError> {
        let path = self.path_of(key);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        match serde_json::from_slice(&bytes) {
            Ok(completion) => Ok(Some(completion)),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring an unreadable cache entry");
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &CacheKey, completion: &Completion) -> Result<(), CacheError> {
        let path = self.path_of(key);
        let parent = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.clone());
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|source| CacheError::Io {
                path: parent.clone(),
                source,
            })?;
        let bytes = serde_json::to_vec_pretty(completion)?;
        // Write beside the target and rename over it: readers see the old entry or the new one,
        // never half a file, and concurrent writers of one key each rename a whole file.
        let temp = parent.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            fastrand::u64(..)
        ));
        tokio::fs::write(&temp, &bytes)
            .await
            .map_err(|source| CacheError::Io {
                path: temp.clone(),
                source,
            })?;
        if let Err(source) = tokio::fs::rename(&temp, &path).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(CacheError::Io { path, source });
        }
        Ok(())
    }
}

/// An in-memory cache (the operator's default, and tests').
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<BTreeMap<CacheKey, Completion>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .map(|e| e.len())
            .unwrap_or_else(|p| p.into_inner().len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl CompletionCache for MemoryCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Completion>, CacheError> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries.get(key).cloned())
    }

    async fn put(&self, key: &CacheKey, completion: &Completion) -> Result<(), CacheError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key.clone(), completion.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::TokenUsage;
    use super::*;

    fn completion(text: &str) -> Completion {
        Completion {
            text: text.into(),
            usage: TokenUsage {
                input_tokens: 10,
                output_tokens: 2,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
            },
            model: "m".into(),
            stop_reason: Some("tool_use".into()),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "smart-chaos-cache-test-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn key_depends_on_every_field_and_is_unambiguous() {
        let base = CacheKey::new("hypotheses", "v1", "bedrock", "m", "h");
        assert_eq!(base, CacheKey::new("hypotheses", "v1", "bedrock", "m", "h"));
        assert_eq!(base.as_str().len(), 64);
        for other in [
            CacheKey::new("discovery", "v1", "bedrock", "m", "h"),
            CacheKey::new("hypotheses", "v2", "bedrock", "m", "h"),
            CacheKey::new("hypotheses", "v1", "openai", "m", "h"),
            CacheKey::new("hypotheses", "v1", "bedrock", "m2", "h"),
            CacheKey::new("hypotheses", "v1", "bedrock", "m", "h2"),
            // Shifting a character between fields must change the key.
            CacheKey::new("hypotheses", "v1", "bedrock", "mh", ""),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn default_dir_follows_xdg() {
        assert_eq!(
            default_dir_from(Some("/x/cache".into()), Some("/home/u".into())),
            Some(PathBuf::from("/x/cache/smart-chaos"))
        );
        assert_eq!(
            default_dir_from(Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/smart-chaos"))
        );
        assert_eq!(default_dir_from(None, None), None);
    }

    #[tokio::test]
    async fn file_cache_round_trip_and_overwrite() {
        let dir = temp_dir("roundtrip");
        let cache = FileCache::new(&dir);
        let key = CacheKey::new("s", "v1", "p", "m", "h");
        assert_eq!(cache.get(&key).await.unwrap(), None);
        cache.put(&key, &completion("{\"a\":1}")).await.unwrap();
        assert_eq!(
            cache.get(&key).await.unwrap(),
            Some(completion("{\"a\":1}"))
        );
        cache.put(&key, &completion("{\"a\":2}")).await.unwrap();
        assert_eq!(
            cache.get(&key).await.unwrap(),
            Some(completion("{\"a\":2}"))
        );
        // No temporary files are left behind.
        let fan_out = dir.join(&key.as_str()[..2]);
        let names: Vec<String> = std::fs::read_dir(&fan_out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{key}.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn corrupt_entries_are_misses() {
        let dir = temp_dir("corrupt");
        let cache = FileCache::new(&dir);
        let key = CacheKey::new("s", "v1", "p", "m", "h");
        let path = cache.path_of(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{ half a fi").unwrap();
        assert_eq!(cache.get(&key).await.unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn memory_cache_round_trip() {
        let cache = MemoryCache::new();
        let key = CacheKey::new("s", "v1", "p", "m", "h");
        assert!(cache.is_empty());
        cache.put(&key, &completion("{}")).await.unwrap();
        assert_eq!(cache.get(&key).await.unwrap(), Some(completion("{}")));
        assert_eq!(cache.len(), 1);
    }
}
