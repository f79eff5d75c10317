//! Acknowledged writes survive `kill -9` of the real server binary, and the CLI manages users.

use crate::helpers::{Backend, PASSWORD, TestDb, client};
use crate::on_both_backends;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

on_both_backends!(
    acknowledged_writes_survive_kill_9,
    acknowledged_items_survive_kill_9_during_group_commit,
    cli_manages_users_with_clear_errors,
    cli_asks_for_a_password_without_echo_at_a_terminal,
    cli_applies_workflows_and_creates_keys,
    demo_fills_a_queue_through_the_api,
);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn gatehouse(db_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command.env("DATABASE_URL", db_url).env("GATEHOUSE_LOG", "warn").env_remove("GATEHOUSE_PASSWORD");
    command
}

fn spawn_server(db_url: &str, port: u16, stdout: Stdio) -> Child {
    gatehouse(db_url)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatehouse")
}

/// The server once it answers `/readyz`; stopped, and the test failed, if it never does.
async fn when_ready(mut child: Child, port: u16) -> Child {
    let url = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().ok();
    child.wait().ok();
    panic!("gatehouse did not become ready");
}

async fn start(db_url: &str, port: u16) -> Child {
    when_ready(spawn_server(db_url, port, Stdio::null()), port).await
}

/// Starts the server on a fresh database and reads the setup token it prints at start.
async fn start_printing_setup_token(db_url: &str, port: u16) -> (Child, String) {
    use std::io::BufRead;
    let mut child = spawn_server(db_url, port, Stdio::piped());
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(token) = line.strip_prefix("Setup token: ") {
                let _ = tx.send(token.trim().to_owned());
            }
        }
    });
    let Ok(token) = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30))).await.unwrap() else {
        child.kill().ok();
        child.wait().ok();
        panic!("a fresh instance prints its setup token at start");
    };
    (when_ready(child, port).await, token)
}

async fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let port = free_port();
    let (mut server, token) = start_printing_setup_token(&test_db.url, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let browser = client();
    let form = [
        ("setup_token", token.as_str()),
        ("name", "Ada"),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let created = browser.post(format!("{base}/api/setup/first-admin")).form(&form).send().await.unwrap();
    assert_eq!(created.status(), 200);
    let added = browser
        .post(format!("{base}/api/users/add"))
        .form(&[("email", "rev@example.com"), ("name", "Rev"), ("role", "reviewer"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);

    server.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix: no clean shutdown.
    server.wait().unwrap();

    let mut server = start(&test_db.url, port).await;
    let session_survived: serde_json::Value =
        browser.post(format!("{base}/api/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(session_survived["email"], "ada@example.com", "the session survived too");
    let fresh = client();
    let login = fresh
        .post(format!("{base}/api/auth/login"))
        .form(&[("email", "rev@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    server.kill().ok();
    server.wait().ok();
}

/// Single submits are group-committed: every item answered 201 must be stored even when the server
/// is killed while 64 clients are submitting.
async fn acknowledged_items_survive_kill_9_during_group_commit(backend: Backend) {
    use serde_json::json;
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    let key = crate::fixtures::workflow()
        .with(
            "payload_schema",
            json!({ "type": "object", "required": ["total"], "properties": { "total": { "type": "number" } } }),
        )
        .with("labels", json!(["invoice"]))
        .create_in(&db)
        .await
        .key;
    db.close().await;

    let port = free_port();
    let mut server = start(&test_db.url, port).await;
    let url = format!("http://127.0.0.1:{port}/api/v1/workflows/invoices/items");
    let http = reqwest::Client::new();
    let so_far = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..64)
        .map(|c| {
            let (http, url, key, so_far) = (http.clone(), url.clone(), key.clone(), so_far.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let id = format!("k-{c}-{i}");
                    let body = serde_json::json!({ "external_id": id, "payload": { "total": 1 },
                        "prediction": { "label": "invoice" }, "confidence": f64::from(i % 100) / 100.0 });
                    match http.post(&url).bearer_auth(&key).json(&body).send().await {
                        Ok(r) if r.status() == 201 => {
                            acknowledged.push(id);
                            so_far.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Killed mid-stream, once the clients are well under way (every one of them keeps
    // submitting until the server is gone). Not with `wait_until`: a failed wait must still
    // kill the server.
    const UNDER_WAY: usize = 256;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while so_far.load(std::sync::atomic::Ordering::SeqCst) < UNDER_WAY
        && std::time::Instant::now() < deadline
        && !clients.iter().all(|client| client.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(acknowledged.len() >= UNDER_WAY, "the clients got going ({} items)", acknowledged.len());

    let db = test_db.connect().await;
    let stored: std::collections::HashSet<String> = sqlx::query_as::<_, (String,)>("select external_id from items")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect();
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged items lost: {lost:?}", lost.len(), acknowledged.len());
    db.close().await;
}

fn run(db_url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = gatehouse(db_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Runs `gatehouse <args>` at a terminal of its own (`script` gives it one), answering each of
/// `answers` once the text before it has appeared; whether it succeeded, and all it showed.
fn at_a_terminal(db_url: &str, args: &str, answers: &[(&str, &str)]) -> (bool, String) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // `tty` first names the terminal, so that the test can see when echo is off.
    let command = format!("tty; exec '{}' {args}", env!("CARGO_BIN_EXE_gatehouse"));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DATABASE_URL", db_url)
        .env("GATEHOUSE_LOG", "warn")
        .env_remove("GATEHOUSE_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    for (prompt, answer) in answers {
        // Typed only once the prompt shows and the terminal's echo is off, as a person would type.
        // The prompt is written a moment before echo is turned off: answering on the prompt
        // alone, the answer was now and then echoed by the terminal itself.
        let waited = std::time::Instant::now();
        loop {
            let so_far = shown.lock().unwrap().clone();
            if so_far.contains(prompt) && echo_is_off(&so_far) {
                break;
            }
            assert!(waited.elapsed() < Duration::from_secs(20), "no prompt {prompt:?} with echo off: {so_far}");
            std::thread::sleep(Duration::from_millis(20));
        }
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let shown = shown.lock().unwrap().clone();
    (status.success(), shown)
}

/// Whether the terminal named on the first line `tty` printed has its echo turned off, as
/// `stty` reads it from outside.
fn echo_is_off(shown: &str) -> bool {
    let Some(tty) = shown.split_once('\n').map(|(line, _)| line.trim()).filter(|line| line.starts_with("/dev/")) else {
        return false;
    };
    let Ok(out) = Command::new("stty").args(["-F", tty, "-a"]).output() else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).split([' ', ';', '\n']).any(|setting| setting == "-echo")
}

async fn cli_asks_for_a_password_without_echo_at_a_terminal(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let url = test_db.url.clone();
    tokio::task::spawn_blocking(move || {
        let add = "user add tty@example.com --role reviewer";
        let (ok, shown) =
            at_a_terminal(&url, add, &[("Password: ", PASSWORD), ("again: ", "correct horse battery stable")]);
        assert!(!ok && shown.contains("the two passwords differ"), "{shown}");
        assert!(!shown.contains("horse"), "the password was echoed: {shown}");
        let (ok, shown) = at_a_terminal(&url, add, &[("Password: ", PASSWORD), ("again: ", PASSWORD)]);
        assert!(ok && shown.contains("Added tty (tty@example.com) as Reviewer."), "{shown}");
        assert!(!shown.contains(PASSWORD) && !shown.contains("horse"), "the password was echoed: {shown}");
        // Piped, it is read from stdin as before (the other CLI tests).
        let (ok, out) = run(&url, &["user", "add", "tty@example.com", "--role", "reviewer"], Some("\n"));
        assert!(!ok && out.contains("no password given"), "{out}");
    })
    .await
    .unwrap();
}

async fn cli_manages_users_with_clear_errors(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let url = test_db.url.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, out) = run(&url, &["migrate"], None);
        assert!(ok, "{out}");
        let (ok, out) = run(
            &url,
            &["user", "add", "ada@example.com", "--role", "admin", "--name", "Ada"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(ok, "{out}");
        assert!(out.contains("Added Ada (ada@example.com) as Admin."), "{out}");

        let (ok, out) =
            run(&url, &["user", "add", "ada@example.com", "--role", "admin"], Some(&format!("{PASSWORD}\n")));
        assert!(!ok);
        assert!(out.contains("already exists"), "{out}");
        let (ok, out) = run(&url, &["user", "add", "bob@example.com", "--role", "owner"], Some("x\n"));
        assert!(!ok);
        assert!(out.contains("unknown role 'owner'"), "{out}");
        let (ok, out) = run(&url, &["user", "add", "bob@example.com", "--role", "reviewer"], Some("short\n"));
        assert!(!ok);
        assert!(out.contains("at least 12 characters"), "{out}");

        let (ok, out) =
            run(&url, &["user", "add", "bob@example.com", "--role", "reviewer"], Some(&format!("{PASSWORD}\n")));
        assert!(ok, "{out}");
        let (ok, out) = run(&url, &["user", "set-role", "bob@example.com", "lead"], None);
        assert!(ok && out.contains("is now a team lead"), "{out}");
        let (ok, out) = run(&url, &["user", "disable", "ada@example.com"], None);
        assert!(!ok && out.contains("At least one enabled admin"), "{out}");
        let (ok, out) = run(&url, &["user", "disable", "bob@example.com"], None);
        assert!(ok, "{out}");
        let (ok, out) = run(&url, &["user", "disable", "nobody@example.com"], None);
        assert!(!ok && out.contains("was not found"), "{out}");
    })
    .await
    .unwrap();
}

async fn cli_applies_workflows_and_creates_keys(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let url = test_db.url.clone();
    tokio::task::spawn_blocking(move || {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/invoice-extraction.json");
        let (ok, out) = run(&url, &["workflow", "apply", example, "--reason", "first version"], None);
        assert!(ok && out.contains("Created workflow invoice-extraction (version 1)."), "{out}");
        let (ok, out) = run(&url, &["workflow", "apply", example], None);
        assert!(ok && out.contains("is unchanged (version 1)"), "{out}");

        let changed = std::env::temp_dir().join(format!("gatehouse-wf-{}.json", uuid::Uuid::new_v4()));
        let text =
            std::fs::read_to_string(example).unwrap().replace("\"auto_approve_at\": 0.92", "\"auto_approve_at\": 0.95");
        std::fs::write(&changed, text).unwrap();
        let (ok, out) = run(&url, &["workflow", "apply", changed.to_str().unwrap()], None);
        assert!(ok && out.contains("to version 2: auto_approve_at."), "{out}");
        std::fs::write(&changed, r#"{"slug": "x", "name": "bad"}"#).unwrap();
        let (ok, out) = run(&url, &["workflow", "apply", changed.to_str().unwrap()], None);
        assert!(!ok && out.contains("not a valid slug"), "{out}");
        std::fs::remove_file(&changed).ok();

        let (ok, out) = run(&url, &["api-key", "create", "--workflow", "invoice-extraction", "--name", "ocr"], None);
        assert!(ok, "{out}");
        assert!(out.lines().any(|l| l.starts_with("ghk_") && l.len() == 4 + 12 + 1 + 48), "{out}");
        let (ok, out) = run(&url, &["api-key", "create", "--workflow", "nope"], None);
        assert!(!ok && out.contains("There is no workflow 'nope'"), "{out}");
        let (ok, out) = run(&url, &["api-key", "revoke", "1"], None);
        assert!(ok && out.contains("Revoked API key 1."), "{out}");
    })
    .await
    .unwrap();
}

async fn demo_fills_a_queue_through_the_api(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let port = free_port();
    let mut server = start(&test_db.url, port).await;
    let url = test_db.url.clone();
    let base = format!("http://127.0.0.1:{port}");
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(&url, &["demo", "--url", &base, "--items", "25", "--per-second", "1000"], None)
    })
    .await
    .unwrap();
    server.kill().ok();
    server.wait().ok();
    assert!(ok, "{out}");
    assert!(out.contains("Done: ") && out.contains("reviewer@demo.local"), "{out}");
    let db = test_db.connect().await;
    let (items,): (i64,) = sqlx::query_as("select count(*) from items").fetch_one(db.pool()).await.unwrap();
    assert_eq!(items, 25);
    let (states,): (i64,) =
        sqlx::query_as("select count(distinct state) from items").fetch_one(db.pool()).await.unwrap();
    assert!(states >= 2, "demo confidences spread over several bands");
    assert_eq!(gatehouse::users::server::count(&db).await.unwrap(), 4);
}
