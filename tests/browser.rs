//! The researchers' page in a real browser: headless Chromium, driven over the
//! DevTools protocol, against a real server on a loopback port with the real
//! model, the bundled corpus and four demo reports. The corpus is embedded once for this whole
//! file (the shared [`server`], as in `tests/service.rs`) and one browser is
//! shared; each test opens its own tab at a laptop (1366×800) or phone
//! (390×844) viewport and saves screenshots to `target/e2e-screenshots/`.
//!
//! The browser is spoken to through `--remote-debugging-pipe` (the DevTools
//! protocol as NUL-separated JSON on two pipes, what Puppeteer's `pipe: true`
//! does), so no driver binary and no dependency beyond the ones the crate
//! already has: the client below is a few dozen lines.
//!
//! Chromium is required: without it every test here fails and says how to
//! install it (`.ci/run` installs it). `CHROME=/path/to/chromium` picks
//! another binary. `ZHENGCE_E2E_URL=http://127.0.0.1:7878` runs the same
//! tests against a server that is already running (`scripts/serve.sh`
//! serves these reports and more) instead of starting one, which is quicker
//! while editing the page.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use zhengce::api::{ApiConfig, AppState};

mod common;

const LAPTOP: Viewport = Viewport {
    name: "laptop",
    width: 1366,
    height: 800,
    mobile: false,
};
const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

#[derive(Clone, Copy)]
struct Viewport {
    name: &'static str,
    width: u32,
    height: u32,
    mobile: bool,
}

/// The shared server: a fresh data dir, the bundled corpus ingested through
/// the same call `zhengce serve` makes on its first start, then the HTTP API
/// (and the page) on an ephemeral loopback port, on its own runtime thread.
fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("ZHENGCE_E2E_URL") {
            return url.trim_end_matches('/').to_string();
        }
        // The bundled corpus, and from the demo set a district over two
        // years with its city's and its province's reports, for the trends.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![zhengce::service::bundled_corpus_dir()];
        for f in [
            "yantian-2023",
            "yantian-2024",
            "shenzhen-2023",
            "guangdong-2023",
        ] {
            files.push(repo.join(format!("data/demo/{f}.txt")));
        }
        let ingested = common::ingested_service("browser-test-data", &files);
        assert!(ingested.report.added.len() >= 9, "{:?}", ingested.report);
        let _ = SERVICE.set(ingested.service.clone());
        let state = AppState::new(ingested.service, ApiConfig::default());
        format!("http://{}", common::serve(state))
    })
}

/// The library behind [`server`] when it runs in this process.
static SERVICE: OnceLock<Arc<zhengce::service::Service>> = OnceLock::new();

/// Where Chromium is: `$CHROME`, else the first of the usual names on `PATH`.
fn chromium_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROME") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "CHROME={} is not a file", p.display());
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the browser test needs Chromium and found none on PATH.\n\
         Install it with `apt-get install chromium fonts-noto-cjk` (.ci/run does), \
         or set CHROME=/path/to/chromium."
    )
}

/// A headless Chromium and its DevTools pipe. Replies are matched to calls by
/// id; events are not needed and are dropped. The browser exits when this
/// process does (its pipe closes).
struct Browser {
    pipe: Mutex<ChildStdin>,
    next_id: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>>,
    _child: Mutex<Child>,
}

impl Browser {
    fn launch() -> Browser {
        let exe = chromium_path();
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let profile = tmp.join("browser-profile");
        let _ = std::fs::remove_dir_all(&profile);
        let log = std::fs::File::create(tmp.join("chromium.log")).unwrap();
        // Chromium reads commands on fd 3 and writes replies on fd 4: the
        // shell hands it our stdin and stdout there.
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
                "--lang=zh-CN",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let waiting: Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>> = Arc::default();
        let replies = BufReader::new(child.stdout.take().unwrap());
        let w = waiting.clone();
        std::thread::spawn(move || {
            for msg in replies.split(0) {
                let Ok(msg) = msg else { break };
                let Ok(v) = serde_json::from_slice::<Value>(&msg) else {
                    continue;
                };
                if let Some(id) = v["id"].as_u64() {
                    if let Some(tx) = w.lock().unwrap().remove(&id) {
                        let _ = tx.send(v);
                    }
                }
            }
            // The browser is gone: wake every caller.
            w.lock().unwrap().clear();
        });
        let browser = Browser {
            pipe: Mutex::new(child.stdin.take().unwrap()),
            next_id: AtomicU64::new(1),
            waiting,
            _child: Mutex::new(child),
        };
        let version = browser.call(None, "Browser.getVersion", json!({}));
        assert!(version["product"].is_string(), "{version}");
        browser
    }

