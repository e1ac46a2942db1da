//! Makes sure every service has its image: ours are built, upstream ones pulled, present ones
//! left alone. Shared by `build` (which always builds) and `up` (which builds what is missing).
use std::collections::HashMap;

use futures_util::future;

use crate::build::{self, Crate};
use crate::compose::Service;
use crate::engine::{Engine, EngineError, ImageFacts};
use crate::error::Error;
use crate::progress::Progress;

/// Builds the images of `services` (all of which must have a `build` section): from their
/// source where it is beside the compose file (one cargo run where this host can, through the
/// engine otherwise), else from `demo`'s own executable. Returns each service's image.
pub async fn build(
    engine: &Engine,
    services: &[&Service],
    progress: &Progress,
) -> Result<HashMap<String, ImageFacts>, Error> {
    if services.is_empty() {
        return Ok(HashMap::new());
    }
    let mut crates = Vec::new();
    let mut carried = Vec::new();
    for service in services {
        match (Crate::of(service), build::carried_program(service)) {
            (Ok(krate), _) => crates.push(krate),
            (Err(_), Some(program)) => carried.push((*service, program)),
            (Err(e), None) => return Err(e.into()),
        }
    }
    let mut out = HashMap::new();
    let (os, arch) = engine.platform().await?;
    if !crates.is_empty() {
        out.extend(build_from_source(engine, &crates, &arch, progress).await?);
    }
    for (service, program) in &carried {
        build::check_platform(service, program, &os, &arch)?;
    }
    let packed = future::try_join_all(carried.iter().map(|&(service, program)| async move {
        let mut task = progress.task(&service.name);
        task.stage(&format!(
            "packing image {} from this executable",
            service.image
        ));
        let rootfs = build::self_rootfs(service, program)?;
        let facts = engine.import(rootfs).await?;
        task.finish(&format!(
            "packed {} ({})",
            service.image,
            human_bytes(facts.size)
        ));
        Ok::<_, Error>((service.name.clone(), facts))
    }))
    .await?;
    out.extend(packed);
    engine.prune_our_dangling_images().await?;
    Ok(out)
}

/// Our crates' images from their source: static binaries from the host's cargo where it can
/// build for the engine, the services' Dockerfiles through the engine elsewhere.
async fn build_from_source(
    engine: &Engine,
    crates: &[Crate],
    engine_arch: &str,
    progress: &Progress,
) -> Result<HashMap<String, ImageFacts>, Error> {
    let mut out = HashMap::new();
    match build::host_target(engine_arch) {
        Some(target) => {
            let names = crates
                .iter()
                .map(|c| c.package.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut task = progress.task("cargo");
            task.stage(&format!("compiling {names} (static, {target})"));
            let binaries =
                build::cargo_build_static(crates, &target, |line| task.detail(line)).await?;
            task.finish(&format!("compiled {names}"));
            for krate in crates {
                let context = build::scratch_context(krate, &binaries[&krate.package])?;
                let facts =
                    send_build(engine, &krate.service, &krate.image, context, progress).await?;
                out.insert(krate.service.clone(), facts);
            }
        }
        None => {
            for krate in crates {
                let context = build::dockerfile_context(krate)?;
                let facts =
                    send_build(engine, &krate.service, &krate.image, context, progress).await?;
                out.insert(krate.service.clone(), facts);
            }
        }
    }
    Ok(out)
}

async fn send_build(
    engine: &Engine,
    service: &str,
    image: &str,
    context: crate::engine::BuildContext,
    progress: &Progress,
) -> Result<ImageFacts, Error> {
    let mut task = progress.task(service);
    task.stage(&format!("building image {image}"));
    let facts = engine.build(context, |line| task.detail(line)).await?;
    task.finish(&format!("built {image} ({})", human_bytes(facts.size)));
    Ok(facts)
}

/// The image of each service in `services`, building ours and pulling the rest where the
/// engine does not hold them yet. Pulls run in parallel, one progress line each.
pub async fn ensure(
    engine: &Engine,
    services: &[&Service],
    progress: &Progress,
) -> Result<HashMap<String, ImageFacts>, Error> {
    let present = future::try_join_all(services.iter().map(|s| engine.image(&s.image))).await?;
    let mut out = HashMap::new();
    let mut to_build = Vec::new();
    let mut to_pull = Vec::new();
    for (service, facts) in services.iter().zip(present) {
        match facts {
            Some(facts) => {
                out.insert(service.name.clone(), facts);
            }
            None if service.build.is_some() => to_build.push(*service),
            None => to_pull.push(*service),
        }
    }
    let pulls = future::join_all(to_pull.iter().map(|service| async move {
        let mut task = progress.task(&service.name);
        task.stage(&format!("pulling {}", service.image));
        match engine
            .pull(&service.image, |done, total| task.bytes(done, total))
            .await
        {
            Ok(facts) => {
                task.finish(&format!("pulled {}", service.image));
                Ok((service.name.clone(), facts))
            }
            Err(cause) => {
                task.finish("pull failed");
                Err(EngineError::ImageUnavailable {
                    image: service.image.clone(),
                    service: service.name.clone(),
                    variable: build::image_variable(service),
                    cause,
                })
            }
        }
    }))
    .await;
    for pulled in pulls {
        let (name, facts) = pulled?;
        out.insert(name, facts);
    }
    out.extend(build(engine, &to_build, progress).await?);
    Ok(out)
}

/// `12.3 MiB`: sizes as people read them.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_docker_images() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 300 * 1024), "3.3 MiB");
    }
}
