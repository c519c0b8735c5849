//! envctl's entry point: parse the command line and hand over to the library.

fn main() -> std::process::ExitCode {
    envctl::run::main()
}
