//! `demo doctor`'s checks as plain data: each ok, warn or fail with a one-line detail and, unless
//! ok, a one-line fix. Pure: the command gathers the facts, these functions judge them.
pub mod host;

use serde::Serialize;

use crate::engine::SystemFacts;
use crate::images::human_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable: `engine`, `platform`, `memory`, `cgroup`, `disk`, `port 127.0.0.1:9090`,
    /// `image prometheus`.
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do; `None` when ok.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Warn,
            fix: Some(fix.into()),
            ..Check::ok(name, detail)
        }
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Check::ok(name, detail)
        }
    }
}

/// Every check, and whether none failed (the exit code).
#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(checks: Vec<Check>) -> Self {
        Report {
            ok: checks.iter().all(|c| c.status != Status::Fail),
            checks,
        }
    }

    /// One line per check, its fix on the line below; a summary last.
    pub fn render(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            out.push_str(&format!(
                "{:<4}  {:<width$}  {}\n",
                check.status.word(),
                check.name,
                check.detail
            ));
            if let Some(fix) = &check.fix {
                out.push_str(&format!("      {:<width$}  fix: {fix}\n", ""));
            }
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "{} ok, {} warn, {} fail: {}\n",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail),
            if self.ok {
                "ready for `demo up`"
            } else {
                "fix the failures before `demo up`"
            }
        ));
        out
    }
}

/// The engine's OS and architecture against our images, which are built for this host's.
pub fn platform(facts: &SystemFacts, host_arch: &str) -> Check {
    let seen = format!("{}/{}", facts.os_type, facts.architecture);
    if facts.os_type != "linux" {
        return Check::fail(
            "platform",
            format!("the engine runs {seen} containers; every image of the stack is linux"),
            "switch the engine to Linux containers",
        );
    }
    if facts.architecture != host_arch {
        return Check::warn(
            "platform",
            format!("the engine is {seen}, this host builds linux/{host_arch} images"),
            "run demo on a host of the engine's architecture, or use an engine on this host",
        );
    }
    Check::ok(
        "platform",
        format!("{seen}, the architecture our images are built for"),
    )
}

/// The memory the engine offers against the sum of the stack's limits.
pub fn memory(facts: &SystemFacts, limits: u64) -> Check {
    let Some(total) = facts.mem_total else {
        return Check::warn(
            "memory",
            "the engine does not say how much memory it has",
            "check the engine's memory by hand against the sum of the services' mem_limit",
        );
    };
    let detail = format!(
        "the engine offers {}, the stack's limits add up to {}",
        human_bytes(total),
        human_bytes(limits)
    );
    let fix = "give the engine more memory, or lower the *_MEMORY_LIMIT variables";
    if limits > total {
        Check::fail("memory", detail, fix)
    } else if limits * 10 > total * 8 {
        Check::warn("memory", format!("{detail} (over 80%)"), fix)
    } else {
        Check::ok("memory", detail)
    }
}

/// Whether memory limits are enforced, so a leaking service is OOM-killed (the leak's symptom)
/// and the engine reports it. (The engine's `OomKillDisable` says only that a container *could*
/// opt out of the OOM killer; ours never do.)
pub fn cgroup(facts: &SystemFacts) -> Check {
    let version = if facts.cgroup_version.is_empty() {
        "cgroup".to_string()
    } else {
        format!("cgroup v{}", facts.cgroup_version)
    };
    if !facts.memory_limit {
        return Check::fail(
            "cgroup",
            format!(
                "{version}: the engine cannot enforce memory limits, so no OOM kill will show the leak"
            ),
            "enable the memory cgroup controller (cgroup_enable=memory on the kernel command line)",
        );
    }
    Check::ok(
        "cgroup",
        format!("{version}: memory limits enforced, OOM kills observable"),
    )
}

