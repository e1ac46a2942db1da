//! Wires the service together: flags, catalog, cache, gRPC with health, admin endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry::metrics::Meter;
use opentelemetry_sdk::trace::SdkTracer;
use oteldemo_proto::recommendation_service_server::RecommendationServiceServer;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpListener;

use crate::admin::AdminView;
use crate::catalog::Catalog;
use crate::flag_watcher::{FlagState, FlagWatcher, POLL_INTERVAL};
use crate::grpc_service::RecommendationHandler;
use crate::healthcheck::HEALTH_SERVICE_NAME;
use crate::process_metrics;
use crate::recommender::Recommender;
use crate::settings::Settings;
use crate::stats::ServiceStats;

/// The bound listeners, ready to serve.
#[derive(Debug)]
pub struct BoundServer {
    grpc: TcpListener,
    admin: TcpListener,
    settings: Settings,
}

impl BoundServer {
    /// Binds both ports on all interfaces.
    pub async fn bind(settings: Settings) -> Result<Self, String> {
        let grpc = bind(settings.grpc_port, "RECOMMENDATION_PORT").await?;
        let admin = bind(settings.admin_port, "ADMIN_PORT").await?;
        Ok(Self {
            grpc,
            admin,
            settings,
        })
    }

    pub fn grpc_address(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn admin_address(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        tracer: SdkTracer,
        meter: Meter,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let settings = self.settings;
        let flags = Arc::new(FlagState::default());
        let mut watcher = FlagWatcher::new(&settings.flag_file, flags.clone());
        watcher.poll();
        tokio::spawn(watcher.run(POLL_INTERVAL));

        let catalog = match &settings.catalog_address {
            Some(address) => Catalog::remote(address)?,
            None => Catalog::Embedded,
        };
        let rng = settings
            .seed
            .map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
        let recommender = Arc::new(Recommender::new(catalog, rng));
        let stats = Arc::new(ServiceStats::default());

        process_metrics::register(&meter);
        let handler = RecommendationHandler::new(
            recommender.clone(),
            flags.clone(),
            stats.clone(),
            tracer,
            &meter,
        );

        let admin = AdminView {
            flags,
            recommender,
            stats,
            flag_file: settings.flag_file.clone(),
        };
        tokio::spawn(service_common::admin_http::serve(
            self.admin,
            admin.renderer(),
        ));

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(HEALTH_SERVICE_NAME, tonic_health::ServingStatus::Serving)
            .await;

        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(RecommendationServiceServer::new(handler))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.grpc).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .map_err(|error| format!("the gRPC server stopped: {error}"))
    }
}

async fn bind(port: u16, variable: &str) -> Result<TcpListener, String> {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
        .await
        .map_err(|error| format!("cannot listen on port {port} ({variable}): {error}"))
}

/// Completes on SIGTERM (`docker stop`) or SIGINT. As PID 1 in a container the process gets
/// no default handling of these, so without this a stop would wait for the kill timeout.
pub async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
