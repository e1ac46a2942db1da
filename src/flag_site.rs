//! Where a project's flags live on the engine: the container of the service that reads the
//! flag file, the file read and written there through the archive API, and what the running
//! service reports it acts on. Shared by `demo flag` and `demo status`.
use crate::build::IMAGE_OWNER;
use crate::compose::{Project, Service};
use crate::engine::{ContainerFacts, Engine};
use crate::error::Error;
use crate::flags::{self, FlagFile};

/// The environment variable through which a service is told where its flag file is.
const FLAG_FILE_VARIABLE: &str = "FLAGD_FILE";

/// Where the flags live for this project: the reading service's container and its path.
pub struct FlagSite<'a> {
    pub service: &'a Service,
    pub container: ContainerFacts,
    pub path: String,
}

impl FlagSite<'_> {
    /// Replaces the file with `file`, owned by the image's user so the service can read it.
    pub async fn write(&self, engine: &Engine, file: &FlagFile) -> Result<(), Error> {
        let (dir, name) = self
            .path
            .rsplit_once('/')
            .unwrap_or(("/", self.path.as_str()));
        engine
            .write_file(&self.container.id, dir, name, &file.to_bytes(), IMAGE_OWNER)
            .await?;
        Ok(())
    }
}

/// The first service that is told a flag file, and its container; a usage error when no
/// service reads one or it is not up.
pub async fn locate<'a>(engine: &Engine, project: &'a Project) -> Result<FlagSite<'a>, Error> {
    let Some(service) = project
        .services
        .iter()
        .find(|s| s.environment.contains_key(FLAG_FILE_VARIABLE))
    else {
        return Err(Error::Usage(format!(
            "no service in {} reads a flag file (none sets {FLAG_FILE_VARIABLE}); add it to the service that evaluates flags",
            project.dir.display()
        )));
    };
    let observed = engine.observe(&project.name).await?;
    let Some(container) = observed.of_service(&service.name).next().cloned() else {
        return Err(Error::Usage(format!(
            "service \"{}\" of project {} is not up, so its flags cannot be read; run `demo up` first",
            service.name, project.name
        )));
    };
    Ok(FlagSite {
        service,
        container,
        path: service.environment[FLAG_FILE_VARIABLE].clone(),
    })
}

pub async fn read_flags(engine: &Engine, site: &FlagSite<'_>) -> Result<FlagFile, Error> {
    let bytes = engine.read_file(&site.container.id, &site.path).await?.ok_or_else(|| {
        Error::Usage(format!(
            "there is no flag file at {} in service \"{}\"; `demo down --volumes && demo up` restores the default",
            site.path, site.service.name
        ))
    })?;
    FlagFile::parse(&site.path, &bytes).map_err(|e| Error::Flag(e.to_string()))
}

/// What the running service says it acts on (its `--state` admin command).
pub async fn service_state(
    engine: &Engine,
    site: &FlagSite<'_>,
) -> Result<serde_json::Value, String> {
    crate::service_state::read(engine, &site.container).await
}

/// The value the service reports for flag `name` (under either of its names).
pub fn reported(state: &serde_json::Value, name: &str) -> Option<bool> {
    let flags = state.get("flags")?;
    flags
        .get(name)
        .or_else(|| flags::alias_of(name).and_then(|alias| flags.get(alias)))?
        .as_bool()
}

pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
