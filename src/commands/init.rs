//! `demo init [DIR] [--force]`: writes the embedded stack out, for users to customize and run
//! with `--file`.
use std::process::ExitCode;

use crate::cli::InitArgs;
use crate::error::Error;
use crate::stack;

pub fn run(args: InitArgs) -> Result<ExitCode, Error> {
    let written = stack::init(&args.dir, args.force)?;
    let compose_file = args.dir.join(stack::COMPOSE_FILE);
    println!(
        "wrote the demo stack ({} files) to {}",
        written.len(),
        args.dir.display()
    );
    println!("run it:        demo --file {} up", compose_file.display());
    println!(
        "or with:       docker compose -f {} up   (once `demo build` has made our two images)",
        compose_file.display()
    );
    println!(
        "customize:     edit the files there (an added dashboard needs one entry under configs:)"
    );
    Ok(ExitCode::SUCCESS)
}