    /// One DevTools command, in a tab's session or on the browser.
    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let (tx, rx) = mpsc::channel();
        self.waiting.lock().unwrap().insert(id, tx);
        {
            let mut pipe = self.pipe.lock().unwrap();
            let mut bytes = serde_json::to_vec(&msg).unwrap();
            bytes.push(0);
            pipe.write_all(&bytes)
                .and_then(|_| pipe.flush())
                .unwrap_or_else(|e| panic!("{method}: the browser's pipe is closed: {e}"));
        }
        let reply = rx
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|e| {
                panic!("{method}: no reply from the browser ({e}); see target/tmp/chromium.log")
            });
        if let Some(err) = reply.get("error") {
            panic!("{method} failed: {err}");
        }
        reply["result"].clone()
    }
}

fn browser() -> &'static Browser {
    static BROWSER: OnceLock<Browser> = OnceLock::new();
    BROWSER.get_or_init(Browser::launch)
}

fn screenshot_dir() -> PathBuf {
    // target/e2e-screenshots, beside target/tmp (CARGO_TARGET_TMPDIR).
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tab of the shared browser.
struct Tab {
    session: String,
    target: String,
}

impl Tab {
    fn call(&self, method: &str, params: Value) -> Value {
        browser().call(Some(&self.session), method, params)
    }

    fn url(&self) -> String {
        js(self, "location.href").as_str().unwrap().to_string()
    }

    fn key(&self, key: &str) {
        let (code, vk, text) = match key {
            "/" => ("Slash", 191, Some("/")),
            "Enter" => ("Enter", 13, Some("\r")),
            "Escape" => ("Escape", 27, None),
            other => panic!("no key {other}"),
        };
        let mut down = json!({"type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk});
        if let Some(t) = text {
            down["text"] = t.into();
            down["unmodifiedText"] = t.into();
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}),
        );
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            browser().call(None, "Target.closeTarget", json!({"targetId": self.target}));
        }
    }
}

/// A tab on the page at `vp`, facets filled.
fn open(vp: Viewport) -> Tab {
    let base = server();
    let target = browser().call(None, "Target.createTarget", json!({"url": "about:blank"}))
        ["targetId"]
        .as_str()
        .unwrap()
        .to_string();
    let session = browser().call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target, "flatten": true}),
    )["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let tab = Tab { session, target };
    tab.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": vp.width, "height": vp.height,
               "deviceScaleFactor": if vp.mobile { 2 } else { 1 }, "mobile": vp.mobile}),
    );
    tab.call("Page.navigate", json!({"url": format!("{base}/")}));
    wait_for(
        &tab,
        "the page and its facets",
        "document.readyState === 'complete' && document.querySelectorAll('#district option').length > 1",
    );
    tab
}

/// Evaluates `expr` in the page (awaiting a promise) and returns its value.
fn js(tab: &Tab, expr: &str) -> Value {
    let r = tab.call(
        "Runtime.evaluate",
        json!({"expression": format!("(async () => ({expr}))()"),
               "awaitPromise": true, "returnByValue": true}),
    );
    if let Some(e) = r.get("exceptionDetails") {
        panic!("evaluate {expr}: {e:#}");
    }
    r["result"]["value"].clone()
}

/// Polls `cond` (a JS expression) until it is true; fails with the page's
/// status line and view when it never is.
fn wait_for(tab: &Tab, what: &str, cond: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Until the page has loaded, `#status` and the rest may be missing.
        let ok = tab.call(
            "Runtime.evaluate",
            json!({"expression": format!("!!({cond})"), "returnByValue": true}),
        );
        if ok["result"]["value"] == true {
            return;
        }
        if Instant::now() > deadline {
            let seen = js(
                tab,
                "({status: document.querySelector('#status')?.textContent,
                   view: document.querySelector('#view')?.innerText.slice(0, 800),
                   panel: document.querySelector('#panel')?.innerText.slice(0, 800)})",
            );
            panic!("timed out waiting for {what} ({cond}); page shows {seen:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the page has no request in flight.
fn settled(tab: &Tab, what: &str) {
    wait_for(
        tab,
        what,
        "document.querySelector('main').getAttribute('aria-busy') === 'false'",
    );
}

fn shoot(tab: &Tab, vp: Viewport, name: &str) -> PathBuf {
    // Let fonts and layout finish before the picture.
    js(tab, "document.fonts.ready.then(() => true)");
    let shot = tab.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000);
    let path = screenshot_dir().join(format!("{}-{name}.png", vp.name));
    std::fs::write(&path, png).unwrap();
    path
}

/// Types a query into the search box the way a reader does: `/` to focus,
/// select what is there, type, Enter.
fn ask(tab: &Tab, query: &str) {
    js(tab, "document.activeElement?.blur() || true");
    tab.key("/");
    assert_eq!(
        js(tab, "document.activeElement.id"),
        "q",
        "`/` focuses the search box"
    );
    js(tab, "document.querySelector('#q').select() || true");
    tab.call("Input.insertText", json!({ "text": query }));
    tab.key("Enter");
}

