//! A flood of sign-ins for emails nobody has, each from its own address as a botnet's would be:
//! password hashing (about 19 MiB and tens of milliseconds a try) stays bounded, the excess is
//! told to come back (503 with `Retry-After`), and a real user still gets in.
//!
//! A test binary of its own, so that its process's memory is its own to measure and its flood
//! does not slow the other tests' sign-ins.

#[path = "api/helpers.rs"]
#[allow(dead_code, unused_macros)]
mod helpers;

use gatehouse::domain::Role;
use gatehouse::users::password;
use helpers::{Backend, PASSWORD, spawn_app_with};
use std::time::{Duration, Instant};

/// A figure of this process from /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_unknown_emails_stays_bounded_and_a_real_user_still_signs_in() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.trusted_proxies = "127.0.0.1".parse().unwrap()).await;
    app.add_user("real@example.com", Role::Reviewer).await;
    let peak_before = status_kib("VmHWM");
    let url = app.url("/api/auth/login");
    let client = reqwest::Client::new();

    let flood: Vec<_> = (0..200)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let email = format!("nobody{i}@example.com");
                let response = client
                    .post(url)
                    .header("x-forwarded-for", format!("10.0.{}.{}", i / 250, i % 250 + 1))
                    .form(&[("email", email.as_str()), ("password", "wrong password!")])
                    .send()
                    .await
                    .unwrap();
                let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();

    // The real user comes along in the middle of the flood (which lasts some seconds) and tries
    // as a person would: again once told when.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let real = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let mut busy_answers = 0;
    loop {
        let response = real
            .post(&url)
            .header("x-forwarded-for", "192.0.2.10")
            .form(&[("email", "real@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => break,
            503 => {
                busy_answers += 1;
                let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(started.elapsed() < Duration::from_secs(60), "the real user never got in");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("the real user got {other}: {}", response.text().await.unwrap()),
        }
    }

    let mut refused_busy = 0;
    for answer in flood {
        match answer.await.unwrap() {
            (401, _) => {}
            (503, Some(retry_after)) => {
                assert!(retry_after.parse::<u64>().is_ok_and(|s| s > 0), "{retry_after}");
                refused_busy += 1;
            }
            other => panic!("a flood request got {other:?}"),
        }
    }
    let running = password::most_running_at_once();
    assert!(running <= password::max_concurrent(), "{running} hashes ran at once");
    let grown_mib = status_kib("VmHWM").saturating_sub(peak_before) / 1024;
    println!(
        "peak hashes at once {running}, flood answers 503: {refused_busy}, real user told to wait {busy_answers} times, \
         peak memory grew {grown_mib} MiB"
    );
    // Unbounded, 200 hashes of 19 MiB each would run side by side: gigabytes. Bounded, each
    // hashing thread keeps one working memory of 19 MiB.
    let bound = 19 * password::max_concurrent() as u64 + 64;
    assert!(grown_mib < bound, "the process's peak memory grew by {grown_mib} MiB (bound {bound} MiB)");
}
