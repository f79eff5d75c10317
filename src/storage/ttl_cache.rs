//! A small cache whose entries expire after a fixed time: for lookups on the ingest hot path
//! (API keys, workflows) where a change may take that long to be seen by other instances.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Arc<RwLock<HashMap<K, (V, Instant)>>>,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        Self { ttl: self.ttl, entries: self.entries.clone() }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Default::default() }
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
            // Bounded: a flood of distinct keys (say, random bearer tokens) cannot grow it forever.
            if map.len() >= 10_000 {
                map.retain(|_, (_, at)| at.elapsed() < self.ttl);
                if map.len() >= 10_000 {
                    map.clear();
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
        let cache = TtlCache::new(Duration::from_millis(50));
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
}
