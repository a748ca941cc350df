//! The chat page in headless Chromium: what one member sends, both see; a page whose
//! connection drops shows what it missed once each and in order, or says that it missed
//! some. Ignored by a plain `cargo test`, as `browser` is (see there).

use fantoccini::Client;
use serde_json::json;

use crate::{
    browser::{click, open_browsers, save_screenshot, type_into, wait_until, Step},
    common::{proxy::Proxy, sample},
    topics_protocol::Peer,
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
    join_at(browser, &format!("http://{addr}/"), room, name).await
}

async fn join_at(browser: &Client, page: &str, room: &str, name: &str) -> Step {
    browser.goto(page).await.map_err(|e| e.to_string())?;
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

/// The texts of the page's messages and notices, in order.
const SHOWN: &str = "[...document.querySelectorAll('#messages li')].map(li => li.textContent)";

async fn shown(browser: &Client) -> Result<Vec<String>, String> {
    let value = browser
        .execute(&format!("return {SHOWN};"), vec![])
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The network between the page and the server goes down; `bob` says `count` things
/// (`{prefix} 1`, ...) meanwhile; the network comes back.
async fn away_while(
    page: &Client,
    proxy: &Proxy,
    bob: &mut Peer,
    prefix: &str,
    count: u64,
) -> Step {
    proxy.refuse(true);
    proxy.cut();
    wait_until(
        page,
        "the page sees its connection go",
        "document.getElementById('status').textContent === 'Reconnecting'",
    )
    .await?;
    for i in 1..=count {
        let text = format!("{prefix} {i}");
        bob.ask(
            "publish",
            json!({"topic": "tea room", "data": {"name": "bob", "text": text}}),
        )
        .await;
        let reply = bob.next().await;
        if reply["type"] != "published" {
            return Err(format!("bob's publish: {reply}"));
        }
    }
    proxy.refuse(false);
    Ok(())
}

async fn drop_and_recover(page: &Client, addr: std::net::SocketAddr) -> Step {
    let proxy = Proxy::start(addr).await;
    let servers = format!("ws://{}/chat", proxy.addr);
    join_at(
        page,
        &format!("http://{addr}/?servers={servers}"),
        "tea room",
        "ada",
    )
    .await?;
    let mut bob = Peer::connect_to(&format!("ws://{addr}/chat")).await;

    // Fifty missed, all kept: each shown once, in order, and then the notice.
    away_while(page, &proxy, &mut bob, "missed", 50).await?;
    let notice = "Reconnected: 50 missed messages recovered.";
    wait_until(page, "the page says it recovered", &shows(notice)).await?;
    wait_until(page, "the last one shows", &shows("bob: missed 50")).await?;
    let texts = shown(page).await?;
    let at = texts.iter().position(|t| t == notice).unwrap();
    let missed: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("bob: missed "))
        .collect();
    let expected: Vec<String> = (1..=50).map(|i| format!("bob: missed {i}")).collect();
    if missed != expected.iter().collect::<Vec<_>>() {
        return Err(format!("not each once in order: {missed:?}"));
    }
    if at == 0 || texts[at - 1] != expected[49] {
        return Err(format!("the notice is not right after them: {texts:?}"));
    }

    // A hundred and fifty missed, a hundred kept: the page says it missed some, then
    // shows the hundred.
    away_while(page, &proxy, &mut bob, "later", 150).await?;
    let gap = "Reconnected, but some messages were missed and could not be recovered: reload to see them all.";
    wait_until(page, "the page says it missed messages", &shows(gap)).await?;
    wait_until(page, "the last one shows", &shows("bob: later 150")).await?;
    let texts = shown(page).await?;
    let at = texts.iter().position(|t| t == gap).unwrap();
    let expected: Vec<String> = (51..=150).map(|i| format!("bob: later {i}")).collect();
    if texts[at + 1..] != expected[..] {
        return Err(format!(
            "not the hundred kept after the notice: {:?}",
            &texts[at..]
        ));
    }
    save_screenshot(page, "chat-recovered.png").await;
    Ok(())
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium, chromium-driver); .ci/run installs them and runs it"]
async fn a_page_that_lost_its_connection_shows_what_it_missed_or_says_it_cannot() {
    // Bob publishes past the history in one burst, faster than the sample lets a page.
    let (_sample, addr) = sample::start_with("chat", &[("PUBLISH_RATE", "100000")]);
    let browsers = open_browsers("chat-recovery", 1).await;
    let outcome = drop_and_recover(&browsers.pages[0], addr).await;
    browsers.finish(outcome).await;
}

/// Two chat servers on one Redis: ada's page is on A and knows B (through a proxy that
/// can keep it out); bob's page is on B. A is killed; while ada cannot reach B, bob sends
/// 50 messages; ada's page comes back on B and shows each once, in order, and says it
/// recovered. Then a gap larger than the history: her page says it missed messages.
#[cfg(feature = "redis")]
async fn move_to_the_other_server(
    ada: &Client,
    bob: &Client,
    a: sample::Sample,
    a_addr: std::net::SocketAddr,
    b_addr: std::net::SocketAddr,
) -> Step {
    let proxy = Proxy::start(b_addr).await;
    let servers = format!("ws://{a_addr}/chat,ws://{}/chat", proxy.addr);
    join_at(
        ada,
        &format!("http://{a_addr}/?servers={servers}"),
        "tea room",
        "ada",
    )
    .await?;
    join(bob, b_addr, "tea room", "bob").await?;
    say(bob, "before").await?;
    wait_until(ada, "ada hears bob across servers", &shows("bob: before")).await?;

    proxy.refuse(true);
    drop(a); // server A is killed
    wait_until(
        ada,
        "ada's page sees its server go",
        "document.getElementById('status').textContent === 'Reconnecting'",
    )
    .await?;
    for i in 1..=50 {
        say(bob, &format!("missed {i}")).await?;
    }
    wait_until(
        bob,
        "bob's page shows its fiftieth",
        &shows("bob: missed 50"),
    )
    .await?;
    proxy.refuse(false);
    let notice = "Reconnected: 50 missed messages recovered.";
    wait_until(ada, "ada's page says it recovered", &shows(notice)).await?;
    let texts = shown(ada).await?;
    let missed: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("bob: missed "))
        .collect();
    let expected: Vec<String> = (1..=50).map(|i| format!("bob: missed {i}")).collect();
    if missed != expected.iter().collect::<Vec<_>>() {
        return Err(format!("not each once in order: {missed:?}"));
    }
    save_screenshot(ada, "chat-moved.png").await;

    // Away again, for longer than the history (100) reaches.
    let mut carl = Peer::connect_to(&format!("ws://{b_addr}/chat")).await;
    away_while(ada, &proxy, &mut carl, "later", 150).await?;
    let gap = "Reconnected, but some messages were missed and could not be recovered: reload to see them all.";
    wait_until(ada, "ada's page says she missed messages", &shows(gap)).await?;
    wait_until(ada, "the last one shows", &shows("bob: later 150")).await?;
    Ok(())
}

#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs Chromium and chromedriver, and redis-server; .ci/run installs them and runs it"]
async fn a_page_moves_to_the_other_server_and_shows_what_it_missed() {
    use crate::common::redis_server::RedisServer;
    let redis = RedisServer::start().await;
    let url = redis.url();
    // Pages publish 50 and 150 messages in a burst, past the sample's rate for a page.
    let env = [("REDIS_URL", url.as_str()), ("PUBLISH_RATE", "100000")];
    let (a, a_addr) = sample::start_with("chat", &env);
    let (_b, b_addr) = sample::start_with("chat", &env);
    let browsers = open_browsers("chat-servers", 2).await;
    let outcome =
        move_to_the_other_server(&browsers.pages[0], &browsers.pages[1], a, a_addr, b_addr).await;
    browsers.finish(outcome).await;
}
