//! The echo page in real headless Chromium, driven through WebDriver (chromedriver).
//!
//! Needs Debian's `chromium` and `chromium-driver` packages, so it is ignored by a plain
//! `cargo test`; `.ci/run` installs them and runs it with
//! `cargo test --test it -- --ignored`. `CHROMEDRIVER` and `CHROMIUM` override the
//! paths `/usr/bin/chromedriver` and `/usr/bin/chromium`.
//!
//! On failure it saves a screenshot and the page's text under `target/browser/` and says
//! where; after a passing run, `target/browser/echo-page.png` shows the page after Connect,
//! Send and Close Socket.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::common::sample;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// chromedriver, stopped when dropped.
pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn start_driver() -> (Driver, u16) {
    let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = free_port();
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {path} ({e}): install chromium-driver"));
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

/// A headless Chromium with its own `profile` and these `extra` command-line switches.
pub(crate) async fn open_browser(
    driver_port: u16,
    profile: &std::path::Path,
    extra: &[String],
) -> Client {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,800",
    ]
    .map(str::to_owned)
    .into();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend_from_slice(extra);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": binary, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session in Chromium")
}

pub(crate) type Step = Result<(), String>;

/// Several headless Chromium browsers, each with a profile of its own, and their driver.
#[cfg_attr(not(feature = "protocol"), allow(dead_code))] // used by the protocol's pages
pub(crate) struct Browsers {
    pub(crate) pages: Vec<Client>,
    profiles: Vec<PathBuf>,
    name: &'static str,
    _driver: Driver,
}

/// Opens `count` browsers for the test `name`.
#[cfg_attr(not(feature = "protocol"), allow(dead_code))] // used by the protocol's pages
pub(crate) async fn open_browsers(name: &'static str, count: usize) -> Browsers {
    let (driver, driver_port) = start_driver();
    let mut pages = Vec::new();
    let mut profiles = Vec::new();
    for n in 0..count {
        let profile = std::env::temp_dir().join(format!(
            "tower-websockets-{name}-{n}-{}",
            std::process::id()
        ));
        pages.push(open_browser(driver_port, &profile, &[]).await);
        profiles.push(profile);
    }
    Browsers {
        pages,
        profiles,
        name,
        _driver: driver,
    }
}

#[cfg_attr(not(feature = "protocol"), allow(dead_code))]
impl Browsers {
    /// Saves what each page showed if `outcome` failed, closes the browsers and fails the
    /// test with `outcome`'s error.
    pub(crate) async fn finish(self, outcome: Step) {
        for (n, page) in self.pages.into_iter().enumerate() {
            report_failure(&page, &outcome, &format!("{}-{n}", self.name)).await;
            let _ = page.close().await;
        }
        for profile in self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
        outcome.unwrap();
    }
}

/// Runs `script` (a JavaScript expression) until it is true, or fails with `what`.
pub(crate) async fn wait_until(browser: &Client, what: &str, script: &str) -> Step {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let value = browser
            .execute(&format!("return Boolean({script});"), vec![])
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if value == Value::Bool(true) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn click(browser: &Client, id: &str) -> Step {
    let element = browser
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    element
        .click()
        .await
        .map_err(|e| format!("clicking #{id}: {e}"))
}

pub(crate) async fn type_into(browser: &Client, id: &str, text: &str) -> Step {
    let element = browser
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    element
        .clear()
        .await
        .map_err(|e| format!("clearing #{id}: {e}"))?;
    element
        .send_keys(text)
        .await
        .map_err(|e| format!("typing into #{id}: {e}"))
}

/// JavaScript: whether a log row has this event and data containing `needle`.
fn logged(event: &str, needle: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log tr')].some(r => r.cells[1].textContent === {} \
         && r.cells[2].textContent.includes({}))",
        json!(event),
        json!(needle)
    )
}

fn status_is(status: &str) -> String {
    format!(
        "document.getElementById('status').textContent === {}",
        json!(status)
    )
}

