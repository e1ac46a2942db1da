//! `demo down [--volumes]`: removes, in parallel, what carries our labels; nothing else.
use std::process::ExitCode;

use futures_util::future;

use crate::cli::DownArgs;
use crate::engine::EngineError;
use crate::error::Error;

use super::Context;

pub async fn run(ctx: &Context, args: DownArgs) -> Result<ExitCode, Error> {
    let engine = ctx.engine().await?;
    let observed = engine.observe(&ctx.project).await?;
    let volumes = if args.volumes {
        observed.volumes.clone()
    } else {
        Vec::new()
    };
    if observed.containers.is_empty() && observed.networks.is_empty() && volumes.is_empty() {
        println!("nothing to remove for project {}", ctx.project);
        if !observed.volumes.is_empty() {
            println!(
                "kept {} volume(s); `demo down --volumes` removes them",
                observed.volumes.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    future::try_join_all(observed.containers.iter().map(|c| async {
        engine.remove_container(&c.id).await?;
        ctx.progress.note(&format!("removed container {}", c.name));
        Ok::<_, EngineError>(())
    }))
    .await?;
    // Networks and volumes can go only once no container uses them.
    let networks = observed.networks.iter().map(|id| engine.remove_network(id));
    future::try_join_all(networks).await?;
    future::try_join_all(volumes.iter().map(|v| engine.remove_volume(v))).await?;
    println!(
        "removed {} container(s), {} network(s), {} volume(s) of project {}",
        observed.containers.len(),
        observed.networks.len(),
        volumes.len(),
        ctx.project
    );
    if !args.volumes && !observed.volumes.is_empty() {
        println!(
            "kept {} volume(s); `demo down --volumes` removes them",
            observed.volumes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
