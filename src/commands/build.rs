//! `demo build [SERVICE...]`: builds our images and reports their sizes.
use std::process::ExitCode;

use crate::cli::BuildArgs;
use crate::error::Error;
use crate::images;

use super::Context;

pub async fn run(ctx: &Context, args: BuildArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let services: Vec<_> = if args.services.is_empty() {
        project
            .services
            .iter()
            .filter(|s| s.build.is_some())
            .collect()
    } else {
        let named = project.select(&args.services, true)?;
        if let Some(upstream) = named.iter().find(|s| s.build.is_none()) {
            return Err(Error::Usage(format!(
                "service \"{}\" uses the upstream image {} and is not built here; name one of: {}",
                upstream.name,
                upstream.image,
                project
                    .services
                    .iter()
                    .filter(|s| s.build.is_some())
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        named
    };
    let engine = ctx.engine().await?;
    let built = images::build(&engine, &services, &ctx.progress).await?;
    for service in &services {
        let facts = &built[&service.name];
        println!(
            "{:<16} {:<36} {}",
            service.name,
            service.image,
            images::human_bytes(facts.size)
        );
    }
    Ok(ExitCode::SUCCESS)
}
