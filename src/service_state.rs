//! What a running service of ours says it acts on: its image's entrypoint run with `--state`
//! inside the container (through the engine, so no published port and any engine will do).
use crate::engine::{ContainerFacts, Engine};

/// The service's `--state` JSON, or one line saying why it could not be had.
pub async fn read(
    engine: &Engine,
    container: &ContainerFacts,
) -> Result<serde_json::Value, String> {
    let Some(binary) = container.entrypoint.first() else {
        return Err(format!(
            "the image of service \"{}\" has no entrypoint to ask",
            container.service
        ));
    };
    let (code, stdout) = engine
        .exec(&container.id, &[binary, "--state"])
        .await
        .map_err(|e| e.to_string())?;
    if code != 0 {
        return Err(format!(
            "`{binary} --state` exited with {code}: {}",
            stdout.trim()
        ));
    }
    serde_json::from_str(stdout.trim())
        .map_err(|e| format!("`{binary} --state` printed no JSON ({e})"))
}
