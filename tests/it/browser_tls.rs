//! The tls example in headless Chromium: the page over `https` and its socket over `wss`,
//! and which HTTP version each came over. Ignored by a plain `cargo test`, as `browser` is
//! (see there).

use fantoccini::Client;

use crate::{
    browser::{click, open_browser, report_failure, start_driver, wait_until, Step},
    common::sample,
};

/// The text of the element with this id.
async fn text(browser: &Client, id: &str) -> Result<String, String> {
    let value = browser
        .execute(
            &format!("return document.getElementById('{id}').textContent;"),
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    value
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("#{id} has no text"))
}

/// Opens the page and returns what it says: the page's protocol and the socket's version.
async fn visit(browser: &Client, port: u16) -> Result<(String, String), String> {
    browser
        .goto(&format!("https://localhost:{port}/"))
        .await
        .map_err(|e| e.to_string())?;
    wait_until(
        browser,
        "the socket opens",
        "document.getElementById('status').textContent === 'open'",
    )
    .await?;
    wait_until(
        browser,
        "the server says which version the socket came over",
        "document.getElementById('socket').textContent !== '-'",
    )
    .await?;
    // And messages go both ways over it.
    click(browser, "send").await?;
    wait_until(
        browser,
        "the echo comes back",
        "document.getElementById('echoes').textContent.includes('echo: hello over TLS')",
    )
    .await?;
    Ok((text(browser, "page").await?, text(browser, "socket").await?))
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver (Debian: chromium, chromium-driver); .ci/run installs them and runs it"]
async fn chromium_opens_the_page_over_h2_and_its_socket_over_tls() {
    let (sample, addr) = sample::start("tls");
    let _fingerprint = sample.line();
    let key_line = sample.line();
    let spki = key_line
        .split("spki-list=")
        .nth(1)
        .unwrap_or_else(|| panic!("no public key hash in {key_line:?}"))
        .to_owned();
    let (_driver, driver_port) = start_driver();
    let profile = std::env::temp_dir().join(format!("tower-websockets-tls-{}", std::process::id()));
    let browser = open_browser(
        driver_port,
        &profile,
        &[format!("--ignore-certificate-errors-spki-list={spki}")],
    )
    .await;
    let outcome = visit(&browser, addr.port()).await;
    let step: Step = outcome.as_ref().map(|_| ()).map_err(Clone::clone);
    report_failure(&browser, &step, "tls").await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (page, socket) = outcome.unwrap();
    // Chromium takes HTTP/2 by ALPN for the page, and opens the socket on that connection
    // with an extended CONNECT (RFC 8441): the server's handshake says HTTP/2.
    println!("page over {page}, socket over {socket}");
    assert_eq!(page, "h2");
    assert_eq!(socket, "HTTP/2");
}