/// The whole sequence a person would click through.
async fn click_through(browser: &Client, addr: SocketAddr) -> Step {
    browser
        .goto(&format!("http://{addr}/"))
        .await
        .map_err(|e| e.to_string())?;
    wait_until(browser, "the page shows Ready", &status_is("Ready")).await?;
    wait_until(
        browser,
        "Send is disabled before Connect",
        "document.getElementById('send').disabled",
    )
    .await?;
    let url = format!("ws://{addr}/ws");
    wait_until(
        browser,
        "the URL is prefilled",
        &format!("document.getElementById('url').value === {}", json!(url)),
    )
    .await?;

    click(browser, "connect").await?;
    // Chromium offers permessage-deflate, and the sample agrees to it.
    wait_until(
        browser,
        "the status becomes Open, with compression",
        &status_is("Open (permessage-deflate)"),
    )
    .await?;
    wait_until(browser, "the log records the open", &logged("Open", &url)).await?;
    wait_until(
        browser,
        "the log shows the agreed extension",
        &logged("Open", "with permessage-deflate"),
    )
    .await?;
    wait_until(
        browser,
        "Send is enabled",
        "!document.getElementById('send').disabled",
    )
    .await?;

    let greeting = "Grüße, мир ✓ 你好";
    type_into(browser, "message", greeting).await?;
    click(browser, "send").await?;
    wait_until(
        browser,
        "the sent message is logged",
        &logged("Sent", greeting),
    )
    .await?;
    wait_until(browser, "its echo is logged", &logged("Received", greeting)).await?;

    // 100 KB: set through script (typing it would take minutes), echoed whole; both ways
    // it goes compressed.
    let big: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    browser
        .execute(
            "document.getElementById('message').value = arguments[0];",
            vec![json!(big)],
        )
        .await
        .map_err(|e| e.to_string())?;
    click(browser, "send").await?;
    let preview: String = big.chars().take(200).collect();
    let whole = format!("{preview}… (100000 characters)");
    wait_until(
        browser,
        "the 100 KB echo arrives whole",
        &logged("Received", &whole),
    )
    .await?;

    click(browser, "close").await?;
    wait_until(browser, "the status becomes Closed", &status_is("Closed")).await?;
    wait_until(
        browser,
        "the log shows close code 1000 and its reason",
        &logged("Closed", "code 1000, reason: Closed from the page"),
    )
    .await?;
    wait_until(
        browser,
        "Send and Close Socket are disabled again",
        "document.getElementById('send').disabled && document.getElementById('close').disabled",
    )
    .await?;
    save_screenshot(browser, "echo-page.png").await;

    // A wrong URL: an error in the log and the status, and the page still usable.
    let nobody = format!("ws://127.0.0.1:{}/ws", free_port());
    type_into(browser, "url", &nobody).await?;
    click(browser, "connect").await?;
    wait_until(
        browser,
        "the failed connection is logged as an error",
        "document.querySelectorAll('#log tr.error').length > 0",
    )
    .await?;
    wait_until(browser, "the status shows Closed", &status_is("Closed")).await?;
    wait_until(
        browser,
        "Connect can be clicked again",
        "!document.getElementById('connect').disabled",
    )
    .await?;
    Ok(())
}

/// On failure, saves a screenshot and the page's text as `NAME.png` and `NAME.txt` under
/// `target/browser/`, and says where.
pub(crate) async fn report_failure(browser: &Client, outcome: &Step, name: &str) {
    let Err(failure) = outcome else { return };
    let shot = save_screenshot(browser, &format!("{name}.png")).await;
    let text = browser
        .execute("return document.body.innerText;", vec![])
        .await
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|e| format!("(could not read the page: {e})"));
    let text_path = artifacts().join(format!("{name}.txt"));
    std::fs::write(&text_path, &text).unwrap();
    eprintln!("browser test failed: {failure}");
    eprintln!(
        "screenshot: {}",
        shot.map_or("(none)".into(), |p| p.display().to_string())
    );
    eprintln!("page text: {}\n{text}", text_path.display());
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn save_screenshot(browser: &Client, name: &str) -> Option<PathBuf> {
    let png = browser.screenshot().await.ok()?;
    let path = artifacts().join(name);
    std::fs::write(&path, png).ok()?;
    println!("screenshot: {}", path.display());
    Some(path)
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium, chromium-driver); .ci/run installs them and runs it"]
async fn the_echo_page_works_in_headless_chromium() {
    let (_sample, addr) = sample::start("echo");
    let (_driver, driver_port) = start_driver();
    let profile =
        std::env::temp_dir().join(format!("tower-websockets-chromium-{}", std::process::id()));
    let browser = open_browser(driver_port, &profile, &[]).await;

    let outcome = click_through(&browser, addr).await;
    report_failure(&browser, &outcome, "failure").await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    outcome.unwrap();
}
