//! Where the product ids come from: the embedded upstream catalog, or upstream's
//! `ProductCatalogService/ListProducts` when `PRODUCT_CATALOG_ADDR` names one.

use std::time::Duration;

use opentelemetry::Context;
use oteldemo_proto::Empty;
use oteldemo_proto::product_catalog_service_client::ProductCatalogServiceClient;
use service_common::grpc_propagation::inject_context;
use tonic::transport::{Channel, Endpoint};

/// A catalog call slower than this fails the request instead of holding it.
const CATALOG_TIMEOUT: Duration = Duration::from_secs(2);

/// The source of the catalog's product ids.
#[derive(Debug, Clone)]
pub enum Catalog {
    /// The upstream demo's ten products, compiled in.
    Embedded,
    /// A product catalog service speaking upstream's `oteldemo.ProductCatalogService`.
    Remote {
        address: String,
        client: ProductCatalogServiceClient<Channel>,
    },
}

impl Catalog {
    /// The remote catalog at `host:port` (connected lazily, so it may start later than we do).
    /// Must be called inside a Tokio runtime.
    pub fn remote(address: &str) -> Result<Self, String> {
        let uri = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(|error| {
                format!("PRODUCT_CATALOG_ADDR={address:?} is not an address: {error}")
            })?
            .connect_timeout(CATALOG_TIMEOUT)
            .timeout(CATALOG_TIMEOUT)
            .connect_lazy();
        Ok(Self::Remote {
            address: address.to_string(),
            client: ProductCatalogServiceClient::new(channel),
        })
    }

    /// What the admin endpoint shows: `embedded` or the remote address.
    pub fn describe(&self) -> String {
        match self {
            Self::Embedded => "embedded".to_string(),
            Self::Remote { address, .. } => address.clone(),
        }
    }

    /// Every product id in the catalog; the call continues the trace of `cx`.
    pub async fn product_ids(&self, cx: &Context) -> Result<Vec<String>, tonic::Status> {
        match self {
            Self::Embedded => Ok(oteldemo_proto::catalog::embedded_product_ids()
                .map(str::to_string)
                .collect()),
            Self::Remote { client, .. } => {
                let mut request = tonic::Request::new(Empty {});
                inject_context(cx, request.metadata_mut());
                let response = client.clone().list_products(request).await?;
                Ok(response
                    .into_inner()
                    .products
                    .into_iter()
                    .map(|product| product.id)
                    .collect())
            }
        }
    }
}
