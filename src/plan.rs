//! Decide, then do: turns the wanted services and what the engine holds into a plan whose every
//! step carries its cause. Pure, so the plan is tested as text with no engine.
use std::fmt;

use crate::compose::Service;
use crate::engine::{ContainerFacts, Observed};

/// What `up` will do to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make a new container.
    Create,
    /// Remove these containers, then make a new one.
    Recreate { old: Vec<String> },
    /// Leave the running container as it is.
    Keep { id: String },
}

/// One service's step and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub service: String,
    pub action: Action,
    pub cause: &'static str,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            Action::Create => "create",
            Action::Recreate { .. } => "recreate",
            Action::Keep { .. } => "keep",
        };
        write!(f, "{}: {verb} ({})", self.service, self.cause)
    }
}

/// For each wanted service, in the order given: keep what runs unchanged, (re)create the rest.
///
/// `image_id` answers the ID of the image a service would run now, when the engine holds it;
/// a container from another image is recreated, one whose image is absent is judged by its
/// configuration alone.
pub fn reconcile(
    services: &[&Service],
    observed: &Observed,
    image_id: impl Fn(&Service) -> Option<String>,
) -> Vec<Step> {
    services
        .iter()
        .map(|service| {
            let existing: Vec<&ContainerFacts> = observed.of_service(&service.name).collect();
            let old = || existing.iter().map(|c| c.id.clone()).collect();
            let (action, cause) = match existing.as_slice() {
                [] => (Action::Create, "no existing container"),
                [_, _, ..] => (Action::Recreate { old: old() }, "more than one container"),
                [current] => {
                    let wanted_image = image_id(service);
                    if current.config_hash() != Some(service.config_hash().as_str()) {
                        (Action::Recreate { old: old() }, "configuration changed")
                    } else if wanted_image.is_some_and(|id| id != current.image_id) {
                        (Action::Recreate { old: old() }, "image changed")
                    } else if !matches!(current.state.as_str(), "running" | "restarting") {
                        (Action::Recreate { old: old() }, "container is not running")
                    } else {
                        (Action::Keep { id: current.id.clone() }, "up to date")
                    }
                }
            };
            Step { service: service.name.clone(), action, cause }
        })
        .collect()
}