/// Clicks the first element matching `selector` with the mouse, at the
/// centre of its first line box (a wrapped link's middle may be off it),
/// after scrolling it into view.
fn click(tab: &Tab, selector: &str) {
    let sel = serde_json::to_string(selector).unwrap();
    wait_for(tab, selector, &format!("document.querySelector({sel})"));
    let at = js(
        tab,
        &format!(
            "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView({{block: 'center'}});
               const r = e.getClientRects()[0]; return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ),
    );
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    for kind in ["mousePressed", "mouseReleased"] {
        tab.call(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
        );
    }
}

/// What the results view shows, read back from the DOM.
const READ_RESULTS: &str = r#"(() => {
  const hit = (a) => ({
    district: a.querySelector('.district')?.textContent ?? '',
    path: [...a.querySelectorAll('.path span')].map((s) => s.textContent),
    year: a.querySelector('.year')?.textContent ?? '',
    title: a.querySelector('.title')?.textContent ?? '',
    text: a.querySelector('.text')?.textContent ?? '',
    marks: [...a.querySelectorAll('.text mark')].map((m) => m.textContent),
  });
  return {
    groups: [...document.querySelectorAll('#view .group')].map((g) => ({
      district: g.dataset.district,
      relevant: g.dataset.relevant,
      heading: g.querySelector('h2').textContent,
      hits: [...g.querySelectorAll('.hit')].map(hit),
    })),
    hits: [...document.querySelectorAll('#view .hit')].map(hit),
    status: document.querySelector('#status').textContent,
  };
})()"#;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Every hit names its district, year, document and section path.
fn assert_hit_labelled(h: &Value) {
    for field in ["district", "year", "title", "text"] {
        assert!(
            !h[field].as_str().unwrap().trim().is_empty(),
            "hit shows no {field}: {h:#}"
        );
    }
    assert!(
        !h["path"].as_array().unwrap().is_empty(),
        "hit shows no section path: {h:#}"
    );
}

/// Nothing sticks out past the right edge of the screen (the targets table
/// scrolls inside its own box and is left out).
fn assert_fits_the_width(tab: &Tab, what: &str) {
    let r = js(
        tab,
        "(() => { const w = document.documentElement.clientWidth;
           const out = [...document.querySelectorAll('body *')]
             .filter((e) => !e.closest('.table-wrap') && e.getClientRects().length)
             .map((e) => ({el: e.tagName + '.' + e.className, right: Math.round(e.getBoundingClientRect().right)}))
             .filter((x) => x.right > w + 1);
           return {width: w, out: out.slice(0, 5)}; })()",
    );
    assert!(
        r["out"].as_array().unwrap().is_empty() && r["width"].as_f64().unwrap() <= 400.0,
        "{what}: sticks out past the phone's width: {r:#}"
    );
}

/// Nothing the page loaded came from anywhere but the server.
fn assert_same_origin(tab: &Tab) {
    let urls = strs(&js(
        tab,
        "performance.getEntriesByType('resource').map((e) => e.name)",
    ));
    let base = server();
    for u in &urls {
        assert!(u.starts_with(base), "page fetched {u} from outside {base}");
    }
    assert!(!urls.is_empty());
}

