//! `envctl completions SHELL`: print a completion script.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> crate::Result<ExitCode> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "envctl",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
