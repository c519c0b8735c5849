//! Answers cached by prices version (GET /rates and /rates_null use it).
//!
//! Every statement that changes prices bumps `prices_version` in its own
//! transaction, so a snapshot that reads version N holds exactly the prices of
//! version N: an answer computed at version N stays right until the version
//! moves, on the primary and on a replica alike. A request costs one trivial
//! query (the version) when its answer is cached.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use std::hash::Hash;

/// A bounded map of serialised answers keyed by `K`, all of one prices version.
#[derive(Debug)]
pub struct VersionedCache<K> {
    capacity: usize,
    inner: Mutex<Inner<K>>,
}

#[derive(Debug)]
struct Inner<K> {
    version: i64,
    entries: HashMap<K, Bytes>,
}

impl<K: Hash + Eq> VersionedCache<K> {
    /// A cache of at most `capacity` answers; 0 disables it.
    pub fn new(capacity: usize) -> VersionedCache<K> {
        VersionedCache {
            capacity,
            inner: Mutex::new(Inner {
                version: 0,
                entries: HashMap::new(),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The answer to `key` computed at exactly `version`, if cached.
    pub fn get(&self, version: i64, key: &K) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.version == version {
            inner.entries.get(key).cloned()
        } else {
            None
        }
    }

    /// Stores an answer computed at `version`. A newer version drops every
    /// older answer; an answer older than the cache's version (a lagging
    /// replica) is not kept. When full, the cache starts over: answers are
    /// cheap to recompute and bursts repeat the same few queries.
    pub fn put(&self, version: i64, key: K, body: Bytes) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if version < inner.version {
            return;
        }
        if version > inner.version {
            inner.version = version;
            inner.entries.clear();
        }
        if inner.entries.len() >= self.capacity {
            inner.entries.clear();
        }
        inner.entries.insert(key, body);
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(origin: &str) -> String {
        origin.to_string()
    }

    #[test]
    fn answers_are_kept_for_their_version_only() {
        let cache = VersionedCache::new(10);
        cache.put(3, key("CNSHA"), Bytes::from_static(b"v3"));
        assert_eq!(cache.get(3, &key("CNSHA")).as_deref(), Some(&b"v3"[..]));
        assert_eq!(cache.get(4, &key("CNSHA")), None, "newer version");
        assert_eq!(cache.get(3, &key("CNNGB")), None, "other query");
        cache.put(2, key("CNNGB"), Bytes::from_static(b"v2"));
        assert_eq!(
            cache.get(2, &key("CNNGB")),
            None,
            "stale answers are not kept"
        );
        cache.put(4, key("CNNGB"), Bytes::from_static(b"v4"));
        assert_eq!(cache.get(3, &key("CNSHA")), None, "older answers dropped");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_is_bounded_and_can_be_disabled() {
        let cache = VersionedCache::new(2);
        for origin in ["AAAAA", "BBBBB", "CCCCC"] {
            cache.put(1, key(origin), Bytes::from_static(b"x"));
        }
        assert!(cache.len() <= 2);
        let off = VersionedCache::new(0);
        off.put(1, key("AAAAA"), Bytes::from_static(b"x"));
        assert!(off.is_empty() && !off.enabled());
    }
}
