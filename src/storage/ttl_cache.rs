//! A small cache whose entries expire after a fixed time: for lookups on the ingest hot path
//! (API keys, workflows) where a change may take that long to be seen by other instances.
//!
//! Each cache has a stated maximum number of entries: a flood of distinct keys (random bearer
//! tokens, many sessions) cannot grow it past that. When an insert finds it full, expired
//! entries go first, then the oldest tenth, so a flood costs one pass per tenth of the cache,
//! not one per insert, and the entries in use stay cached.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Arc<RwLock<HashMap<K, (V, Instant)>>>,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        Self { ttl: self.ttl, max_entries: self.max_entries, entries: self.entries.clone() }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache whose entries live for `ttl`, holding at most `max_entries` (at least 1).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { ttl, max_entries: max_entries.max(1), entries: Default::default() }
    }

    /// How many entries it holds now, fresh or not.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |map| map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries it ever holds.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The fresh cached value, or the loaded one (which is then cached). Errors are not cached.
    pub async fn get_or_load<E, F>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if let Some((value, at)) = self.entries.read().ok().and_then(|map| map.get(key).cloned())
            && at.elapsed() < self.ttl
        {
            return Ok(value);
        }
        let value = load.await?;
        self.insert(key.clone(), value.clone());
        Ok(value)
    }

    /// The cached value, while fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.entries.read().ok()?;
        map.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(value, _)| value.clone())
    }

    /// Caches `value` as freshly loaded.
    pub fn insert(&self, key: K, value: V) {
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= self.max_entries && !map.contains_key(&key) {
                map.retain(|_, (_, at)| at.elapsed() < self.ttl);
                if map.len() >= self.max_entries {
                    // The oldest tenth (at least one) makes room.
                    let mut ages: Vec<Instant> = map.values().map(|(_, at)| *at).collect();
                    let keep = self.max_entries - (self.max_entries / 10).max(1);
                    let cut = ages.len() - keep;
                    let (_, newest_dropped, _) = ages.select_nth_unstable(cut - 1);
                    let cutoff = *newest_dropped;
                    map.retain(|_, (_, at)| *at > cutoff);
                }
            }
            map.insert(key, (value, Instant::now()));
        }
    }

    /// Forgets one entry (after a change made by this instance).
    pub fn remove(&self, key: &K) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(key);
        }
    }

    /// Forgets everything (after a change made by this instance).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.write() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_until_the_ttl_then_reloads() {
        let cache = TtlCache::new(Duration::from_millis(50), 100);
        let load = |v: u32| async move { Ok::<_, ()>(v) };
        assert_eq!(cache.get_or_load(&"k", load(1)).await, Ok(1));
        assert_eq!(cache.get_or_load(&"k", load(2)).await, Ok(1), "cached");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get_or_load(&"k", load(3)).await, Ok(3), "expired");
        cache.clear();
        assert_eq!(cache.get_or_load(&"k", load(4)).await, Ok(4), "cleared");
        assert_eq!(cache.get_or_load(&"e", async { Err::<u32, _>(()) }).await, Err(()));
        assert_eq!(cache.get_or_load(&"e", load(5)).await, Ok(5), "errors are not cached");
        cache.insert("e", 6);
        assert_eq!(cache.get_or_load(&"e", load(7)).await, Ok(6), "inserted");
        cache.remove(&"e");
        assert_eq!(cache.get(&"e"), None, "removed");
        assert_eq!(cache.get_or_load(&"e", load(8)).await, Ok(8));
        assert_eq!(cache.get(&"e"), Some(8));
    }

    #[test]
    fn never_holds_more_than_its_maximum_and_keeps_the_newest() {
        let cache = TtlCache::new(Duration::from_secs(60), 1000);
        for key in 0..25_000u32 {
            cache.insert(key, key);
            assert!(cache.len() <= 1000, "{} entries after {key}", cache.len());
        }
        assert!(cache.len() >= 900, "evicts a tenth at a time, not everything: {}", cache.len());
        assert_eq!(cache.get(&24_999), Some(24_999), "the newest entry stays");
        assert_eq!(cache.get(&0), None, "the oldest went");
        // Refreshing a key that is there never evicts.
        let before = cache.len();
        cache.insert(24_999, 1);
        assert_eq!(cache.len(), before);
    }

    #[test]
    fn expired_entries_make_room_first() {
        let cache = TtlCache::new(Duration::from_millis(20), 10);
        for key in 0..10u32 {
            cache.insert(key, key);
        }
        std::thread::sleep(Duration::from_millis(30));
        cache.insert(10, 10);
        assert_eq!(cache.len(), 1, "all ten were expired");
        let tiny = TtlCache::new(Duration::from_secs(60), 0);
        tiny.insert(1, 1);
        tiny.insert(2, 2);
        assert_eq!((tiny.len(), tiny.get(&2)), (1, Some(2)), "a maximum of 0 still holds one");
    }
}
