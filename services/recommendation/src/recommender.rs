//! Turns a request's product ids into recommendations: the product list (from the catalog, or
//! from the leaking cache when the flag is on), the set difference, and the random pick.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use opentelemetry::Context;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::catalog::Catalog;
use crate::product_cache::{Lookup, ProductCache};

/// Upstream's `max_responses`: at most this many ids are recommended.
pub const MAX_RECOMMENDATIONS: usize = 5;

/// What `get_product_list` found, with the figures its span reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductList {
    /// The distinct ids of the list, less those of the request.
    pub filtered: Vec<Arc<str>>,
    /// The flag was on for this request.
    pub cache_enabled: bool,
    /// With the flag on: whether the cache was used as it was.
    pub cache_hit: Option<bool>,
    /// Entries in the list used, duplicates included.
    pub products_count: usize,
}

/// The service's decision logic, shared by all requests.
#[derive(Debug)]
pub struct Recommender {
    catalog: Catalog,
    cache: Arc<ProductCache>,
    /// Seeded in tests, from the OS otherwise.
    rng: Mutex<StdRng>,
}

impl Recommender {
    pub fn new(catalog: Catalog, rng: StdRng) -> Self {
        Self {
            catalog,
            cache: Arc::new(ProductCache::new()),
            rng: Mutex::new(rng),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Entries in the leaking list (0 until the flag has been on).
    pub fn cached_ids(&self) -> usize {
        self.cache.len()
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Upstream's `get_product_list`: the ids to choose from for a request asking about
    /// `request_ids`. With `cache_enabled` the leaking cache is used; the catalog call (if any)
    /// continues the trace of `cx`.
    pub async fn product_list(
        &self,
        request_ids: &[String],
        cache_enabled: bool,
        cx: &Context,
    ) -> Result<ProductList, tonic::Status> {
        if !cache_enabled {
            let catalog_ids = self.catalog.product_ids(cx).await?;
            let products_count = catalog_ids.len();
            let mut seen = HashSet::new();
            let distinct = catalog_ids
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .map(Arc::from)
                .collect();
            return Ok(ProductList {
                filtered: without(distinct, request_ids),
                cache_enabled,
                cache_hit: None,
                products_count,
            });
        }

        let lookup = self.cache.lookup(&mut *self.rng());
        let catalog_ids = match lookup {
            Lookup::Miss => Some(self.catalog.product_ids(cx).await?),
            Lookup::Hit => None,
        };
        // Growing and walking take long once the list is large: keep them off the runtime's
        // workers, which stay free for health checks, the admin endpoint and cheap requests.
        let cache = self.cache.clone();
        let (products_count, distinct) = tokio::task::spawn_blocking(move || {
            let list = match catalog_ids {
                Some(catalog_ids) => cache.grow(&catalog_ids),
                None => cache.current(),
            };
            (list.len(), list.distinct_ids())
        })
        .await
        .map_err(|error| {
            tonic::Status::internal(format!("the product list walk failed: {error}"))
        })?;
        Ok(ProductList {
            filtered: without(distinct, request_ids),
            cache_enabled,
            cache_hit: Some(lookup == Lookup::Hit),
            products_count,
        })
    }

    /// At most [`MAX_RECOMMENDATIONS`] of `filtered`, chosen at random.
    pub fn pick(&self, filtered: &[Arc<str>]) -> Vec<String> {
        filtered
            .choose_multiple(&mut *self.rng(), MAX_RECOMMENDATIONS)
            .map(|id| id.to_string())
            .collect()
    }
}

/// The set difference `ids - request_ids`, in the order of `ids`.
fn without(ids: Vec<Arc<str>>, request_ids: &[String]) -> Vec<Arc<str>> {
    let excluded: HashSet<&str> = request_ids.iter().map(String::as_str).collect();
    ids.into_iter()
        .filter(|id| !excluded.contains(&**id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn recommender(seed: u64) -> Recommender {
        Recommender::new(Catalog::Embedded, StdRng::seed_from_u64(seed))
    }

    fn ids(list: &[Arc<str>]) -> Vec<String> {
        list.iter().map(|id| id.to_string()).collect()
    }

    #[tokio::test]
    async fn flag_off_uses_the_catalog_and_never_caches() {
        let recommender = recommender(1);
        for _ in 0..50 {
            let list = recommender
                .product_list(&[], false, &Context::new())
                .await
                .unwrap();
            assert_eq!(list.products_count, 10);
            assert_eq!(list.filtered.len(), 10);
            assert_eq!(list.cache_hit, None);
            assert!(!list.cache_enabled);
        }
        assert_eq!(recommender.cached_ids(), 0);
    }

    #[tokio::test]
    async fn flag_on_first_request_misses_and_grows_the_list() {
        let recommender = recommender(2);
        let list = recommender
            .product_list(&[], true, &Context::new())
            .await
            .unwrap();
        assert_eq!(list.cache_hit, Some(false));
        assert_eq!(list.products_count, 12); // (0+10) + 10/4
        assert_eq!(recommender.cached_ids(), 12);
    }

    #[tokio::test]
    async fn flag_on_the_list_follows_the_growth_rule_per_miss_only() {
        let recommender = recommender(3);
        let mut expected = 0usize;
        let (mut hits, mut misses) = (0, 0);
        for _ in 0..60 {
            let list = recommender
                .product_list(&[], true, &Context::new())
                .await
                .unwrap();
            if list.cache_hit == Some(false) {
                misses += 1;
                expected = (expected + 10) + (expected + 10) / 4;
            } else {
                hits += 1;
            }
            assert_eq!(list.products_count, expected);
            assert_eq!(recommender.cached_ids(), expected);
            // However long the list, the distinct ids are the catalog's.
            assert_eq!(list.filtered.len(), 10);
        }
        assert!(hits > 10 && misses > 10, "{hits} hits, {misses} misses");
    }

    #[tokio::test]
    async fn the_list_is_kept_when_the_flag_goes_off() {
        let recommender = recommender(4);
        for _ in 0..10 {
            recommender
                .product_list(&[], true, &Context::new())
                .await
                .unwrap();
        }
        let leaked = recommender.cached_ids();
        assert!(leaked > 0);
        let off = recommender
            .product_list(&[], false, &Context::new())
            .await
            .unwrap();
        assert_eq!(off.products_count, 10);
        assert_eq!(recommender.cached_ids(), leaked);
    }

    #[tokio::test]
    async fn the_request_ids_are_filtered_out() {
        let recommender = recommender(5);
        let asked = vec![
            "OLJCESPC7Z".to_string(),
            "66VCHSJNUP".to_string(),
            "NOSUCHID00".to_string(),
        ];
        for cache_enabled in [false, true, true, true] {
            let list = recommender
                .product_list(&asked, cache_enabled, &Context::new())
                .await
                .unwrap();
            let filtered = ids(&list.filtered);
            assert_eq!(filtered.len(), 8);
            assert!(!filtered.iter().any(|id| asked.contains(id)));
        }
    }

    #[test]
    fn at_most_five_distinct_ids_are_picked_from_the_filtered_list() {
        let recommender = recommender(6);
        let all: Vec<Arc<str>> = oteldemo_proto::catalog::embedded_product_ids()
            .map(Arc::from)
            .collect();
        let mut seen_first = HashSet::new();
        for _ in 0..50 {
            let picked = recommender.pick(&all);
            assert_eq!(picked.len(), MAX_RECOMMENDATIONS);
            let distinct: HashSet<_> = picked.iter().collect();
            assert_eq!(distinct.len(), MAX_RECOMMENDATIONS);
            assert!(picked.iter().all(|id| all.iter().any(|a| **a == **id)));
            seen_first.insert(picked[0].clone());
        }
        assert!(
            seen_first.len() > 3,
            "the pick is not random: {seen_first:?}"
        );
        assert_eq!(recommender.pick(&all[..3]).len(), 3);
        assert!(recommender.pick(&[]).is_empty());
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_answers() {
        async fn run(seed: u64) -> Vec<(usize, Vec<String>)> {
            let recommender = recommender(seed);
            let mut answers = Vec::new();
            for _ in 0..20 {
                let list = recommender
                    .product_list(&[], true, &Context::new())
                    .await
                    .unwrap();
                answers.push((list.products_count, recommender.pick(&list.filtered)));
            }
            answers
        }
        assert_eq!(run(42).await, run(42).await);
        assert_ne!(run(42).await, run(43).await);
    }
}
