//! `report.html`: one self-contained page per run (config, final and best metrics, every
//! plot inlined as base64 PNG).
use crate::config::RunConfig;
use crate::policy::agent::PolicyRecord;
use crate::run::log::{best_row, final_row};
use crate::run::{CsvTable, RunDir};
use anyhow::Result;
use base64::Engine;

/// HTML-escapes text (&, <, >, ").
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A whole self-contained page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;font-size:13px}}\
         td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}img{{max-width:100%}}pre{{background:#f4f4f4;padding:1em}}\
         .warn{{color:#a40}}figure{{margin:1em 0}}\
         </style></head><body>{body}</body></html>",
        escape(title)
    )
}

fn metrics_table(table: &CsvTable, rows: &[(String, &Vec<String>)]) -> String {
    let mut h = String::from("<table><tr><th></th>");
    for name in &table.header {
        h.push_str(&format!("<th>{}</th>", escape(name)));
    }
    h.push_str("</tr>");
    for (label, row) in rows {
        h.push_str(&format!("<tr><td><b>{label}</b></td>"));
        for v in row.iter() {
            h.push_str(&format!("<td>{}</td>", escape(v)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

pub fn write_report(run: &RunDir, cfg: &RunConfig, table: &CsvTable, progression: &[PolicyRecord]) -> Result<()> {
    let mut rows: Vec<(String, &Vec<String>)> = Vec::new();
    if let Some(first) = table.rows.first().filter(|r| r[0] == "0") {
        rows.push(("untrained (epoch 0)".to_string(), first));
    }
    if let Some(b) = best_row(table, cfg.select_on) {
        rows.push((format!("best: checkpoint_best, {}", cfg.select_on.rule()), &table.rows[b]));
    }
    if let Some(l) = final_row(table) {
        rows.push(("final: last evaluated epoch".to_string(), &table.rows[l]));
    }
    let mut body = format!(
        "<h1>pads run: {}</h1><p>{} epochs of {} planned; sampling <b>{}</b>, loss {}, arch {}, dataset {}; {} PADS policy updates.</p>",
        escape(&run.root.display().to_string()),
        table.rows.iter().filter(|r| r[0] != "0").count(),
        cfg.n_epochs,
        cfg.sampling.as_str(),
        cfg.loss.as_str(),
        cfg.arch.as_str(),
        cfg.dataset.as_str(),
        progression.len()
    );
    body.push_str(&format!(
        "<h2>Test metrics</h2><p>The best row is the epoch checkpoint_best.safetensors holds, chosen by the {} (--select-on {}); the final row is the last evaluated epoch.</p>",
        cfg.select_on.rule(),
        cfg.select_on.as_str().to_string()
    ));
    body.push_str(&metrics_table(table, &rows));
    for (file, caption) in [
        ("metrics.png", "Test metrics and training loss over epochs"),
        ("distribution.png", "PADS sampling distribution over policy updates"),
        ("distribution_log.png", "PADS sampling distribution, log scale (floored at 1e-6)"),
        ("policy.png", "PADS policy: reward metric, reward and policy loss per policy update"),
        ("retrieval.png", "Retrieval: test queries (left) and their nearest neighbours; green = same class, red = other class"),
    ] {
        if let Ok(bytes) = std::fs::read(run.path(file)) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            body.push_str(&format!("<h2>{caption}</h2><img alt=\"{file}\" src=\"data:image/png;base64,{b64}\">"));
        }
    }
    body.push_str(&skipped_section(run));
    body.push_str("<h2>All epochs</h2>");
    let all: Vec<(String, &Vec<String>)> = table.rows.iter().map(|r| (String::new(), r)).collect();
    body.push_str(&metrics_table(table, &all));
    body.push_str(&format!("<h2>Configuration</h2><pre>{}</pre>", escape(&cfg.to_toml())));
    let html = page("pads report", &body);
    crate::util::write_atomic(&run.path("report.html"), html.as_bytes())
}

/// "Skipped images (N)": every image the run did not use as it is (skipped_images.csv).
fn skipped_section(run: &RunDir) -> String {
    let records = crate::data::scan::read_records(&run.path("skipped_images.csv"));
    if records.is_empty() {
        return String::new();
    }
    let count = |split: &str| records.iter().filter(|r| r.split == split).count();
    let mut h = format!(
        "<h2>Skipped images ({})</h2><p>left out by the layout {}, replaced in training {}, dropped from validation {}, dropped from test {} (list: skipped_images.csv)</p><table><tr><th>split</th><th>action</th><th>file and reason</th></tr>",
        records.len(),
        count("layout"),
        count("train"),
        count("val"),
        count("test")
    );
    for r in &records {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}<br>{}</td></tr>",
            escape(&r.split),
            escape(&r.action),
            escape(&r.path.display().to_string()),
            escape(&r.reason)
        ));
    }
    h.push_str("</table>");
    h
}
