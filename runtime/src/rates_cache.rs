//! Answers of GET /rates and /rates_null, cached by prices version.
//!
//! Every statement that changes prices bumps `prices_version` in its own
//! transaction, so a snapshot that reads version N holds exactly the prices of
//! version N: an answer computed at version N stays right until the version
//! moves, on the primary and on a replica alike. A request costs one trivial
//! query (the version) when its answer is cached.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::rates::RatesQuery;

/// What an answer depends on: the query and the minimum count of prices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub query: RatesQuery,
    pub min_count: i64,
}

/// A bounded map of serialised answers, all of one prices version.
#[derive(Debug)]
pub struct RatesCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    version: i64,
    entries: HashMap<CacheKey, Bytes>,
}

impl RatesCache {
    /// A cache of at most `capacity` answers; 0 disables it.
    pub fn new(capacity: usize) -> RatesCache {
        RatesCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The answer to `key` computed at exactly `version`, if cached.
    pub fn get(&self, version: i64, key: &CacheKey) -> Option<Bytes> {
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
    pub fn put(&self, version: i64, key: CacheKey, body: Bytes) {
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

    fn key(origin: &str) -> CacheKey {
        let pairs: Vec<(String, String)> = [
            ("date_from", "2016-01-01"),
            ("date_to", "2016-01-02"),
            ("origin", origin),
            ("destination", "NOOSL"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        CacheKey {
            query: RatesQuery::parse(&pairs, 366).unwrap(),
            min_count: 1,
        }
    }

    #[test]
    fn answers_are_kept_for_their_version_only() {
        let cache = RatesCache::new(10);
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
        let cache = RatesCache::new(2);
        for origin in ["AAAAA", "BBBBB", "CCCCC"] {
            cache.put(1, key(origin), Bytes::from_static(b"x"));
        }
        assert!(cache.len() <= 2);
        let off = RatesCache::new(0);
        off.put(1, key("AAAAA"), Bytes::from_static(b"x"));
        assert!(off.is_empty() && !off.enabled());
    }
}