#[test]
fn three_scripts_answer_grouped_by_district_then_flat() {
    let tab = open(LAPTOP);
    // (screenshot, query, words an answering passage holds, districts that
    // must answer). Rural toilets are in three reports; hydrogen energy is
    // named in 六盘水's (氫能) and, as a "氢走廊", in 南岸's, which the
    // English question does not reach: one district must answer, and the
    // others are grouped below it.
    for (name, query, anchors, answering_at_least) in [
        (
            "search-simplified",
            "哪些地区在推进农村户厕改造",
            &["户厕", "戶廁", "厕所", "廁所"][..],
            2,
        ),
        (
            "search-traditional",
            "哪些地區在推進農村戶廁改造",
            &["户厕", "戶廁", "厕所", "廁所"][..],
            2,
        ),
        (
            "search-english",
            "Which places are developing hydrogen energy?",
            &["氢", "氫"][..],
            1,
        ),
    ] {
        ask(&tab, query);
        settled(&tab, query);
        wait_for(
            &tab,
            "grouped results",
            "document.querySelector('#view .group')",
        );
        let r = js(&tab, READ_RESULTS);
        let groups = r["groups"].as_array().unwrap();
        assert!(groups.len() >= 2, "{query}: one district only: {r:#}");
        let mut seen = std::collections::HashSet::new();
        for g in groups {
            let d = g["district"].as_str().unwrap();
            assert!(seen.insert(d.to_string()), "{query}: {d} twice");
            assert!(g["heading"].as_str().unwrap().contains(d));
            let hits = g["hits"].as_array().unwrap();
            assert!(!hits.is_empty() && hits.len() <= 3, "{g:#}");
            for h in hits {
                assert_hit_labelled(h);
                assert_eq!(h["district"], d, "{query}: hit under the wrong district");
            }
        }
        let answering: Vec<&str> = groups
            .iter()
            .filter(|g| {
                g["hits"].as_array().unwrap().iter().any(|h| {
                    let t = h["text"].as_str().unwrap();
                    anchors.iter().any(|a| t.contains(a))
                })
            })
            .map(|g| g["district"].as_str().unwrap())
            .collect();
        assert!(
            answering.len() >= answering_at_least,
            "{query}: answered by {answering:?} only: {r:#}"
        );
        // The status line counts the districts that speak to the question
        // and those with only nearby passages: the groups shown.
        let status = r["status"].as_str().unwrap();
        let count_before = |words: &str| -> usize {
            status.find(words).map_or(0, |i| {
                let head = status[..i].trim_end();
                let digits: String = head
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.chars().rev().collect::<String>().parse().unwrap()
            })
        };
        let relevant = groups.iter().filter(|g| g["relevant"] == "true").count();
        assert_eq!(count_before("个地区的报告谈到"), relevant, "{r:#}");
        assert_eq!(
            count_before("个地区的报告谈到") + count_before("个地区只有相近段落"),
            groups.len(),
            "{r:#}"
        );
        // The address holds the query, so a result can be shared or reloaded.
        let url = tab.url();
        assert!(url.contains("q="), "{url}");
        shoot(&tab, LAPTOP, name);
    }

    // Highlighted terms: a keyword query marks what it matched.
    ask(&tab, "农村户厕");
    settled(&tab, "农村户厕");
    let r = js(&tab, READ_RESULTS);
    let marks: Vec<String> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| strs(&h["marks"]))
        .collect();
    assert!(
        marks.iter().any(|m| m.contains('厕') || m.contains('廁')),
        "no highlighted term: {marks:?}"
    );

    // The flat list: same query, one ranked list, no district groups.
    click(&tab, "#grouped");
    settled(&tab, "flat list");
    wait_for(
        &tab,
        "flat list",
        "!document.querySelector('#view .group') && document.querySelector('#view .hit')",
    );
    let r = js(&tab, READ_RESULTS);
    let hits = r["hits"].as_array().unwrap();
    assert!(hits.len() > 3, "{r:#}");
    hits.iter().for_each(assert_hit_labelled);
    assert!(tab.url().contains("q="));
    shoot(&tab, LAPTOP, "search-flat");

    // A place the question names narrows the search; the page says so and
    // offers to search everywhere instead.
    let q = "麒麟區2022年高考600分以上有多少人";
    ask(&tab, q);
    settled(&tab, q);
    wait_for(
        &tab,
        "the place note",
        "document.querySelector('#view .place-note') && document.querySelector('#view .hit')",
    );
    let note = js(
        &tab,
        "document.querySelector('#view .place-note').textContent",
    );
    assert!(note.as_str().unwrap().contains("麒麟区"), "{note}");
    let r = js(&tab, READ_RESULTS);
    let hits = r["hits"].as_array().unwrap();
    assert!(
        hits.iter().all(|h| h["district"] == "麒麟区"),
        "narrowed search left 麒麟区: {r:#}"
    );
    shoot(&tab, LAPTOP, "search-place");
    click(&tab, "[data-all-places]");
    wait_for(
        &tab,
        "results from every district",
        "!document.querySelector('#view .place-note') && document.querySelector('#view .hit')",
    );
    settled(&tab, "all places");
    let r = js(&tab, READ_RESULTS);
    let districts: std::collections::HashSet<&str> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["district"].as_str().unwrap())
        .collect();
    assert!(districts.len() >= 2, "still narrowed: {r:#}");
    assert_same_origin(&tab);
}

