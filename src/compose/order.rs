//! The `depends_on` graph: its checks, the deterministic start order, and service selection.
//!
//! The order is a topological sort that always takes the alphabetically first ready service,
//! so the same file gives the same order on every run and every machine.
use std::collections::{BTreeMap, BTreeSet};

use super::error::ComposeError;
use super::model::{Condition, Project, Service};

/// Rejects dependencies on services the file does not define, and waits for health on a
/// service whose health check the file disables (it would wait forever).
pub(crate) fn check_dependencies(services: &[Service]) -> Result<(), ComposeError> {
    let by_name: BTreeMap<&str, &Service> = services.iter().map(|s| (s.name.as_str(), s)).collect();
    for (name, service) in &by_name {
        for dep in &service.depends_on {
            let Some(target) = by_name.get(dep.service.as_str()) else {
                return Err(ComposeError::UnknownDependency {
                    service: name.to_string(),
                    dependency: dep.service.clone(),
                });
            };
            let disabled = target.healthcheck.as_ref().is_some_and(|h| h.is_disabled());
            if dep.condition == Condition::ServiceHealthy && disabled {
                return Err(ComposeError::HealthcheckDisabled {
                    service: name.to_string(),
                    dependency: dep.service.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Sorts services so that each comes after all it depends on; ties by name. Dependencies must
/// already be checked to exist.
pub(crate) fn sort(services: Vec<Service>) -> Result<Vec<Service>, ComposeError> {
    let mut waiting: BTreeMap<String, BTreeSet<String>> = services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.depends_on.iter().map(|d| d.service.clone()).collect(),
            )
        })
        .collect();
    let mut by_name: BTreeMap<String, Service> =
        services.into_iter().map(|s| (s.name.clone(), s)).collect();
    let mut ready: BTreeSet<String> = waiting
        .iter()
        .filter(|(_, deps)| deps.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    for name in &ready {
        waiting.remove(name);
    }
    let mut ordered = Vec::with_capacity(by_name.len());
    while let Some(name) = ready.pop_first() {
        for (other, deps) in waiting.iter_mut() {
            if deps.remove(&name) && deps.is_empty() {
                ready.insert(other.clone());
            }
        }
        waiting.retain(|other, _| !ready.contains(other));
        ordered.push(
            by_name
                .remove(&name)
                .expect("every name in the graph is a service"),
        );
    }
    if waiting.is_empty() {
        Ok(ordered)
    } else {
        Err(ComposeError::Cycle {
            cycle: find_cycle(&waiting),
        })
    }
}

/// One cycle among services that never became ready, as `a -> b -> a`, starting at its
/// alphabetically first member. Every such service still waits on another such service, so
/// following the first remaining dependency always closes a loop.
fn find_cycle(waiting: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut path: Vec<&str> = Vec::new();
    let mut current = waiting.keys().next().expect("a cycle has members").as_str();
    while !path.contains(&current) {
        path.push(current);
        current = waiting[current]
            .iter()
            .find(|d| waiting.contains_key(d.as_str()))
            .expect("a waiting service waits on another waiting service");
    }
    let start = path
        .iter()
        .position(|n| *n == current)
        .expect("the loop closes on the path");
    let mut cycle: Vec<&str> = path[start..].to_vec();
    let first = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, n)| **n)
        .map_or(0, |(i, _)| i);
    cycle.rotate_left(first);
    cycle.push(cycle[0]);
    cycle.join(" -> ")
}

/// The services `names` asks for (all when empty), plus their transitive dependencies unless
/// `no_deps`, in the project's order.
pub(crate) fn select<'p>(
    project: &'p Project,
    names: &[String],
    no_deps: bool,
) -> Result<Vec<&'p Service>, ComposeError> {
    if names.is_empty() {
        return Ok(project.services.iter().collect());
    }
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    let mut queue: Vec<&str> = Vec::new();
    for name in names {
        let service = project
            .service(name)
            .ok_or_else(|| unknown_service(project, name))?;
        queue.push(&service.name);
    }
    while let Some(name) = queue.pop() {
        if !wanted.insert(name) || no_deps {
            continue;
        }
        if let Some(service) = project.service(name) {
            queue.extend(service.depends_on.iter().map(|d| d.service.as_str()));
        }
    }
    Ok(project
        .services
        .iter()
        .filter(|s| wanted.contains(s.name.as_str()))
        .collect())
}

fn unknown_service(project: &Project, name: &str) -> ComposeError {
    let mut known: Vec<String> = project.services.iter().map(|s| s.name.clone()).collect();
    known.sort();
    ComposeError::UnknownService {
        name: name.to_string(),
        suggestion: closest(name, &known),
        known,
    }
}

