//! The load generator: steady `ListRecommendations` traffic traced as service `frontend`.

pub mod admin;
pub mod command;
pub mod settings;
pub mod stats;
pub mod traffic;