#[test]
fn phone_layout_reads_without_sideways_scrolling() {
    let tab = open(PHONE);
    ask(&tab, "哪些地區在推進農村戶廁改造");
    settled(&tab, "phone search");
    wait_for(
        &tab,
        "grouped results",
        "document.querySelector('#view .group')",
    );
    let r = js(&tab, READ_RESULTS);
    assert!(r["groups"].as_array().unwrap().len() >= 2, "{r:#}");
    assert_fits_the_width(&tab, "results");
    let box_width = js(
        &tab,
        "document.querySelector('#q').getBoundingClientRect().width",
    );
    assert!(
        box_width.as_f64().unwrap() >= 250.0,
        "search box {box_width}px"
    );
    // The filters fold away on a phone, under a line saying what is set.
    assert_eq!(js(&tab, "document.querySelector('#filters').open"), false);
    let folded = js(
        &tab,
        "document.querySelector('#filters > summary').textContent",
    );
    assert!(folded.as_str().unwrap().contains("混合"), "{folded}");
    shoot(&tab, PHONE, "search-traditional");

    // Similar in other districts, on a phone.
    click(&tab, "#view .hit [data-similar]");
    settled(&tab, "phone similar");
    wait_for(
        &tab,
        "similar panel",
        "document.querySelector('#panel .hit')",
    );
    assert_fits_the_width(&tab, "similar");
    shoot(&tab, PHONE, "similar");
    tab.key("Escape");
    wait_for(&tab, "Esc closes", "!document.querySelector('#panel .hit')");

    // The summary on a phone.
    click(&tab, "nav.tabs [data-tab=summary]");
    settled(&tab, "phone summary");
    wait_for(&tab, "summary", "document.querySelector('#view .sent a')");
    assert_fits_the_width(&tab, "summary");
    shoot(&tab, PHONE, "summary");

    // A citation opens the report on a phone, the quoted passage on screen.
    click(&tab, "#view .sent a");
    settled(&tab, "phone document");
    wait_for(
        &tab,
        "document view",
        "document.querySelector('#view .doc .p.focus')",
    );
    assert_fits_the_width(&tab, "document");
    shoot(&tab, PHONE, "document");
    // Esc leaves the report for the summary it was opened from.
    tab.key("Escape");
    settled(&tab, "back to the summary");
    wait_for(
        &tab,
        "summary again",
        "document.querySelector('#view .sent a')",
    );
}

#[test]
fn similar_in_other_districts_leaves_out_the_source_district() {
    let tab = open(LAPTOP);
    ask(&tab, "哪些地区在推进农村户厕改造");
    settled(&tab, "search");
    wait_for(
        &tab,
        "results",
        "document.querySelector('#view .hit [data-similar]')",
    );
    let source = js(
        &tab,
        "(() => { const a = document.querySelector('#view .hit');
           return {district: a.querySelector('.district').textContent,
                   doc: a.querySelector('[data-doc]').dataset.doc}; })()",
    );
    let district = source["district"].as_str().unwrap().to_string();
    click(&tab, "#view .hit [data-similar]");
    settled(&tab, "similar");
    wait_for(
        &tab,
        "similar panel",
        "document.querySelector('#panel .hit')",
    );
    let r = js(
        &tab,
        "({heading: document.querySelector('#panel h3').textContent,
           focused: document.activeElement.closest('#panel') !== null,
           hits: [...document.querySelectorAll('#panel .hit')].map((a) => ({
             district: a.querySelector('.district').textContent,
             shown: a.querySelector('.district').getClientRects().length > 0,
             doc: a.querySelector('[data-doc]').dataset.doc,
             year: a.querySelector('.year')?.textContent ?? '',
             title: a.querySelector('.title')?.textContent ?? '',
             path: [...a.querySelectorAll('.path span')].map((s) => s.textContent),
             text: a.querySelector('.text').textContent}))})",
    );
    let hits = r["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{r:#}");
    let mut districts = std::collections::HashSet::new();
    for h in hits {
        assert_ne!(
            h["district"],
            district.as_str(),
            "source district shown: {h:#}"
        );
        assert_ne!(h["doc"], source["doc"]);
        assert_eq!(
            h["shown"], true,
            "the district of a similar passage is hidden: {h:#}"
        );
        assert_hit_labelled(h);
        districts.insert(h["district"].as_str().unwrap().to_string());
    }
    assert!(districts.len() >= 2, "{r:#}");
    assert!(
        r["heading"].as_str().unwrap().contains(&district),
        "the panel says what it left out: {r:#}"
    );
    assert_eq!(r["focused"], true, "focus moves into the panel");
    shoot(&tab, LAPTOP, "similar");
    tab.key("Escape");
    wait_for(&tab, "Esc closes", "!document.querySelector('#panel .hit')");
}

