//! The chat page in two headless Chromium browsers: what one member sends, both see.
//! Ignored by a plain `cargo test`, as `browser` is (see there).

use fantoccini::Client;
use serde_json::json;

use crate::{
    browser::{click, open_browsers, save_screenshot, type_into, wait_until, Step},
    common::sample,
};

fn shows(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages li')].some(li => li.textContent === {})",
        json!(text)
    )
}

fn members_are(n: usize) -> String {
    format!("document.getElementById('members').textContent === '{n}'")
}

async fn join(browser: &Client, addr: std::net::SocketAddr, room: &str, name: &str) -> Step {
    browser
        .goto(&format!("http://{addr}/"))
        .await
        .map_err(|e| e.to_string())?;
    type_into(browser, "room", room).await?;
    type_into(browser, "name", name).await?;
    click(browser, "join").await?;
    wait_until(
        browser,
        "the page joins the room",
        &format!(
            "document.getElementById('status').textContent === {}",
            json!(format!("Joined {room}"))
        ),
    )
    .await
}

async fn say(browser: &Client, text: &str) -> Step {
    type_into(browser, "message", text).await?;
    click(browser, "send").await
}

async fn chat(ada: &Client, bob: &Client, addr: std::net::SocketAddr) -> Step {
    join(ada, addr, "tea room", "ada").await?;
    join(bob, addr, "tea room", "bob").await?;
    wait_until(ada, "ada's page counts two members", &members_are(2)).await?;
    say(ada, "hello from ada ✓").await?;
    for browser in [ada, bob] {
        wait_until(
            browser,
            "both see ada's message",
            &shows("ada: hello from ada ✓"),
        )
        .await?;
    }
    say(bob, "hi ada").await?;
    for browser in [ada, bob] {
        wait_until(browser, "both see bob's answer", &shows("bob: hi ada")).await?;
    }
    click(bob, "leave").await?;
    wait_until(ada, "ada's page counts one member", &members_are(1)).await?;
    save_screenshot(ada, "chat-page.png").await;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium, chromium-driver); .ci/run installs them and runs it"]
async fn two_chat_pages_in_one_room_see_each_others_messages() {
    let (_sample, addr) = sample::start("chat");
    let browsers = open_browsers("chat", 2).await;
    let outcome = chat(&browsers.pages[0], &browsers.pages[1], addr).await;
    browsers.finish(outcome).await;
}
