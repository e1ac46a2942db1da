//! The recommendation service: upstream's `oteldemo.RecommendationService` with its cache leak
//! behind the `recommendationCacheFailure` flag, traced and measured over OTLP.

pub mod admin;
pub mod catalog;
pub mod command;
pub mod flag_watcher;
pub mod flags;
pub mod grpc_service;
pub mod healthcheck;
pub mod process_metrics;
pub mod product_cache;
pub mod recommender;
pub mod server;
pub mod settings;
pub mod stats;
