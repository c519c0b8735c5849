//! `pgrig`: start or stop a private PostgreSQL cluster from a shell script
//! (the test command starts one shared cluster and exports its URL as PGRIG_URL).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: pgrig start [--durable] DATA_DIR   (prints the admin URL)\n       pgrig stop DATA_DIR\n\n--durable: fsync, synchronous_commit and full_page_writes on, as in production\n(benchmarks); without it they are off (throwaway test clusters).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, durable, dir) = match args.as_slice() {
        [command, dir] => (command.as_str(), false, PathBuf::from(dir)),
        [command, flag, dir] if command == "start" && flag == "--durable" => {
            (command.as_str(), true, PathBuf::from(dir))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let options = pgrig::Options {
        data_dir: Some(dir),
        durable,
        stop_on_drop: false,
        ..pgrig::Options::default()
    };
    let result = match command {
        "start" => pgrig::Cluster::start(options).map(|c| println!("{}", c.url("postgres"))),
        "stop" => pgrig::stop_data_dir(options.data_dir.as_deref().expect("set above")),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pgrig: {e}");
            ExitCode::FAILURE
        }
    }
}
