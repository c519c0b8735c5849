//! `envctl up local` end to end with the real binaries: the database, the api and workers,
//! the demo data through the batch API, a query, a new batch committed, status, logs, down,
//! and no process left behind.

use std::time::Duration;

use crate::support::local::{alive, gone_within, Http, Project};

#[test]
fn up_query_batch_status_logs_down_leaves_nothing_running() {
    let project = Project::new();
    let http = Http::new(&project);

    let up = project.up(&["--workers", "2"]).succeeds();
    let api = project.api_url();
    let text = &up.stdout;
    assert!(text.contains(&api), "the summary names the api URL: {text}");
    assert!(
        text.contains(&format!(
            r#"curl -H "Authorization: Bearer $TOKEN" '{api}/rates?"#
        )),
        "a /rates example with the token: {text}"
    );
    let token_file = project.local_dir().join("api-token");
    assert!(
        text.contains(&format!("TOKEN=$(cat {})", token_file.display())),
        "where the token is: {text}"
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        !text.contains(token.trim()) && !up.stderr.contains(token.trim()),
        "the token itself is never printed"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600,
        "the token file is the owner's only"
    );
    // Without the token, the api refuses.
    assert_eq!(http.status_without_token(&format!("{api}/batches")), 401);
    assert!(
        text.contains(&format!("{api}/batches")),
        "a /batches example: {text}"
    );
    assert!(
        text.contains("envctl logs local"),
        "where the logs are: {text}"
    );

    // The demo data went in through the batch API, committed.
    let state = project.state();
    let demo_id = state["demo_batch"]["id"]
        .as_str()
        .expect("demo batch recorded")
        .to_string();
    let (code, demo) = http.get(&format!("{api}/batches/{demo_id}"));
    assert_eq!(code, 200);
    assert_eq!(demo["status"], "committed", "{demo}");
    assert!(demo["row_count"].as_i64().unwrap() > 1000, "{demo}");

    // Query a lane of the demo data: the example the summary printed.
    let csv = std::fs::read_to_string(project.local_dir().join("demo-prices.csv")).unwrap();
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let (orig, dest, day) = (first[0], first[1], first[2]);
    let (code, rates) = http.get(&format!(
        "{api}/rates?date_from={day}&date_to={day}&origin={orig}&destination={dest}"
    ));
    assert_eq!(code, 200, "{rates}");
    let days = rates.as_array().expect("a list of days");
    assert_eq!(days.len(), 1, "{rates}");
    assert!(
        days[0]["average_price"].as_i64().is_some(),
        "the demo lane has a price on {day}: {rates}"
    );

    // A new batch on a day the demo data does not cover: committed, then visible.
    let batch = format!("orig_code,dest_code,day,price\n{orig},{dest},2031-03-01,100\n{orig},{dest},2031-03-01,200\n{orig},{dest},2031-03-01,600\n");
    let (code, accepted) = http.post_csv(&format!("{api}/batches"), "e2e-batch-1", &batch);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let done = http.wait_for_batch(&api, &id);
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["row_count"], 3, "{done}");
    let (_, rates) = http.get(&format!(
        "{api}/rates?date_from=2031-03-01&date_to=2031-03-02&origin={orig}&destination={dest}"
    ));
    assert_eq!(rates[0]["average_price"], 300, "{rates}");
    assert!(rates[1]["average_price"].is_null(), "{rates}");

    // status: every process alive, healthy, the batches listed.
    let status = project.envctl(&["status", "local"]).succeeds();
    let text = &status.stdout;
    for expected in [
        "running",
        "api",
        "worker-1",
        "worker-2",
        "db",
        &id,
        "committed",
        "/readyz ok",
    ] {
        assert!(text.contains(expected), "status shows `{expected}`: {text}");
    }
    assert!(!text.contains("NOT"), "nothing is down: {text}");
    let json = project
        .envctl(&["--output", "json", "status", "local"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(json["running"], true, "{json}");
    assert_eq!(json["queue_depth"], 0.0, "{json}");
    assert_eq!(
        json["batches"][0]["id"],
        id.as_str(),
        "newest first: {json}"
    );
    assert_eq!(json["processes"].as_array().unwrap().len(), 4, "{json}");

    // logs -f: a request made after it started shows up.
    let mut follow = std::process::Command::new(assert_cmd::cargo::cargo_bin("envctl"))
        .arg("--root")
        .arg(project.root())
        .args(["logs", "local", "api", "-f", "-n", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let (code, _) = http.get(&format!("{api}/healthz"));
    assert_eq!(code, 200);
    let seen = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(10)).ok())
        .find(|line| line.contains("/healthz"));
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert!(seen.is_some(), "`logs -f` printed the new request line");

    // logs: each component, and all with labels.
    let logs = project
        .envctl(&["logs", "local", "api", "-n", "5"])
        .succeeds();
    let text = &logs.stdout;
    assert!(!text.is_empty() && text.lines().count() <= 5, "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "the api's JSON lines, unprefixed: {text}"
    );
    let logs = project.envctl(&["logs", "local", "-n", "3"]).run();
    let text = &logs.stdout;
    for label in ["[db]", "[api]", "[worker-1]", "[worker-2]"] {
        assert!(text.contains(label), "`logs local` shows {label}: {text}");
    }
    let db = project.envctl(&["logs", "local", "db", "-n", "50"]).run();
    assert!(db.stdout.contains("database system is ready"), "{db}");

    // down: every process gone, ports free, data kept.
    let pids = project.pids();
    assert_eq!(pids.len(), 4, "api, 2 workers, db: {pids:?}");
    let db_port = project.state()["db_port"].as_u64().unwrap() as u16;
    let api_port = project.state()["api_port"].as_u64().unwrap() as u16;
    project.envctl(&["down", "local"]).succeeds();
    for (name, pid) in &pids {
        assert!(
            gone_within(*pid, Duration::from_secs(5)),
            "{name} (pid {pid}) still runs after down"
        );
    }
    assert!(
        project.runtime_processes().is_empty(),
        "{:?}",
        project.runtime_processes()
    );
    assert!(
        !pgrig::port_in_use(api_port),
        "api port {api_port} still taken"
    );
    assert!(
        !pgrig::port_in_use(db_port),
        "db port {db_port} still taken"
    );
    assert!(
        project.local_dir().join("pg/data/PG_VERSION").is_file(),
        "data kept without --purge"
    );
    // status after down
    project.envctl(&["status", "local"]).exits(3);

    // The data survived: up again, the batch is still committed and queryable.
    // up after down
    project.up(&["--no-demo-data"]).succeeds();
    let api = project.api_url();
    let (_, rates) = http.get(&format!(
        "{api}/rates?date_from=2031-03-01&date_to=2031-03-01&origin={orig}&destination={dest}"
    ));
    assert_eq!(rates[0]["average_price"], 300, "{rates}");

    // down --purge deletes everything.
    let pids = project.pids();
    project.envctl(&["down", "local", "--purge"]).succeeds();
    for (name, pid) in &pids {
        assert!(
            gone_within(*pid, Duration::from_secs(5)),
            "{name} (pid {pid}) still runs after down --purge"
        );
    }
    assert!(
        !project.local_dir().exists(),
        "--purge removes .envctl/local"
    );
    assert!(alive(std::process::id() as i32));
}
