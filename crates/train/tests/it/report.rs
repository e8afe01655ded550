//! The HTML report as a browser shows it: a small report (synthetic PNGs, a table, a slider,
//! a confusion picture) is screenshotted by headless Chromium and the screenshot checked.
//!
//! The browser is `$CHRONOMAP_CHROMIUM`, else the first of `chromium-headless-shell`,
//! `chrome-headless-shell`, `chromium`, `google-chrome` on `PATH`. Without one the test is
//! skipped with a notice, unless `CHRONOMAP_REQUIRE_CHROMIUM=1` (CI) makes it fail.
//! `CHRONOMAP_REPORT_SCREENSHOT=PATH` keeps a copy of the screenshot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chronomap_train::{
    Canvas, ConfusionMatrix, Figure, REPORT_BACKGROUND, Report, SliderFrame, Table,
    render_confusion,
};

const MAGENTA: [u8; 3] = [255, 0, 255];
const CYAN: [u8; 3] = [0, 255, 255];
const YELLOW: [u8; 3] = [255, 255, 0];

/// The browser to use, if any.
fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHRONOMAP_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium-headless-shell",
        "chrome-headless-shell",
        "chromium",
        "google-chrome",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

fn solid_png(side: usize, color: [u8; 3]) -> Vec<u8> {
    Canvas::new(side, side, color)
        .to_png(Path::new("solid.png"))
        .expect("png")
}

/// Decodes a PNG file to RGB8 pixels: (width, height, pixels).
fn decode_rgb(path: &Path) -> (usize, usize, Vec<u8>) {
    let file = std::fs::File::open(path).expect("screenshot");
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let rgb = buf[..w * h * channels]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (w, h, rgb)
}

fn near(a: &[u8], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 3)
}

/// Runs the browser on `html`, writing a 1000 x 800 screenshot to `shot`.
fn screenshot(browser: &Path, html: &Path, shot: &Path, profile: &Path) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,800")
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} took over 2 minutes", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        status.success() && shot.is_file(),
        "{} failed ({status}): {err}",
        browser.display()
    );
}

#[test]
fn headless_chromium_renders_the_report() {
    let Some(browser) = find_browser() else {
        let required = std::env::var("CHRONOMAP_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CHRONOMAP_REQUIRE_CHROMIUM=1 but no browser found: set CHRONOMAP_CHROMIUM or \
             install chromium-headless-shell"
        );
        eprintln!(
            "skipped: no headless Chromium (set CHRONOMAP_CHROMIUM or install \
             chromium-headless-shell)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let cm = ConfusionMatrix::from_counts(3, vec![5, 1, 0, 2, 3, 1, 0, 0, 4]);
    let names: Vec<String> = ["water", "building", "vegetation"]
        .map(String::from)
        .to_vec();
    let confusion = render_confusion(&cm, &names, "fused")
        .to_png(Path::new("confusion.png"))
        .expect("png");
    let report = Report::new("Report <test> & check")
        .image(Figure::new("a magenta square", solid_png(64, MAGENTA)))
        .section("Maps by date")
        .slider(
            "date",
            vec![
                SliderFrame::new("first", vec![Figure::new("cyan", solid_png(40, CYAN))]),
                SliderFrame::new("second", vec![Figure::new("yellow", solid_png(40, YELLOW))]),
            ],
        )
        .section("Scores")
        .table(
            Table::new("mIoU by date", ["date", "per-date", "fused"]).row([
                "2016-01-12",
                "0.512",
                "0.634",
            ]),
        )
        .image(Figure::new("confusion", confusion));
    let html = dir.path().join("report.html");
    report.write(&html).expect("write report");
    let text = std::fs::read_to_string(&html).expect("read");
    assert!(!text.contains("http://") && !text.contains("https://"));

    let shot = dir.path().join("shot.png");
    screenshot(&browser, &html, &shot, &dir.path().join("profile"));
    if let Some(keep) = std::env::var_os("CHRONOMAP_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copy the screenshot");
    }
    let (w, h, px) = decode_rgb(&shot);
    assert_eq!((w, h), (1000, 800), "screenshot size");
    let count = |c: [u8; 3]| px.chunks(3).filter(|p| near(p, c)).count();
    // The magenta square near the top, at its own size (64 x 64 = 4096 px, give or take a
    // border row of blending).
    let magenta = count(MAGENTA);
    assert!(
        (3900..=4400).contains(&magenta),
        "magenta pixels: {magenta}"
    );
    let first_row = (0..h)
        .find(|&y| (0..w).any(|x| near(&px[(y * w + x) * 3..(y * w + x) * 3 + 3], MAGENTA)))
        .expect("magenta row");
    assert!(first_row < 200, "the square is at the top: row {first_row}");
    // The slider's first frame is shown, the second one hidden.
    assert!(count(CYAN) >= 1500, "cyan pixels: {}", count(CYAN));
    assert_eq!(count(YELLOW), 0, "the hidden frame is not drawn");
    // The page background is the one the CSS sets (top corners: page margin).
    let top_right = &px[(w - 1) * 3..w * 3];
    assert!(
        near(&px[..3], REPORT_BACKGROUND) && near(top_right, REPORT_BACKGROUND),
        "background {:?} / {top_right:?}, expected {REPORT_BACKGROUND:?}",
        &px[..3],
    );
}
