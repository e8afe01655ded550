//! Self-contained HTML reports of a run (`report.html`): one file with inline CSS and
//! JavaScript and every image embedded as a base64 `data:` URI, so it can be mailed, archived
//! or opened offline; it links to nothing outside itself.

use std::fmt::Write as _;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// The page background the report's CSS sets (`#f5f6f8`).
pub const REPORT_BACKGROUND: [u8; 3] = [0xf5, 0xf6, 0xf8];

/// A PNG image with a caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// Caption under the image (also its `alt` text).
    pub caption: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Displayed width in CSS pixels (height follows); `None`: the image's own width, shrunk
    /// to fit the page.
    pub width: Option<u32>,
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 13, 10, 26, 10];

impl Figure {
    /// A figure of the PNG bytes `png`.
    pub fn new(caption: impl Into<String>, png: Vec<u8>) -> Self {
        Self {
            caption: caption.into(),
            png,
            width: None,
        }
    }

    /// A figure of the PNG file `path`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if it cannot be read; [`Error::InvalidConfig`] if it is
    /// not a PNG file.
    pub fn from_file(caption: impl Into<String>, path: &Path) -> Result<Self> {
        let png = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if !png.starts_with(&PNG_SIGNATURE) {
            return Err(Error::InvalidConfig(format!(
                "{} is not a PNG file",
                path.display()
            )));
        }
        Ok(Self::new(caption, png))
    }

    /// The same figure displayed `width` CSS pixels wide (small maps are enlarged with
    /// crisp, unsmoothed pixels).
    pub fn with_width(mut self, width: u32) -> Self {
        self.width = Some(width);
        self
    }

    /// Width and height from the PNG header, if the bytes start like a PNG file.
    fn size(&self) -> Option<(u32, u32)> {
        let b = &self.png;
        (b.len() >= 24 && b.starts_with(&PNG_SIGNATURE) && &b[12..16] == b"IHDR").then(|| {
            let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            (be(16), be(20))
        })
    }
}

/// A table of text cells with a header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Caption above the table.
    pub caption: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Rows of cells (numbers are right-aligned).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with a caption and column headings.
    pub fn new<S: Into<String>>(
        caption: impl Into<String>,
        header: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            caption: caption.into(),
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// The table with one more row.
    pub fn row<S: Into<String>>(mut self, cells: impl IntoIterator<Item = S>) -> Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }
}

/// One position of a slider: a label (e.g. a date) and the images shown there side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliderFrame {
    /// Shown next to the slider while this frame is displayed.
    pub label: String,
    /// The images of this position.
    pub images: Vec<Figure>,
}