#[test]
fn summary_sentences_open_their_passages() {
    let tab = open(LAPTOP);
    ask(&tab, "落实河湖长制");
    settled(&tab, "search");
    click(&tab, "nav.tabs [data-tab=summary]");
    settled(&tab, "summary");
    wait_for(&tab, "summary", "document.querySelector('#view .sent a')");
    let r = js(
        &tab,
        "[...document.querySelectorAll('#view .summary-district')].map((p) => ({
           district: p.dataset.district,
           sentences: [...p.querySelectorAll('.sent')].map((s) => ({
             text: s.querySelector('.said').textContent,
             link: s.querySelector('a')?.getAttribute('href') ?? ''}))}))",
    );
    let panels = r.as_array().unwrap();
    let districts: Vec<&str> = panels
        .iter()
        .map(|p| p["district"].as_str().unwrap())
        .collect();
    for d in ["麒麟区", "南岸区", "六盘水市"] {
        assert!(districts.contains(&d), "{d} missing from {districts:?}");
    }
    for p in panels {
        for s in p["sentences"].as_array().unwrap() {
            assert!(
                s["link"].as_str().unwrap().starts_with("#p-"),
                "sentence without a link to its passage: {s}"
            );
        }
    }
    shoot(&tab, LAPTOP, "summary");

    // A sentence's citation opens its report at the passage it quotes.
    let said = js(
        &tab,
        "document.querySelector('#view .sent .said').textContent.replace(/\\s+/g, '')",
    );
    click(&tab, "#view .sent a");
    settled(&tab, "document");
    wait_for(
        &tab,
        "document view",
        "document.querySelector('#view .doc .p.focus')",
    );
    let focus = js(
        &tab,
        "(() => { const p = document.querySelector('#view .doc .p.focus');
           const r = p.getBoundingClientRect();
           return {text: p.textContent.replace(/\\s+/g, ''), top: r.top, bottom: r.bottom,
                   sections: document.querySelectorAll('#view .doc section h2').length,
                   height: window.innerHeight}; })()",
    );
    assert!(
        focus["text"]
            .as_str()
            .unwrap()
            .contains(said.as_str().unwrap()),
        "the cited passage does not hold the sentence: {said} vs {focus:#}"
    );
    assert!(focus["sections"].as_u64().unwrap() >= 3, "{focus:#}");
    let (top, bottom, height) = (
        focus["top"].as_f64().unwrap(),
        focus["bottom"].as_f64().unwrap(),
        focus["height"].as_f64().unwrap(),
    );
    assert!(
        bottom > 0.0 && top < height,
        "cited passage not on screen: {focus:#}"
    );
    shoot(&tab, LAPTOP, "document");
}

#[test]
fn a_figure_question_shows_its_answer_card_above_the_hits() {
    let tab = open(LAPTOP);
    ask(&tab, "六盘水市2024年地区生产总值预期增长多少？");
    settled(&tab, "search");
    wait_for(
        &tab,
        "answer card",
        "document.querySelector('#view .answer')",
    );
    let card = js(
        &tab,
        "(() => { const a = document.querySelector('#view .answer');
           const h = document.querySelector('#view .hit');
           return {figure: a.querySelector('.figure').textContent,
                   kind: a.querySelector('.kind').textContent,
                   sentence: a.querySelector('.text').textContent,
                   above: !!h && (a.compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING) > 0}; })()",
    );
    assert_eq!(card["figure"], "增长 5.5%左右", "{card:#}");
    assert_eq!(card["kind"], "预期目标", "{card:#}");
    assert!(
        card["sentence"].as_str().unwrap().contains("5.5%左右"),
        "{card:#}"
    );
    assert_eq!(
        card["above"], true,
        "the card comes before the hits: {card:#}"
    );
    shoot(&tab, LAPTOP, "answer");
    // Its sentence opens the report at the passage stating it.
    click(&tab, "#view .answer [data-doc]");
    settled(&tab, "document");
    wait_for(
        &tab,
        "document view",
        "document.querySelector('#view .doc .p.focus')",
    );
    let focus = js(
        &tab,
        "document.querySelector('#view .doc .p.focus').textContent",
    );
    assert!(focus.as_str().unwrap().contains("5.5%左右"), "{focus}");
    // A question whose figure no report states shows no card.
    ask(&tab, "南明区2024年地区生产总值预期增长多少？");
    settled(&tab, "search");
    wait_for(&tab, "hits", "document.querySelector('#view .hit')");
    assert_eq!(
        js(&tab, "document.querySelectorAll('#view .answer').length"),
        0
    );
}

