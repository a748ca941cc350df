//! The dashboard page in two headless Chromium browsers, on the topics protocol through the
//! JavaScript client: both show the ticks live, the page's commands are calls that get
//! their typed answers (an error with its code too), and the server calls the page back
//! for its viewer's name. Ignored by a plain `cargo test`, as `browser` is (see there).

use fantoccini::Client;
use serde_json::json;

use crate::{
    browser::{click, open_browsers, type_into, wait_until, Step},
    common::sample,
};

/// JavaScript: the number a tile shows.
fn tile(id: &str) -> String {
    format!("Number(document.getElementById({}).textContent)", json!(id))
}

/// JavaScript: whether a reply line reads `text`.
fn replied(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#replies div')].some(d => d.textContent === {})",
        json!(text)
    )
}

async fn watch(first: &Client, second: &Client, addr: std::net::SocketAddr) -> Step {
    for page in [first, second] {
        page.goto(&format!("http://{addr}/"))
            .await
            .map_err(|e| e.to_string())?;
    }
    for page in [first, second] {
        wait_until(
            page,
            "the socket opens",
            "document.getElementById('status').textContent === 'open'",
        )
        .await?;
        wait_until(
            page,
            "both pages are counted",
            &format!("{} === 2", tile("viewers")),
        )
        .await?;
    }
    // Live: the tick on each page moves on while it is watched.
    for page in [first, second] {
        let now = page
            .execute(&format!("return {};", tile("tick")), vec![])
            .await
            .map_err(|e| e.to_string())?;
        let now = now.as_f64().ok_or("the tick is a number")?;
        wait_until(
            page,
            "the tick moves on by three",
            &format!("{} >= {}", tile("tick"), now + 3.0),
        )
        .await?;
    }
    type_into(first, "a", "40").await?;
    type_into(first, "b", "2").await?;
    click(first, "add-button").await?;
    wait_until(first, "the sum comes back", &replied("sum: 42")).await?;
    type_into(first, "text", "Grüße ✓").await?;
    click(first, "echo-button").await?;
    wait_until(first, "the echo comes back", &replied("echo: Grüße ✓")).await?;
    click(first, "count").await?;
    wait_until(
        first,
        "the page count comes back",
        &replied("pages open: 2"),
    )
    .await?;
    // 2^62 + 2^62: each exact as a JavaScript number, their sum past i64.
    type_into(first, "a", "4611686018427387904").await?;
    type_into(first, "b", "4611686018427387904").await?;
    click(first, "add-button").await?;
    wait_until(
        first,
        "the overflow comes back as an error with its code",
        "[...document.querySelectorAll('#replies div.error')].some(d => d.textContent.startsWith('error: overflow'))",
    )
    .await?;
    // The server asks the page for its name (a call to the page), then greets it.
    type_into(second, "name", "Grace").await?;
    click(second, "greet-button").await?;
    wait_until(
        second,
        "the server's call reaches the page",
        &replied("the server asked for this page's name"),
    )
    .await?;
    wait_until(
        second,
        "the greeting comes back",
        &replied("greeting: Hello, Grace!"),
    )
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium, chromium-driver); .ci/run installs them and runs it"]
async fn two_dashboard_pages_show_the_ticks_live_and_calls_go_both_ways() {
    let (_sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "200")]);
    let browsers = open_browsers("dashboard", 2).await;
    let outcome = watch(&browsers.pages[0], &browsers.pages[1], addr).await;
    browsers.finish(outcome).await;
}