impl SliderFrame {
    /// A slider position.
    pub fn new(label: impl Into<String>, images: Vec<Figure>) -> Self {
        Self {
            label: label.into(),
            images,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Section(String),
    Paragraph(String),
    Images(Vec<Figure>),
    Table(Table),
    Slider(String, Vec<SliderFrame>),
}

/// A self-contained HTML report (`report.html`), built block by block: one file with inline
/// CSS and JavaScript and every image embedded as a base64 `data:` URI, so it can be mailed,
/// archived or opened offline; it links to nothing outside itself.
///
/// Text is HTML-escaped; the only script is the slider's few inline lines. Without
/// JavaScript every slider shows its first frame.
///
/// ```
/// use chronomap_train::{Figure, Report, SliderFrame, Table};
/// # let png = vec![0x89, b'P', b'N', b'G', 13, 10, 26, 10];
/// let html = Report::new("Saint-Louis <2016-2020>")
///     .section("Scores")
///     .table(Table::new("mIoU", ["map", "mIoU"]).row(["fused", "0.71"]))
///     .slider(
///         "maps by date",
///         vec![SliderFrame::new("2016-01-12", vec![Figure::new("fused", png.clone())])],
///     )
///     .image(Figure::new("curves", png))
///     .to_html();
/// assert!(html.contains("Saint-Louis &lt;2016-2020&gt;"));
/// assert!(html.contains("type=\"range\""));
/// assert!(!html.contains("http://") && !html.contains("https://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    title: String,
    blocks: Vec<Block>,
}

/// `text` with `& < > " '` escaped, safe in element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

const CSS: &str = "\
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#222;font:15px/1.45 system-ui,-apple-system,'Segoe UI',\
Roboto,'DejaVu Sans',sans-serif}
main{max-width:1180px;margin:0 auto;padding:12px 20px 32px}
h1{font-size:24px;margin:6px 0 14px}
h2{font-size:19px;margin:26px 0 10px;padding-bottom:4px;border-bottom:1px solid #d8dbe0}
p{margin:8px 0;max-width:80ch}
figure{margin:8px 16px 12px 0;display:inline-block;vertical-align:top}
figure img{display:block;box-sizing:content-box;max-width:100%;height:auto;background:#fff;\
border:1px solid #d8dbe0}
figure img.px{image-rendering:pixelated}
figcaption{font-size:13px;color:#555;margin-top:3px}
.row{display:flex;flex-wrap:wrap;align-items:flex-start}
.slider{display:block;background:#fff;border:1px solid #d8dbe0;border-radius:6px;padding:10px 12px}
.slider .controls{display:flex;align-items:center;gap:12px;margin:4px 0 8px}
.slider input[type=range]{width:min(520px,70vw)}
.slider output{font-weight:600;font-variant-numeric:tabular-nums}
.frame[hidden]{display:none}
table{border-collapse:collapse;background:#fff;margin:6px 0 14px;font-size:14px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #d8dbe0;padding:3px 10px}
th{background:#eceef2;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
footer{margin-top:28px;font-size:12px;color:#777}
";

const SCRIPT: &str = "\
document.querySelectorAll('.slider').forEach(function(s){\
var r=s.querySelector('input[type=range]'),o=s.querySelector('output'),\
f=s.querySelectorAll('.frame');\
function show(){var i=+r.value;f.forEach(function(e,j){e.hidden=j!==i;});\
o.textContent=f[i].getAttribute('data-label');}\
r.addEventListener('input',show);show();});";

fn is_numeric(cell: &str) -> bool {
    let t = cell
        .trim()
        .trim_end_matches('%')
        .trim_start_matches(['+', '-']);
    cell.trim() == "-"
        || (!t.is_empty()
            && t.replace(['.', ','], "")
                .chars()
                .all(|c| c.is_ascii_digit()))
}

fn figure_html(out: &mut String, f: &Figure) {
    let caption = escape_html(&f.caption);
    let mut attrs = String::new();
    if let Some((w, h)) = f.size() {
        let _ = write!(attrs, " width=\"{w}\" height=\"{h}\"");
    }
    let mut class = "";
    if let Some(w) = f.width {
        let _ = write!(attrs, " style=\"width:{w}px\"");
        if f.size().is_some_and(|(nw, _)| w > nw) {
            class = " class=\"px\"";
        }
    }
    let _ = write!(
        out,
        "<figure><img{class}{attrs} alt=\"{caption}\" src=\"data:image/png;base64,{}\">",
        base64(&f.png)
    );
    if !f.caption.is_empty() {
        let _ = write!(out, "<figcaption>{caption}</figcaption>");
    }
    out.push_str("</figure>\n");
}

impl Report {
    /// An empty report titled `title` (the page title and its first heading).
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Starts a section with a heading.
    pub fn section(mut self, heading: impl Into<String>) -> Self {
        self.blocks.push(Block::Section(heading.into()));
        self
    }

    /// A paragraph of text.
    pub fn paragraph(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// One image.
    pub fn image(self, figure: Figure) -> Self {
        self.images(vec![figure])
    }

    /// Images side by side (wrapping on narrow pages).
    pub fn images(mut self, figures: Vec<Figure>) -> Self {
        if !figures.is_empty() {
            self.blocks.push(Block::Images(figures));
        }
        self
    }

    /// A table.
    pub fn table(mut self, table: Table) -> Self {
        self.blocks.push(Block::Table(table));
        self
    }

    /// A slider (`<input type=range>`) switching between `frames`, the first shown first.
    pub fn slider(mut self, caption: impl Into<String>, frames: Vec<SliderFrame>) -> Self {
        if !frames.is_empty() {
            self.blocks.push(Block::Slider(caption.into(), frames));
        }
        self
    }

    /// The report as one HTML document.
    pub fn to_html(&self) -> String {
        let title = escape_html(&self.title);
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n\
             <h1>{title}</h1>\n"
        );
        let mut sliders = 0;
        for b in &self.blocks {
            match b {
                Block::Section(h) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape_html(h));
                }
                Block::Paragraph(p) => {
                    let _ = writeln!(out, "<p>{}</p>", escape_html(p));
                }
                Block::Images(figs) => {
                    out.push_str("<div class=\"row\">\n");
                    figs.iter().for_each(|f| figure_html(&mut out, f));
                    out.push_str("</div>\n");
                }
                Block::Table(t) => {
                    out.push_str("<table>\n");
                    if !t.caption.is_empty() {
                        let _ = writeln!(out, "<caption>{}</caption>", escape_html(&t.caption));
                    }
                    out.push_str("<thead><tr>");
                    for h in &t.header {
                        let _ = write!(out, "<th>{}</th>", escape_html(h));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for r in &t.rows {
                        out.push_str("<tr>");
                        for c in r {
                            let class = if is_numeric(c) { " class=\"num\"" } else { "" };
                            let _ = write!(out, "<td{class}>{}</td>", escape_html(c));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Slider(caption, frames) => {
                    let id = format!("slider-{sliders}");
                    sliders += 1;
                    let caption = escape_html(caption);
                    let _ = write!(
                        out,
                        "<div class=\"slider\" id=\"{id}\">\n<div class=\"controls\">\
                         <label for=\"{id}-range\">{caption}</label>\
                         <input type=\"range\" id=\"{id}-range\" min=\"0\" max=\"{}\" \
                         value=\"0\" step=\"1\"><output for=\"{id}-range\">{}</output>\
                         </div>\n",
                        frames.len() - 1,
                        escape_html(&frames[0].label)
                    );
                    for (i, f) in frames.iter().enumerate() {
                        let hidden = if i == 0 { "" } else { " hidden" };
                        let _ = writeln!(
                            out,
                            "<div class=\"frame row\" data-label=\"{}\"{hidden}>",
                            escape_html(&f.label)
                        );
                        f.images.iter().for_each(|g| figure_html(&mut out, g));
                        out.push_str("</div>\n");
                    }
                    out.push_str("</div>\n");
                }
            }
        }
        let _ = write!(
            out,
            "<footer>Written by chronomap {}.</footer>\n</main>\n",
            env!("CARGO_PKG_VERSION")
        );
        if sliders > 0 {
            let _ = writeln!(out, "<script>{SCRIPT}</script>");
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    /// Writes the report to `path`, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_html().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (a, b) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(a.as_bytes()), b, "{a:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let evil = "<script>alert('x') & \"y\"</script>";
        let png = {
            let mut p = PNG_SIGNATURE.to_vec();
            p.extend([0, 0, 0, 13]);
            p.extend(b"IHDR");
            p.extend(7u32.to_be_bytes());
            p.extend(5u32.to_be_bytes());
            p
        };
        let html = Report::new(evil)
            .section(evil)
            .paragraph(evil)
            .image(Figure::new(evil, png.clone()).with_width(70))
            .table(
                Table::new(evil, [evil])
                    .row([evil])
                    .row(["0.5", "12%", "-", "a1"]),
            )
            .slider(
                evil,
                vec![SliderFrame::new(evil, vec![Figure::new(evil, png)])],
            )
            .to_html();
        assert!(!html.contains("<script>alert"), "{html}");
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "only the slider script"
        );
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;"));
        assert!(html.contains("width=\"7\" height=\"5\""));
        assert!(
            html.contains("class=\"px\""),
            "enlarged small image is pixelated"
        );
        assert!(html.contains("<td class=\"num\">0.5</td><td class=\"num\">12%</td>"));
        assert!(html.contains("<td class=\"num\">-</td><td>a1</td>"));
        assert!(!html.contains("http"), "no external URL");
    }

    #[test]
    fn sliders_show_their_first_frame() {
        let f = |l: &str| SliderFrame::new(l, vec![Figure::new(l, PNG_SIGNATURE.to_vec())]);
        let html = Report::new("t")
            .slider("dates", vec![f("a"), f("b"), f("c")])
            .slider("none", Vec::new())
            .to_html();
        assert!(html.contains("max=\"2\""));
        assert_eq!(html.matches(" hidden>").count(), 2);
        assert!(html.contains("<output for=\"slider-0-range\">a</output>"));
        assert!(!html.contains("slider-1"), "an empty slider is left out");
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.html");
        Report::new("t").write(&p).expect("write");
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("</html>\n"));
        assert!(Figure::from_file("x", &p).is_err(), "not a PNG");
    }
}
