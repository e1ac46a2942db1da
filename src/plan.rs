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
                        (
                            Action::Keep {
                                id: current.id.clone(),
                            },
                            "up to date",
                        )
                    }
                }
            };
            Step {
                service: service.name.clone(),
                action,
                cause,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::compose::{self, Project};

    fn project(overrides: &[(&str, &str)]) -> Project {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml");
        let vars: HashMap<&str, &str> = overrides.iter().copied().collect();
        compose::load_with(&file, "p", &|name| vars.get(name).map(|v| v.to_string())).unwrap()
    }

    fn running(service: &Service, id: &str, image: &str) -> ContainerFacts {
        let labels = HashMap::from([
            (crate::labels::SERVICE.to_string(), service.name.clone()),
            (
                crate::labels::CONFIG_HASH.to_string(),
                service.config_hash(),
            ),
        ]);
        ContainerFacts {
            id: id.into(),
            name: format!("p-{}-1", service.name),
            service: service.name.clone(),
            labels,
            state: "running".into(),
            health: "healthy".into(),
            health_output: String::new(),
            exit_code: 0,
            oom_killed: false,
            restart_count: 0,
            memory_limit: None,
            image_id: image.into(),
            created: String::new(),
            entrypoint: Vec::new(),
        }
    }

    fn render(steps: &[Step]) -> String {
        steps.iter().map(|s| format!("{s}\n")).collect()
    }

    #[test]
    fn an_empty_engine_creates_everything_in_dependency_order() {
        let project = project(&[]);
        let all: Vec<&Service> = project.services.iter().collect();
        let steps = reconcile(&all, &Observed::default(), |_| None);
        insta::assert_snapshot!(render(&steps), @r"
        jaeger: create (no existing container)
        otel-collector: create (no existing container)
        prometheus: create (no existing container)
        grafana: create (no existing container)
        recommendation: create (no existing container)
        load-generator: create (no existing container)
        ");
    }

    #[test]
    fn only_what_changed_or_went_missing_is_recreated() {
        let before = project(&[]);
        let mut observed = Observed::default();
        for (i, service) in before.services.iter().enumerate() {
            observed
                .containers
                .push(running(service, &format!("c{i}"), "sha256:old"));
        }
        // prometheus exited; grafana vanished; the load generator's rate changed;
        // jaeger's image was rebuilt under the same tag.
        observed
            .containers
            .iter_mut()
            .find(|c| c.service == "prometheus")
            .unwrap()
            .state = "exited".into();
        observed.containers.retain(|c| c.service != "grafana");
        let after = project(&[("LOAD_GENERATOR_RATE", "99")]);
        let all: Vec<&Service> = after.services.iter().collect();
        let image = |s: &Service| {
            Some(
                if s.name == "jaeger" {
                    "sha256:new"
                } else {
                    "sha256:old"
                }
                .to_string(),
            )
        };
        let steps = reconcile(&all, &observed, image);
        insta::assert_snapshot!(render(&steps), @r"
        jaeger: recreate (image changed)
        otel-collector: keep (up to date)
        prometheus: recreate (container is not running)
        grafana: create (no existing container)
        recommendation: keep (up to date)
        load-generator: recreate (configuration changed)
        ");
    }

    #[test]
    fn a_missing_image_alone_does_not_force_a_recreate() {
        let project = project(&[]);
        let service = project.service("recommendation").unwrap();
        let observed = Observed {
            containers: vec![running(service, "c1", "sha256:x")],
            ..Default::default()
        };
        let steps = reconcile(&[service], &observed, |_| None);
        assert_eq!(steps[0].action, Action::Keep { id: "c1".into() });
    }
}