#[test]
fn targets_table_and_the_empty_and_error_states() {
    let tab = open(LAPTOP);
    click(&tab, "nav.tabs [data-tab=targets]");
    settled(&tab, "targets");
    wait_for(
        &tab,
        "targets table",
        "document.querySelector('#view table td div')",
    );
    let t = js(
        &tab,
        "({districts: [...document.querySelectorAll('#view thead th')].slice(1).map((th) => th.textContent),
           rows: [...document.querySelectorAll('#view tbody tr')].map((tr) => tr.querySelector('th').textContent),
           links: [...document.querySelectorAll('#view td a')].map((a) => a.dataset.doc)})",
    );
    assert!(t["districts"].as_array().unwrap().len() >= 4, "{t:#}");
    assert!(
        strs(&t["rows"]).iter().any(|r| r == "地区生产总值"),
        "{t:#}"
    );
    let links = strs(&t["links"]);
    assert!(!links.is_empty() && links.iter().all(|d| d.len() >= 8 && d != "undefined"));
    shoot(&tab, LAPTOP, "targets");
    // A figure's 原文 link opens its report.
    click(&tab, "#view td a");
    settled(&tab, "document from targets");
    wait_for(
        &tab,
        "document view",
        "document.querySelector('#view .doc .p.focus')",
    );

    // Empty: nothing matches a filter that rules everything out.
    click(&tab, "nav.tabs [data-tab=results]");
    settled(&tab, "results tab");
    // No query yet: the start page explains and offers examples.
    wait_for(
        &tab,
        "start page",
        "document.querySelector('#view .intro [data-example]')",
    );
    shoot(&tab, LAPTOP, "start");
    js(
        &tab,
        "(() => { const m = document.querySelector('#mode'); m.value = 'lexical';
                  m.dispatchEvent(new Event('change')); return true; })()",
    );
    ask(&tab, "火星殖民地");
    settled(&tab, "empty");
    wait_for(
        &tab,
        "empty state",
        "document.querySelector('#view .empty')",
    );
    let empty = js(&tab, "document.querySelector('#view .empty').textContent");
    assert!(empty.as_str().unwrap().contains("没有找到"), "{empty}");
    shoot(&tab, LAPTOP, "empty");
    // The empty state offers the way out: semantic search finds neighbours.
    click(&tab, "#view .empty [data-mode=dense]");
    settled(&tab, "dense");
    wait_for(
        &tab,
        "dense results",
        "document.querySelector('#view .hit')",
    );
    assert_eq!(js(&tab, "document.querySelector('#mode').value"), "dense");

    // Error: the server refuses an over-long query; the page says why.
    let long = "养老".repeat(1_100);
    ask(&tab, &long);
    settled(&tab, "error");
    wait_for(
        &tab,
        "error state",
        "document.querySelector('#view .error')",
    );
    let err = js(&tab, "document.querySelector('#view .error').textContent");
    assert!(err.as_str().unwrap().len() > 10, "{err}");
    assert!(
        js(
            &tab,
            "document.querySelector('#view .error').getAttribute('role')"
        ) == "alert"
    );
    shoot(&tab, LAPTOP, "error");
}

#[test]
fn an_uncertain_field_is_marked_in_the_document_view() {
    server();
    let Some(service) = SERVICE.get() else {
        eprintln!("skipped: needs the in-process server (ZHENGCE_E2E_URL is set)");
        return;
    };
    // A stored report whose year inference was unsure of: the value stays,
    // its confidence drops below the threshold (what the store keeps from
    // inference), as the lead's calibration may leave any field.
    let doc = service
        .library()
        .documents()
        .unwrap()
        .into_iter()
        .find(|d| d.year.is_some() && d.place.district.is_some())
        .expect("a bundled report with a year and a district");
    let mut meta = service.library().document_meta(&doc.doc_id).unwrap();
    meta.confidence.insert("year".into(), 0.35);
    service
        .library()
        .update_metadata(&[zhengce::index::MetaUpdate {
            doc_id: doc.doc_id.clone(),
            meta,
            corrections: Vec::new(),
        }])
        .unwrap();

    let tab = open(LAPTOP);
    ask(
        &tab,
        &format!("{}的经济发展", doc.place.district.as_deref().unwrap()),
    );
    settled(&tab, "search");
    click(&tab, &format!("#view [data-doc=\"{}\"]", doc.doc_id));
    settled(&tab, "document");
    wait_for(
        &tab,
        "document view",
        "document.querySelector('#view .doc .tags')",
    );
    let tags = js(
        &tab,
        "[...document.querySelectorAll('#view .doc .tags [data-field]')].map((t) => ({
           field: t.dataset.field, text: t.textContent, title: t.title,
           marked: !!t.querySelector('.q'), uncertain: t.classList.contains('uncertain')}))",
    );
    let tag = |f: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["field"] == f)
            .unwrap_or_else(|| panic!("no {f} tag in {tags:#}"))
            .clone()
    };
    let year = tag("year");
    assert!(
        year["marked"] == true && year["uncertain"] == true,
        "{year:#}"
    );
    assert!(year["text"].as_str().unwrap().contains('?'), "{year:#}");
    let title = year["title"].as_str().unwrap();
    assert!(title.contains("0.35") && title.contains("核对"), "{year:#}");
    let district = tag("district");
    assert!(
        district["marked"] == false && district["title"] == "",
        "{district:#}"
    );
    js(&tab, "window.scrollTo(0, 0) || true");
    shoot(&tab, LAPTOP, "document-uncertain");
}

