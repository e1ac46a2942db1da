//! With `PRODUCT_CATALOG_ADDR`, the product ids come from upstream's
//! `ProductCatalogService/ListProducts`, called in the request's trace; without it answering,
//! requests fail cleanly.

mod support;

use std::sync::{Arc, Mutex};

use oteldemo_proto::product_catalog_service_server::{
    ProductCatalogService, ProductCatalogServiceServer,
};
use oteldemo_proto::{
    Empty, GetProductRequest, ListProductsResponse, ListRecommendationsRequest, Product,
    SearchProductsRequest, SearchProductsResponse,
};
use support::*;

const NO_COLLECTOR: &str = "http://127.0.0.1:9";

/// A catalog of three products that remembers the `traceparent` of each call.
#[derive(Clone, Default)]
struct FakeCatalog {
    traceparents: Arc<Mutex<Vec<Option<String>>>>,
}

fn product(id: &str) -> Product {
    Product {
        id: id.to_string(),
        name: format!("product {id}"),
        ..Product::default()
    }
}

#[tonic::async_trait]
impl ProductCatalogService for FakeCatalog {
    async fn list_products(
        &self,
        request: tonic::Request<Empty>,
    ) -> Result<tonic::Response<ListProductsResponse>, tonic::Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.traceparents.lock().unwrap().push(traceparent);
        Ok(tonic::Response::new(ListProductsResponse {
            products: ["AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"]
                .into_iter()
                .map(product)
                .collect(),
        }))
    }

    async fn get_product(
        &self,
        _: tonic::Request<GetProductRequest>,
    ) -> Result<tonic::Response<Product>, tonic::Status> {
        Err(tonic::Status::unimplemented("not used"))
    }

    async fn search_products(
        &self,
        _: tonic::Request<SearchProductsRequest>,
    ) -> Result<tonic::Response<SearchProductsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not used"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_catalog_feeds_both_paths_within_the_trace() {
    let catalog = FakeCatalog::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ProductCatalogServiceServer::new(catalog.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, NO_COLLECTOR, &[("PRODUCT_CATALOG_ADDR", &address)]);
    let mut client = plain_client(service.grpc).await;
    let mut request = tonic::Request::new(ListRecommendationsRequest {
        user_id: "u".into(),
        product_ids: vec!["AAAAAAAAAA".into()],
    });
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let mut answer = client
        .list_recommendations(request)
        .await
        .unwrap()
        .into_inner()
        .product_ids;
    answer.sort();
    assert_eq!(answer, ["BBBBBBBBBB", "CCCCCCCCCC"]);
    let traceparent = catalog.traceparents.lock().unwrap()[0].clone().unwrap();
    assert!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the catalog call continues the caller's trace: {traceparent}"
    );
    assert_eq!(state(&service)["catalog"], address.as_str());

    // Flag on: the first call is a miss that grows the list from the remote catalog.
    std::fs::write(&flags, FLAG_ON).unwrap();
    let started = std::time::Instant::now();
    while state(&service)["cache_enabled"] != true {
        assert!(started.elapsed().as_secs() < 3);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    client
        .list_recommendations(ListRecommendationsRequest::default())
        .await
        .unwrap();
    assert_eq!(state(&service)["cached_ids"], 3); // (0+3) + 3/4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_catalog_fails_the_request_not_the_service() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, NO_COLLECTOR, &[("PRODUCT_CATALOG_ADDR", &closed)]);
    let mut client = plain_client(service.grpc).await;
    let status = client
        .list_recommendations(ListRecommendationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let state = state(&service);
    assert_eq!(state["errors"], 1);
    assert_eq!(state["requests"], 1);
    let (code, _, stderr) = run_binary(&["--healthcheck"], service.grpc_port, service.admin_port);
    assert_eq!(code, 0, "still serving: {stderr}");
}
