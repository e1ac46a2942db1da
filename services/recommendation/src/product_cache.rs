//! The leak: the process-wide product id list that grows on every cache miss while the flag is
//! on and is never cleared.
//!
//! Each entry is a `u32` index into a small table of the distinct ids (an interner) rather than
//! a string or an `Arc<str>`: one entry then costs 4 bytes, close to the 8-byte references of
//! upstream's Python list, so the memory curve has upstream's shape; walking it touches only
//! that array (an `Arc<str>` per entry would be 16 bytes and every copy would bump one of ten
//! shared reference counts, making all threads fight over the same cache lines).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::Rng;

/// Whether a flag-on request found the cache usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Fetch the catalog and grow the list.
    Miss,
    /// Use the list as it is.
    Hit,
}

/// The leaking list and the table of distinct ids its entries point into.
///
/// Growing copies the whole list under the lock, which takes long once the list is large: call
/// [`ProductCache::grow`] and [`ProductCache::current`] off the async workers. [`lookup`] and
/// [`len`] never wait for it.
///
/// [`lookup`]: ProductCache::lookup
/// [`len`]: ProductCache::len
#[derive(Debug)]
pub struct ProductCache {
    state: Mutex<CacheState>,
    /// Upstream's `first_run`: the first flag-on request since start is always a miss.
    first_lookup_pending: AtomicBool,
    /// The list's length, readable while a growth holds the lock.
    len: AtomicUsize,
}

#[derive(Debug)]
struct CacheState {
    /// Never cleared. Replaced (not mutated) on growth so that readers walking the previous
    /// version need no lock.
    entries: Arc<Vec<u32>>,
    /// The distinct ids, indexed by entry value.
    names: Arc<Vec<Arc<str>>>,
    index: HashMap<Arc<str>, u32>,
}

impl Default for ProductCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ProductCache {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(CacheState {
                entries: Arc::new(Vec::new()),
                names: Arc::new(Vec::new()),
                index: HashMap::new(),
            }),
            first_lookup_pending: AtomicBool::new(true),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides a flag-on request: a miss if it is the first since start, else with probability 1/2.
    pub fn lookup(&self, rng: &mut impl Rng) -> Lookup {
        let first = self.first_lookup_pending.swap(false, Ordering::Relaxed);
        if rng.random::<f64>() < 0.5 || first {
            Lookup::Miss
        } else {
            Lookup::Hit
        }
    }

    /// A miss: appends the catalog's ids, then the first quarter of the resulting list, so a
    /// list of length L becomes (L+n) + (L+n)/4 for a catalog of n ids. Returns the new list.
    ///
    /// Like upstream's list concatenation, the grown list is a new allocation filled from the
    /// old one, so both exist until the copy is done: that moment is the memory peak.
    pub fn grow(&self, catalog_ids: &[String]) -> CachedList {
        let mut state = self.lock();
        let catalog: Vec<u32> = catalog_ids.iter().map(|id| state.intern(id)).collect();
        let old = &state.entries;
        let appended = old.len() + catalog.len();
        let mut grown = Vec::with_capacity(appended + appended / 4);
        grown.extend_from_slice(old);
        grown.extend_from_slice(&catalog);
        grown.extend_from_within(..appended / 4);
        self.len.store(grown.len(), Ordering::Relaxed);
        state.entries = Arc::new(grown);
        state.snapshot()
    }

    /// A hit: the list as it is.
    pub fn current(&self) -> CachedList {
        self.lock().snapshot()
    }

    /// How many entries the list holds.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CacheState {
    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&index) = self.index.get(id) {
            return index;
        }
        let index = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct product ids");
        let name: Arc<str> = Arc::from(id);
        Arc::make_mut(&mut self.names).push(name.clone());
        self.index.insert(name, index);
        index
    }

    fn snapshot(&self) -> CachedList {
        CachedList {
            entries: self.entries.clone(),
            names: self.names.clone(),
        }
    }
}

/// One version of the list, readable without holding the cache's lock.
#[derive(Debug, Clone)]
pub struct CachedList {
    entries: Arc<Vec<u32>>,
    names: Arc<Vec<Arc<str>>>,
}

impl CachedList {
    /// The number of entries, duplicates included (upstream's `app.products.count`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The distinct ids, found by visiting every entry: upstream builds a set from the whole
    /// list on every request, and this walk is the cost that grows with the leak.
    pub fn distinct_ids(&self) -> Vec<Arc<str>> {
        let mut seen = vec![false; self.names.len()];
        for &entry in self.entries.iter() {
            seen[entry as usize] = true;
        }
        seen.iter()
            .zip(self.names.iter())
            .filter(|(present, _)| **present)
            .map(|(_, name)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn catalog() -> Vec<String> {
        oteldemo_proto::catalog::embedded_product_ids()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn each_miss_grows_the_list_by_the_catalog_then_a_quarter() {
        let cache = ProductCache::new();
        let mut expected = 0usize;
        for _ in 0..30 {
            let list = cache.grow(&catalog());
            expected = (expected + 10) + (expected + 10) / 4;
            assert_eq!(list.len(), expected);
        }
        // The figures of upstream's arithmetic: 403 entries after 10 misses, ~39k after 30.
        assert_eq!(cache.len(), expected);
        let cache = ProductCache::new();
        for _ in 0..10 {
            cache.grow(&catalog());
        }
        assert_eq!(cache.len(), 403);
    }

    #[test]
    fn the_appended_quarter_is_the_head_of_the_list() {
        let cache = ProductCache::new();
        let ids: Vec<String> = (0..4).map(|i| format!("P{i}")).collect();
        cache.grow(&ids); // [P0 P1 P2 P3] + first quarter [P0]
        let list = cache.grow(&ids[..2]); // 5 + 2 = 7, + 7/4 = 1 -> [.. P0 P1 P2 P3 P0 P0 P1 P0]
        let names: Vec<&str> = list
            .entries
            .iter()
            .map(|&i| &*list.names[i as usize])
            .collect();
        assert_eq!(names, ["P0", "P1", "P2", "P3", "P0", "P0", "P1", "P0"]);
    }

    #[test]
    fn a_hit_leaves_the_list_as_it_is() {
        let cache = ProductCache::new();
        cache.grow(&catalog());
        cache.grow(&catalog());
        let before = cache.len();
        assert_eq!(cache.current().len(), before);
        assert_eq!(cache.len(), before);
    }

    #[test]
    fn the_first_lookup_is_a_miss_whatever_the_random_draw() {
        for seed in 0..64 {
            let cache = ProductCache::new();
            let mut rng = StdRng::seed_from_u64(seed);
            assert_eq!(cache.lookup(&mut rng), Lookup::Miss, "seed {seed}");
        }
    }

    #[test]
    fn later_lookups_miss_about_half_the_time() {
        let cache = ProductCache::new();
        let mut rng = StdRng::seed_from_u64(7);
        cache.lookup(&mut rng);
        let misses = (0..10_000)
            .filter(|_| cache.lookup(&mut rng) == Lookup::Miss)
            .count();
        assert!(
            (4_700..=5_300).contains(&misses),
            "{misses} misses of 10000"
        );
    }

    #[test]
    fn distinct_ids_are_the_catalog_however_long_the_list() {
        let cache = ProductCache::new();
        for _ in 0..25 {
            cache.grow(&catalog());
        }
        let list = cache.current();
        assert!(list.len() > 10_000);
        let mut distinct: Vec<String> = list.distinct_ids().iter().map(|s| s.to_string()).collect();
        distinct.sort();
        let mut expected = catalog();
        expected.sort();
        assert_eq!(distinct, expected);
    }
}