#[test]
fn trends_chart_places_over_years_at_three_levels() {
    let tab = open(LAPTOP);
    click(&tab, "nav.tabs [data-tab=trends]");
    settled(&tab, "trends");
    wait_for(
        &tab,
        "trend charts",
        "document.querySelector('#view figure.chart svg circle')",
    );
    let charts = js(
        &tab,
        "[...document.querySelectorAll('#view figure.chart')].map((f) => ({
           place: f.dataset.place,
           level: f.closest('section.level').dataset.level,
           lines: f.querySelectorAll('path').length,
           points: [...f.querySelectorAll('circle')].map((c) => ({
             head: c.dataset.tipHead, text: c.dataset.tipText, doc: c.dataset.tipDoc,
             passage: c.dataset.tipPassage, cls: c.getAttribute('class')}))}))",
    );
    let charts = charts.as_array().unwrap();
    // The demo reports: a district, its city and its province over years,
    // each level in its own column.
    let levels: Vec<&str> = charts
        .iter()
        .map(|c| c["level"].as_str().unwrap())
        .collect();
    for lv in ["province", "prefecture", "county"] {
        assert!(levels.contains(&lv), "no {lv} chart: {charts:#?}");
    }
    let yantian = charts
        .iter()
        .find(|c| c["place"] == "盐田区")
        .unwrap_or_else(|| panic!("no chart for 盐田区: {charts:#?}"));
    assert!(yantian["lines"].as_u64().unwrap() >= 1, "{yantian:#}");
    let targets: Vec<&Value> = yantian["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["cls"] == "s0")
        .collect();
    assert!(targets.len() >= 2, "{yantian:#}");
    // Each point is a figure of the panel, with the sentence it was read from.
    let base = server();
    let panel: Value = reqwest::blocking::get(format!(
        "{base}/api/panel/targets?place=%E7%9B%90%E7%94%B0%E5%8C%BA"
    ))
    .unwrap()
    .json()
    .unwrap();
    for p in &targets {
        let row = panel["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"]["passage_id"] == p["passage"])
            .unwrap_or_else(|| panic!("{p:#} is no target of {panel:#}"));
        assert_eq!(p["text"], row["target"]["sentence"]);
        assert!(p["head"]
            .as_str()
            .unwrap()
            .contains(&row["year"].to_string()));
    }

    // Hovering a point shows its sentence.
    let dot = "#view figure.chart[data-place='盐田区'] circle.s0";
    let at = js(
        &tab,
        &format!(
            "(() => {{ const e = document.querySelector(\"{dot}\"); e.scrollIntoView({{block: 'center'}});
               const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ),
    );
    tab.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseMoved", "x": at[0], "y": at[1]}),
    );
    wait_for(&tab, "tooltip", "document.querySelector('#tip q')");
    let tip = js(&tab, "document.querySelector('#tip q').textContent");
    assert_eq!(tip, targets[0]["text"], "the first target's sentence");
    shoot(&tab, LAPTOP, "trends");
    // Clicking pins it; its button opens the report at the cited passage.
    click(&tab, dot);
    click(&tab, "#tip button[data-doc]");
    settled(&tab, "document from the chart");
    wait_for(
        &tab,
        "document view",
        &format!(
            "document.querySelector('#view .doc .p.focus#p-{}')",
            targets[0]["passage"].as_str().unwrap()
        ),
    );
    tab.key("Escape");
    settled(&tab, "back to trends");
    wait_for(
        &tab,
        "trends again",
        "document.querySelector('#view figure.chart')",
    );

    // Attention to a concept asked in the search box, with downloads.
    ask(&tab, "数字经济");
    settled(&tab, "attention");
    wait_for(
        &tab,
        "attention charts",
        "document.querySelector('#trend-panel').value === 'attention' && document.querySelector('#view figure.chart circle')",
    );
    let links = strs(&js(
        &tab,
        "[...document.querySelectorAll('#view .trend-controls a')].map((a) => a.getAttribute('href'))",
    ));
    assert!(links.iter().any(|l| l.contains("format=csv")), "{links:?}");
    assert!(links.iter().any(|l| l.contains("format=xlsx")), "{links:?}");
    shoot(&tab, LAPTOP, "trends-attention");

    // On a phone the levels stack and nothing sticks out.
    let phone = open(PHONE);
    click(&phone, "nav.tabs [data-tab=trends]");
    settled(&phone, "phone trends");
    wait_for(
        &phone,
        "phone charts",
        "document.querySelector('#view figure.chart circle')",
    );
    assert_fits_the_width(&phone, "trends");
    click(&phone, "#view figure.chart circle");
    wait_for(&phone, "tooltip on tap", "document.querySelector('#tip q')");
    assert_fits_the_width(&phone, "trend tooltip");
    shoot(&phone, PHONE, "trends");
}