/// The known name a typo most likely meant: a few edits away, or the only one it begins.
fn closest(name: &str, known: &[String]) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    let near = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone());
    near.or_else(|| {
        let mut prefixed = known
            .iter()
            .filter(|k| !name.is_empty() && k.starts_with(name));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Dependency, Healthcheck, RestartPolicy};
    use std::time::Duration;

    fn service(name: &str, deps: &[&str]) -> Service {
        Service {
            name: name.into(),
            image: format!("{name}:1"),
            image_variable: None,
            build: None,
            entrypoint: None,
            command: None,
            environment: BTreeMap::new(),
            ports: Vec::new(),
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            healthcheck: None,
            depends_on: deps
                .iter()
                .map(|d| Dependency {
                    service: d.to_string(),
                    condition: Condition::ServiceStarted,
                })
                .collect(),
            mem_limit: None,
            restart: RestartPolicy::No,
            user: None,
            read_only: false,
            labels: BTreeMap::new(),
            configs: Vec::new(),
        }
    }

    fn names(services: &[Service]) -> Vec<&str> {
        services.iter().map(|s| s.name.as_str()).collect()
    }

    fn project(services: Vec<Service>) -> Project {
        Project {
            name: "t".into(),
            dir: "/t".into(),
            services: sort(services).unwrap(),
            volumes: Vec::new(),
        }
    }

    #[test]
    fn dependencies_come_first_and_ties_go_by_name() {
        let sorted = sort(vec![
            service("web", &["api", "cache"]),
            service("cache", &[]),
            service("api", &["db"]),
            service("db", &[]),
            service("batch", &[]),
        ])
        .unwrap();
        assert_eq!(names(&sorted), vec!["batch", "cache", "db", "api", "web"]);
    }

    #[test]
    fn cycles_are_named_from_their_first_member() {
        let err = sort(vec![
            service("b", &["a"]),
            service("a", &["b"]),
            service("c", &[]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "depends_on forms a cycle: a -> b -> a; remove one of these dependencies"
        );
        let err = sort(vec![
            service("x", &["z"]),
            service("z", &["y"]),
            service("y", &["x"]),
            service("w", &["x"]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "depends_on forms a cycle: x -> z -> y -> x; remove one of these dependencies"
        );
        let err = sort(vec![service("self", &["self"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "depends_on forms a cycle: self -> self; remove one of these dependencies"
        );
    }

    #[test]
    fn unknown_dependencies_are_rejected() {
        let err = check_dependencies(&[service("a", &["b"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "service \"a\" depends on \"b\", which is not defined in the file; define it or remove the dependency"
        );
    }

    #[test]
    fn waiting_for_health_on_a_disabled_check_is_rejected() {
        let mut b = service("b", &[]);
        b.healthcheck = Some(Healthcheck {
            test: vec![Healthcheck::NONE.into()],
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            start_period: Duration::ZERO,
            retries: 3,
        });
        let mut a = service("a", &["b"]);
        assert!(check_dependencies(&[a.clone(), b.clone()]).is_ok());
        a.depends_on[0].condition = Condition::ServiceHealthy;
        let err = check_dependencies(&[a, b]).unwrap_err();
        assert!(err.to_string().starts_with(
            "service \"a\" waits for \"b\" to be healthy, but \"b\" disables its health check"
        ));
    }

    #[test]
    fn select_all_named_and_transitive() {
        let p = project(vec![
            service("web", &["api"]),
            service("api", &["db"]),
            service("db", &[]),
            service("other", &[]),
        ]);
        let picked = |names: &[&str], no_deps| -> Vec<String> {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            select(&p, &names, no_deps)
                .unwrap()
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        assert_eq!(picked(&[], false), vec!["db", "api", "other", "web"]);
        assert_eq!(picked(&["web"], false), vec!["db", "api", "web"]);
        assert_eq!(picked(&["web"], true), vec!["web"]);
        assert_eq!(picked(&["web", "db", "web"], true), vec!["db", "web"]);
        assert_eq!(picked(&["other", "api"], false), vec!["db", "api", "other"]);
    }

    #[test]
    fn select_unknown_name_suggests_the_closest() {
        let p = project(vec![
            service("recommendation", &[]),
            service("grafana", &[]),
            service("load-generator", &[]),
        ]);
        let err = select(&p, &["recomendation".to_string()], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown service \"recomendation\"; did you mean \"recommendation\"? known: grafana, load-generator, recommendation"
        );
        assert!(err.is_usage());
        let err = select(&p, &["load".to_string()], false).unwrap_err();
        assert!(err.to_string().contains("did you mean \"load-generator\"?"));
        let err = select(&p, &["zzz".to_string()], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown service \"zzz\"; known: grafana, load-generator, recommendation"
        );
    }
}