/// Free disk where the engine keeps images, against what the stack's images need.
pub fn disk(root: &str, free: Option<u64>) -> Check {
    const NEED: u64 = 3 * 1024 * 1024 * 1024;
    const LEAST: u64 = 512 * 1024 * 1024;
    let Some(free) = free else {
        return Check::warn(
            "disk",
            format!("cannot read the free space of {root} from here (remote engine, or no access)"),
            "make sure the engine has about 3 GiB free for the stack's images",
        );
    };
    let detail = format!("{} free at {root}", human_bytes(free));
    let fix = "free disk space (`docker system prune` removes unused objects)";
    if free < LEAST {
        Check::fail("disk", detail, fix)
    } else if free < NEED {
        Check::warn(
            "disk",
            format!("{detail}; the images need about 3 GiB"),
            fix,
        )
    } else {
        Check::ok("disk", detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn facts() -> SystemFacts {
        SystemFacts {
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            os_type: "linux".into(),
            architecture: "amd64".into(),
            mem_total: Some(8 * GIB),
            cgroup_version: "1".into(),
            memory_limit: true,
            root_dir: "/var/lib/docker".into(),
        }
    }

    #[test]
    fn each_judgement_has_its_ok_warn_and_fail() {
        assert_eq!(platform(&facts(), "amd64").status, Status::Ok);
        assert_eq!(platform(&facts(), "arm64").status, Status::Warn);
        let windows = SystemFacts {
            os_type: "windows".into(),
            ..facts()
        };
        assert_eq!(platform(&windows, "amd64").status, Status::Fail);
        assert_eq!(memory(&facts(), 2 * GIB).status, Status::Ok);
        assert_eq!(memory(&facts(), 7 * GIB).status, Status::Warn);
        assert_eq!(memory(&facts(), 9 * GIB).status, Status::Fail);
        assert_eq!(cgroup(&facts()).status, Status::Ok);
        let unlimited = SystemFacts {
            memory_limit: false,
            ..facts()
        };
        assert_eq!(cgroup(&unlimited).status, Status::Fail);
        assert_eq!(disk("/d", Some(10 * GIB)).status, Status::Ok);
        assert_eq!(disk("/d", Some(GIB)).status, Status::Warn);
        assert_eq!(disk("/d", Some(GIB / 4)).status, Status::Fail);
        assert_eq!(disk("/d", None).status, Status::Warn);
    }

    #[test]
    fn the_report_and_its_json_shape() {
        let report = Report::new(vec![
            Check::ok(
                "engine",
                "Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock",
            ),
            Check::fail(
                "port 127.0.0.1:9090",
                "held by pid 42 (python3)",
                "stop it, or set PROMETHEUS_PORT to another port",
            ),
            Check::warn(
                "image recommendation",
                "demo/recommendation:0.1.0 is not in the engine",
                "`demo build` builds it (`demo up` does too)",
            ),
        ]);
        assert!(!report.ok);
        insta::assert_snapshot!(report.render(), @r"
        ok    engine                Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock
        FAIL  port 127.0.0.1:9090   held by pid 42 (python3)
                                    fix: stop it, or set PROMETHEUS_PORT to another port
        warn  image recommendation  demo/recommendation:0.1.0 is not in the engine
                                    fix: `demo build` builds it (`demo up` does too)
        1 ok, 1 warn, 1 fail: fix the failures before `demo up`
        ");
        insta::assert_snapshot!(serde_json::to_string_pretty(&report).unwrap(), @r#"
        {
          "ok": false,
          "checks": [
            {
              "name": "engine",
              "status": "ok",
              "detail": "Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock",
              "fix": null
            },
            {
              "name": "port 127.0.0.1:9090",
              "status": "fail",
              "detail": "held by pid 42 (python3)",
              "fix": "stop it, or set PROMETHEUS_PORT to another port"
            },
            {
              "name": "image recommendation",
              "status": "warn",
              "detail": "demo/recommendation:0.1.0 is not in the engine",
              "fix": "`demo build` builds it (`demo up` does too)"
            }
          ]
        }
        "#);
    }
}
