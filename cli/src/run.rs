//! Runs one envctl invocation: parse flags, set up logging, dispatch, report errors.

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ProfileCommand, ReviewCommand};
use crate::commands;
use crate::context::Context;

/// Parses the command line, runs the command and turns its outcome into an exit code
/// (errors are printed as diagnostics with their help line, exit code 1).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    init_diagnostics();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            ExitCode::FAILURE
        }
    }
}

// Off a terminal (CI logs, pipes) diagnostics are not wrapped, so URLs and
// paths in help lines stay whole.
fn init_diagnostics() {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(
                miette::MietteHandlerOpts::new()
                    .width(usize::MAX / 2)
                    .build(),
            )
        }));
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "envctl=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENVCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> crate::Result<ExitCode> {
    if let Command::Completions(args) = &cli.command {
        return commands::completions::run(args);
    }
    let ctx = Context::new(cli.global)?;
    match cli.command {
        Command::List => commands::list::run(&ctx),
        Command::Render(args) => commands::render::run(&ctx, &args),
        Command::Diff(args) => commands::diff::run(&ctx, &args),
        Command::Profile(ProfileCommand::Show(args)) => commands::profile::show(&ctx, &args),
        Command::Bootstrap(args) => commands::bootstrap::run(&ctx, &args),
        Command::Plan(args) => commands::plan::run(&ctx, &args),
        Command::Up(args) => commands::up::run(&ctx, &args),
        Command::Down(args) => commands::down::run(&ctx, &args),
        Command::Status(args) => commands::status::run(&ctx, &args),
        Command::Rollback(args) => commands::rollback::run(&ctx, &args),
        Command::History(args) => commands::history::run(&ctx, &args),
        Command::Drift(args) => commands::drift::run(&ctx, &args),
        Command::Logs(args) => commands::logs::run(&ctx, &args),
        Command::Review(ReviewCommand::Up(args)) => commands::review::up(&ctx, &args),
        Command::Review(ReviewCommand::Down(args)) => commands::review::down(&ctx, &args),
        Command::Review(ReviewCommand::List) => commands::review::list(&ctx),
        Command::Review(ReviewCommand::Gc(args)) => commands::review::gc(&ctx, &args),
        Command::Review(ReviewCommand::Extend(args)) => commands::review::extend(&ctx, &args),
        Command::Review(ReviewCommand::Warn(args)) => commands::review::warn(&ctx, &args),
        Command::Completions(_) => unreachable!("handled before the context is built"),
    }
}
