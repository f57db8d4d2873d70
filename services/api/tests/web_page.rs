//! The page at `/` in a real browser: Debian's headless Chromium, driven
//! through chromedriver (WebDriver) with fantoccini. It signs in through
//! the simulator (the test approves the code at the simulator's admin
//! route, as the person would at github.com), sees the table with a private
//! repository, and takes the CSV and JSON through the page's own download
//! links with the browser's session; Python's `csv` module reads the CSV
//! back to the same rows as the JSON. A screenshot of each step goes to
//! `target/web-page/`.
//!
//! `scripts/install-deps.sh` installs `chromium` and `chromium-driver`.

mod signin_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hubpulse_testkit::{eventually, free_port};
use serde_json::{Value, json};
use signin_support::{WALKER, spawn};

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// chromedriver on a port of its own, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn driver() -> Driver {
    let port = free_port();
    let child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver is installed (scripts/install-deps.sh)");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    eventually("chromedriver answers", Duration::from_secs(20), || async {
        reqwest::get(&status)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    Driver { child, url }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,900"],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The text of `href` as the page's link fetches it, with the browser's cookies.
async fn fetch_link(browser: &Client, id: &str) -> String {
    let script = "const done = arguments[arguments.length - 1];\
                  fetch(document.getElementById(arguments[0]).href, {credentials: 'same-origin'})\
                    .then(r => r.text()).then(done, e => done('ERROR ' + e));";
    let text = browser
        .execute_async(script, vec![json!(id)])
        .await
        .unwrap();
    text.as_str().unwrap().to_owned()
}

const COMPARE: &str = r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')))
data = json.load(open(sys.argv[2], encoding='utf-8'))
assert len(rows) == len(data), (len(rows), len(data))
def cell(v):
    if v is None: return ''
    if isinstance(v, bool): return 'true' if v else 'false'
    v = str(v)
    return "'" + v if v[:1] in ('=', '+', '-', '@', '\t', '\r') else v
for row, item in zip(rows, data):
    for key, value in item.items():
        assert row[key] == cell(value), (key, row[key], value)
print(len(rows), sum(1 for r in rows if r['private'] == 'true'))
"#;

#[tokio::test]
async fn a_person_signs_in_in_chromium_and_downloads_their_repositories() {
    let (app, sim) = spawn().await;
    let driver = driver().await;
    let browser = browser(&driver).await;
    let page = format!("http://{}/", app.addr);
    browser.goto(&page).await.unwrap();
    let start = browser
        .wait()
        .for_element(Locator::Id("start"))
        .await
        .unwrap();
    shot(&browser, "1-signed-out").await;

    // Keyboard: the button takes focus and Enter presses it.
    browser
        .execute("document.getElementById('start').focus()", vec![])
        .await
        .unwrap();
    start.send_keys("\u{E007}").await.unwrap();
    let code = browser
        .wait()
        .for_element(Locator::Id("user-code"))
        .await
        .unwrap();
    let user_code = eventually("the code is shown", Duration::from_secs(10), || async {
        let text = code.text().await.map_err(|e| e.to_string())?;
        if text.len() == 9 {
            Ok(text)
        } else {
            Err(format!("{text:?}"))
        }
    })
    .await;
    let link = browser.find(Locator::Id("verify")).await.unwrap();
    assert!(
        link.attr("href")
            .await
            .unwrap()
            .unwrap()
            .ends_with("/login/device")
    );
    shot(&browser, "2-code-shown").await;

    sim.admin.approve_device(&user_code, WALKER).await.unwrap();
    let table = browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#repo-table tbody tr"))
        .await;
    table.unwrap();
    let private = eventually(
        "a private repository in the table",
        Duration::from_secs(30),
        || async {
            let badges = browser
                .find_all(Locator::Css("#repo-table .badge.private"))
                .await
                .map_err(|e| e.to_string())?;
            if badges.is_empty() {
                Err("no private badge yet".to_owned())
            } else {
                Ok(badges.len())
            }
        },
    )
    .await;
    assert_eq!(private, 2);
    let who = browser
        .find(Locator::Id("who"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who, format!("Signed in as {WALKER}"));
    shot(&browser, "3-repositories").await;

    // Sorting by a column heading, by keyboard too.
    let stars = browser
        .find(Locator::Css("button[data-key='stargazers_count']"))
        .await
        .unwrap();
    stars.send_keys("\u{E007}").await.unwrap();
    let sorted = browser
        .find(Locator::Css("#repo-table th[aria-sort] button"))
        .await
        .unwrap()
        .attr("data-key")
        .await
        .unwrap();
    assert_eq!(sorted.as_deref(), Some("stargazers_count"));
    shot(&browser, "4-sorted").await;

    let csv = fetch_link(&browser, "csv").await;
    let json_text = fetch_link(&browser, "json").await;
    let data: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(data.as_array().unwrap().len(), 232);
    let dir = shots();
    std::fs::write(dir.join("repositories.csv"), &csv).unwrap();
    std::fs::write(dir.join("repositories.json"), &json_text).unwrap();
    let compared = std::process::Command::new("python3")
        .arg("-c")
        .arg(COMPARE)
        .arg(dir.join("repositories.csv"))
        .arg(dir.join("repositories.json"))
        .output()
        .expect("python3 runs");
    assert!(
        compared.status.success(),
        "{}",
        String::from_utf8_lossy(&compared.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&compared.stdout).trim(), "232 2");

    // Narrow, as on a phone: the table still fits its box.
    browser.set_window_size(390, 844).await.unwrap();
    shot(&browser, "5-phone").await;
    browser
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("#sign-in:not([hidden])"))
        .await
        .unwrap();
    shot(&browser, "6-signed-out-again").await;
    browser.close().await.unwrap();
    app.shutdown().await;
}
