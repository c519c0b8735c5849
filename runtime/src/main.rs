//! The `rates` binary: wiring only; see the library.

fn main() -> std::process::ExitCode {
    rates::run::main()
}
