//! The `oteldemo.RecommendationService` gRPC handler and its spans and counter.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;
use oteldemo_proto::recommendation_service_server::RecommendationService;
use oteldemo_proto::{ListRecommendationsRequest, ListRecommendationsResponse};
use service_common::grpc_propagation::extract_context;

use crate::flag_watcher::FlagState;
use crate::recommender::Recommender;
use crate::stats::ServiceStats;

/// The server span's name: the gRPC method, as instrumentations name server spans.
pub const SERVER_SPAN_NAME: &str = "oteldemo.RecommendationService/ListRecommendations";
/// The child span around the product list, named after upstream's function.
pub const PRODUCT_LIST_SPAN_NAME: &str = "get_product_list";
/// Whether the product list came from the warm cache, under the public walkthrough's name.
pub const CACHE_HIT: &str = "app.cache_hit";
/// The same flag under upstream 3.0's name (opentelemetry-demo #3374, #3393).
pub const CACHE_HIT_3_0: &str = "demo.recommendation.cache_hit";
/// Entries in the (leaking) product list, under the public walkthrough's name.
pub const PRODUCTS_COUNT: &str = "app.products.count";
/// The same count under upstream 3.0's name.
pub const PRODUCTS_COUNT_3_0: &str = "demo.product.count";
/// Upstream's recommendation counter (Prometheus: `app_recommendations_counter_total`).
pub const RECOMMENDATIONS_COUNTER: &str = "app_recommendations_counter";

/// Serves `ListRecommendations` with the leak behind the flag.
#[derive(Debug, Clone)]
pub struct RecommendationHandler {
    recommender: Arc<Recommender>,
    flags: Arc<FlagState>,
    stats: Arc<ServiceStats>,
    tracer: SdkTracer,
    recommendations: Counter<u64>,
}

impl RecommendationHandler {
    pub fn new(
        recommender: Arc<Recommender>,
        flags: Arc<FlagState>,
        stats: Arc<ServiceStats>,
        tracer: SdkTracer,
        meter: &Meter,
    ) -> Self {
        let recommendations = meter
            .u64_counter(RECOMMENDATIONS_COUNTER)
            .with_description("Counts the total number of given recommendations")
            .with_unit("{recommendation}")
            .build();
        Self {
            recommender,
            flags,
            stats,
            tracer,
            recommendations,
        }
    }

    /// The work inside the server span: the product list (in its own span) and the pick.
    async fn recommend(
        &self,
        request: ListRecommendationsRequest,
        cx: &opentelemetry::Context,
    ) -> Result<Vec<String>, tonic::Status> {
        let cache_enabled = self.flags.cache_failure();
        let span = self.tracer.start_with_context(PRODUCT_LIST_SPAN_NAME, cx);
        let list_cx = cx.with_span(span);
        let list = self
            .recommender
            .product_list(&request.product_ids, cache_enabled, &list_cx)
            .await;
        let span = list_cx.span();
        match &list {
            Ok(list) => {
                span.set_attribute(KeyValue::new(
                    "app.recommendation.cache_enabled",
                    cache_enabled,
                ));
                if let Some(hit) = list.cache_hit {
                    // Both names, so readers written for either release find it.
                    span.set_attribute(KeyValue::new(CACHE_HIT, hit));
                    span.set_attribute(KeyValue::new(CACHE_HIT_3_0, hit));
                    ServiceStats::count(if hit {
                        &self.stats.cache_hits
                    } else {
                        &self.stats.cache_misses
                    });
                }
                let count = list.products_count as i64;
                span.set_attribute(KeyValue::new(PRODUCTS_COUNT, count));
                span.set_attribute(KeyValue::new(PRODUCTS_COUNT_3_0, count));
                span.set_attribute(KeyValue::new(
                    "app.filtered_products.count",
                    list.filtered.len() as i64,
                ));
            }
            Err(status) => span.set_status(Status::error(status.message().to_string())),
        }
        span.end();
        let picked = self.recommender.pick(&list?.filtered);
        self.recommendations.add(
            picked.len() as u64,
            &[KeyValue::new("recommendation.type", "catalog")],
        );
        Ok(picked)
    }
}

#[tonic::async_trait]
impl RecommendationService for RecommendationHandler {
    async fn list_recommendations(
        &self,
        request: tonic::Request<ListRecommendationsRequest>,
    ) -> Result<tonic::Response<ListRecommendationsResponse>, tonic::Status> {
        ServiceStats::count(&self.stats.requests);
        let parent = extract_context(request.metadata());
        let span = self
            .tracer
            .span_builder(SERVER_SPAN_NAME)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", "oteldemo.RecommendationService"),
                KeyValue::new("rpc.method", "ListRecommendations"),
            ])
            .start_with_context(&self.tracer, &parent);
        let cx = parent.with_span(span);

        let result = self.recommend(request.into_inner(), &cx).await;

        let span = cx.span();
        match &result {
            Ok(product_ids) => {
                span.set_attribute(KeyValue::new(
                    "app.products_recommended.count",
                    product_ids.len() as i64,
                ));
                span.set_attribute(KeyValue::new("rpc.grpc.status_code", 0i64));
            }
            Err(status) => {
                ServiceStats::count(&self.stats.errors);
                span.set_attribute(KeyValue::new("rpc.grpc.status_code", status.code() as i64));
                span.set_status(Status::error(status.message().to_string()));
            }
        }
        span.end();
        result.map(|product_ids| tonic::Response::new(ListRecommendationsResponse { product_ids }))
    }
}
