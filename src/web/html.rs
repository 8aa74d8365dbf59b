//! HTML building blocks: escaping (everything from the chain, the API or the database goes
//! through [`esc`]), the page layout, and numbers formatted for people.

use std::fmt::Write;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a path segment for a link (hotkeys are ss58, but a link must never break out).
pub fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole page: title, navigation, body (already HTML).
pub fn page(title: &str, netuid: u16, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · tenure · subnet {netuid}</title><style>{STYLE}</style></head><body>\
<header><nav><a href=\"/\">Leaderboard</a> <a href=\"/network\">Network</a> \
<a href=\"/status\">Status</a></nav>\
<h1>{t}</h1><p class=\"sub\">subnet {netuid} · served by tenure {v}</p></header>\
<main>{body}</main></body></html>\n",
        t = esc(title),
        v = env!("CARGO_PKG_VERSION"),
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;\
max-width:1200px;padding:0 16px 48px;color:#1d2433;background:#fafbfc}\
header{border-bottom:1px solid #dde3ea;margin-bottom:16px}nav a{margin-right:16px}\
h1{margin:12px 0 0;font-size:24px}.sub{color:#5b6678;margin:4px 0 12px}\
h2{font-size:18px;margin:28px 0 8px}a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}\
table{border-collapse:collapse;width:100%;font-size:14px;background:#fff}\
th,td{padding:6px 8px;border-bottom:1px solid #e6eaef;text-align:right;white-space:nowrap}\
th{background:#f0f3f7;position:sticky;top:0}td.l,th.l{text-align:left}\
code,.key{font-family:ui-monospace,Menlo,monospace;font-size:13px}\
.badge{display:inline-block;padding:1px 6px;margin:1px;border-radius:8px;background:#fff3c4;\
border:1px solid #e8c547;font-size:12px}.muted{color:#7a8597}.chart{margin:8px 0 20px}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}dt{color:#5b6678}dd{margin:0}\
.met{color:#2e8b57;font-weight:600}.notmet{color:#c0392b;font-weight:600}";

/// `1234.5678` TAO from RAO, with a unit and sensible precision.
pub fn tao(rao: i64, unit: &str) -> String {
    let v = rao as f64 / 1e9;
    let digits = if v.abs() >= 1000.0 {
        2
    } else if v.abs() >= 1.0 {
        4
    } else {
        6
    };
    format!("{} {unit}", group(v, digits))
}

/// Thousands separators for a number with `digits` decimals.
fn group(v: f64, digits: usize) -> String {
    let s = format!("{:.*}", digits, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// A fraction as a percentage ("97.25 %"); "–" when unknown.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.2} %", v * 100.0),
        _ => "–".to_string(),
    }
}

/// A multiplier ("×1.250").
pub fn times(v: f64) -> String {
    format!("×{v:.3}")
}

/// How long ago `secs` seconds was, in words.
pub fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A hotkey shortened for tables ("5F3sa2…Xy9q"), the whole of it in the title.
pub fn short_key(k: &str) -> String {
    let chars: Vec<char> = k.chars().collect();
    if chars.len() <= 14 {
        return esc(k);
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{}…{}", esc(&head), esc(&tail))
}

/// A link to a miner's page showing its shortened hotkey.
pub fn miner_link(hotkey: &str) -> String {
    format!(
        "<a class=\"key\" href=\"/miners/{}\" title=\"{}\">{}</a>",
        url_segment(hotkey),
        esc(hotkey),
        short_key(hotkey)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_special_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(url_segment("a/b?c<d>"), "a%2Fb%3Fc%3Cd%3E");
        let link = miner_link("<b>\"x\"</b>");
        assert!(!link.contains("<b>"), "{link}");
        assert!(link.contains("&lt;b&gt;"), "{link}");
    }

    #[test]
    fn numbers_read_like_numbers() {
        assert_eq!(tao(1_234_567_890_123, "α"), "1,234.57 α");
        assert_eq!(tao(1_500_000_000, "τ"), "1.5000 τ");
        assert_eq!(tao(1_000, "α"), "0.000001 α");
        assert_eq!(tao(-2_000_000_000_000, "α"), "-2,000.00 α");
        assert_eq!(pct(Some(0.97254)), "97.25 %");
        assert_eq!(pct(None), "–");
        assert_eq!(times(1.25), "×1.250");
        assert_eq!(ago(30), "30 s ago");
        assert_eq!(ago(7200), "2 h ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(
            short_key("5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"),
            "5F3sa2…YjQX"
        );
    }
}
