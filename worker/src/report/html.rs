//! The report as HTML (e-mail safe: inline styles, tables, charts as
//! `cid:` images) and its subject, in Chinese or English.
use std::fmt::Write;

use salesguard_config::report::ReportLanguage;
use salesguard_domain::risk::{RiskChangeType, RiskSeverity};

use super::build::{CheckpointKind, Ranked, ReportData};
use super::charts;

/// The content ids of the charts.
pub const CID_AR_DSO: &str = "ar-dso";
pub const CID_AGING: &str = "aging";
pub const CID_FORECAST: &str = "forecast";

/// The words of the report in one language.
struct Words {
    lang: &'static str,
    title: &'static str,
    company: &'static str,
    week: &'static str,
    to: &'static str,
    for_whom: &'static str,
    as_of: &'static str,
    headline: &'static str,
    figure: &'static str,
    this_week: &'static str,
    last_week: &'static str,
    vs_last: &'static str,
    quarter: &'static str,
    vs_quarter: &'static str,
    sales: &'static str,
    collections: &'static str,
    ar: &'static str,
    dso: &'static str,
    days: &'static str,
    quarter_note: &'static str,
    unavailable: &'static str,
    trend: &'static str,
    trend_legend: &'static str,
    aging: &'static str,
    aging_buckets: [&'static str; 6],
    signals: &'static str,
    open_now: &'static str,
    severities: [&'static str; 3],
    total: &'static str,
    changes: &'static str,
    new: &'static str,
    worse: &'static str,
    cleared: &'static str,
    no_changes: &'static str,
    top_signals: &'static str,
    no_signals: &'static str,
    col_severity: &'static str,
    col_subject: &'static str,
    col_summary: &'static str,
    col_since: &'static str,
    worst_agents: &'static str,
    worst_people: &'static str,
    col_agent: &'static str,
    col_person: &'static str,
    col_region: &'static str,
    col_signals: &'static str,
    col_ar: &'static str,
    col_credit: &'static str,
    nobody: &'static str,
    forecast: &'static str,
    forecast_note: &'static str,
    col_wape: &'static str,
    col_bias: &'static str,
    forecast_legend: [&'static str; 2],
    no_forecasts: &'static str,
    checkpoints: &'static str,
    checkpoints_note: &'static str,
    nothing_to_decide: &'static str,
    col_ref: &'static str,
    col_party: &'static str,
    col_amount: &'static str,
    col_detail: &'static str,
    cp_titles: [&'static str; 5],
    cp_details: [&'static str; 5],
    attachment: &'static str,
    footer: &'static str,
}

const ZH: Words = Words {
    lang: "zh-CN",
    title: "每周风险报告",
    company: "全公司",
    week: "报告周",
    to: "至",
    for_whom: "收件人",
    as_of: "信号与检查点截至",
    headline: "本周关键指标",
    figure: "指标",
    this_week: "本周",
    last_week: "上周",
    vs_last: "较上周",
    quarter: "近一季度（13 周）",
    vs_quarter: "较季度",
    sales: "销售额（元）",
    collections: "回款（元）",
    ar: "应收账款（元，周末）",
    dso: "应收账款周转天数 DSO（天）",
    days: "天",
    quarter_note: "销售额与回款比较近 13 周的周平均值；应收账款与 DSO 比较近 13 个周末的平均值。",
    unavailable: "指标引擎暂不可用，部分数字缺失：",
    trend: "应收账款与 DSO 趋势（近 13 周，每周末）",
    trend_legend: "上图：应收账款（元）；下图：DSO（天）。",
    aging: "应收账款账龄（周末，按逾期天数）",
    aging_buckets: ["未到期", "逾期 1–30 天", "31–60 天", "61–90 天", "91–120 天", "120 天以上"],
    signals: "风险信号",
    open_now: "当前未关闭的信号",
    severities: ["关注", "警告", "严重"],
    total: "合计",
    changes: "本周变化",
    new: "新增",
    worse: "升级",
    cleared: "已解除",
    no_changes: "本周没有新增、升级或解除的信号。",
    top_signals: "最严重的未关闭信号",
    no_signals: "没有未关闭的风险信号。",
    col_severity: "级别",
    col_subject: "对象",
    col_summary: "说明",
    col_since: "发出时间",
    worst_agents: "风险最高的代理商",
    worst_people: "风险最高的销售人员",
    col_agent: "代理商",
    col_person: "销售人员",
    col_region: "区域",
    col_signals: "信号（严重/警告/关注）",
    col_ar: "应收账款（元）",
    col_credit: "信用额度（元）",
    nobody: "无。",
    forecast: "预测准确度（按区域）",
    forecast_note: "报告周所在月之前的 6 个完整月：WAPE = Σ|实际−预测| / Σ实际；偏差 = Σ(预测−实际) / Σ实际（正数表示预测偏高）。",
    col_wape: "WAPE",
    col_bias: "偏差",
    forecast_legend: ["预测数量", "实际销量"],
    no_forecasts: "这段时间没有预测数据。",
    checkpoints: "需要决策的风险检查点（SPEC S2）",
    checkpoints_note: "以下事项需要您决定或跟进。",
    nothing_to_decide: "没有需要决策的事项。",
    col_ref: "单据 / 对象",
    col_party: "代理商 / 说明",
    col_amount: "金额（元）",
    col_detail: "详情",
    cp_titles: [
        "等待审批超过 2 天的合同",
        "先发货例外（尚未使用）",
        "逾期应收账款",
        "应收账款达到信用额度 90% 的代理商",
        "严重级别的未关闭信号",
    ],
    cp_details: ["提交于", "有效期至", "到期日", "额度使用率", "发出"],
    attachment: "附件 CSV 列出全部未关闭的风险信号。",
    footer: "本报告由 Salesguard 自动生成。指标定义见 docs/signals.md。",
};

const EN: Words = Words {
    lang: "en",
    title: "Weekly risk report",
    company: "whole company",
    week: "Week",
    to: "to",
    for_whom: "For",
    as_of: "Signals and check-points as of",
    headline: "The week in figures",
    figure: "Figure",
    this_week: "This week",
    last_week: "Last week",
    vs_last: "vs last week",
    quarter: "Last quarter (13 weeks)",
    vs_quarter: "vs quarter",
    sales: "Sales (yuan)",
    collections: "Collections (yuan)",
    ar: "Receivables (yuan, week end)",
    dso: "Days sales outstanding (days)",
    days: "days",
    quarter_note: "Sales and collections are compared with the weekly average of the 13 weeks before; receivables and DSO with the average of the 13 week ends before.",
    unavailable: "The metrics engine did not answer; some figures are missing: ",
    trend: "Receivables and DSO, last 13 week ends",
    trend_legend: "Top: receivables (yuan); bottom: DSO (days).",
    aging: "Receivables aging at the week's end (days past due)",
    aging_buckets: ["not due", "1–30 days", "31–60", "61–90", "91–120", "over 120"],
    signals: "Risk signals",
    open_now: "Open signals",
    severities: ["Watch", "Warning", "Critical"],
    total: "Total",
    changes: "This week",
    new: "New",
    worse: "Worse",
    cleared: "Cleared",
    no_changes: "No signal was raised, escalated or cleared this week.",
    top_signals: "The worst open signals",
    no_signals: "No risk signal is open.",
    col_severity: "Severity",
    col_subject: "Subject",
    col_summary: "What",
    col_since: "Raised",
    worst_agents: "Agents most at risk",
    worst_people: "Salespeople most at risk",
    col_agent: "Agent",
    col_person: "Salesperson",
    col_region: "Region",
    col_signals: "Signals (critical/warning/watch)",
    col_ar: "Receivables (yuan)",
    col_credit: "Credit limit (yuan)",
    nobody: "None.",
    forecast: "Forecast accuracy by region",
    forecast_note: "The 6 complete months before the report's month: WAPE = Σ|actual−forecast| / Σactual; bias = Σ(forecast−actual) / Σactual (positive: forecasts too high).",
    col_wape: "WAPE",
    col_bias: "Bias",
    forecast_legend: ["forecast units", "units sold"],
    no_forecasts: "No forecasts in these months.",
    checkpoints: "Risk check-points that need a decision (SPEC S2)",
    checkpoints_note: "These need your decision or follow-up.",
    nothing_to_decide: "Nothing needs a decision.",
    col_ref: "Document / subject",
    col_party: "Agent / what",
    col_amount: "Amount (yuan)",
    col_detail: "Detail",
    cp_titles: [
        "Contracts waiting for approval for more than 2 days",
        "Shipments allowed before payment, not used yet",
        "Overdue receivables",
        "Agents at 90% or more of their credit limit",
        "Critical open signals",
    ],
    cp_details: ["submitted", "valid until", "due", "limit used", "raised"],
    attachment: "The attached CSV lists every open risk signal.",
    footer: "Written by Salesguard. The figures are defined in docs/signals.md.",
};

fn words(lang: ReportLanguage) -> &'static Words {
    match lang {
        ReportLanguage::ZhCn => &ZH,
        ReportLanguage::En => &EN,
    }
}

/// Escapes text for HTML.
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

/// Yuan with two decimals and thousands separators; "—" when missing.
pub fn yuan(fen: Option<i64>) -> String {
    match fen {
        None => "—".into(),
        Some(f) => salesguard_domain::Fen(f).grouped(),
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "—".into(),
    }
}

/// The change from `base` to `now` as a percentage, "—" when undefined.
fn pct(now: Option<f64>, base: Option<f64>) -> String {
    match (now, base) {
        (Some(n), Some(b)) if b.abs() > f64::EPSILON => {
            let p = (n - b) / b.abs() * 100.0;
            let color = if p > 0.5 {
                "#b00"
            } else if p < -0.5 {
                "#070"
            } else {
                "#555"
            };
            format!("<span style=\"color:{color}\">{p:+.1}%</span>")
        }
        _ => "—".into(),
    }
}

fn sev_word(w: &Words, s: &str) -> &'static str {
    match RiskSeverity::parse(s) {
        Some(RiskSeverity::Watch) => w.severities[0],
        Some(RiskSeverity::Warning) => w.severities[1],
        Some(RiskSeverity::Critical) => w.severities[2],
        None => "?",
    }
}

fn sev_color(s: &str) -> &'static str {
    match RiskSeverity::parse(s) {
        Some(RiskSeverity::Critical) => "#b00",
        Some(RiskSeverity::Warning) => "#d46b08",
        _ => "#8a7400",
    }
}

const TABLE: &str = "border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 14px 0";
const TH: &str = "text-align:left;border-bottom:2px solid #ccc;padding:4px 6px;background:#f5f5f5";
const TD: &str = "border-bottom:1px solid #eee;padding:4px 6px;vertical-align:top";
const TDR: &str =
    "border-bottom:1px solid #eee;padding:4px 6px;text-align:right;white-space:nowrap";

/// The subject of the report's e-mail.
pub fn subject(data: &ReportData, lang: ReportLanguage) -> String {
    let w = words(lang);
    let scope = scope_label(data, w);
    match lang {
        ReportLanguage::ZhCn => format!(
            "Salesguard {}：{} {} {}（{}）",
            w.title, data.week.start, w.to, data.week.end, scope
        ),
        ReportLanguage::En => format!(
            "Salesguard {}, {} to {} ({})",
            w.title.to_lowercase(),
            data.week.start,
            data.week.end,
            scope
        ),
    }
}

fn scope_label(data: &ReportData, w: &Words) -> String {
    if data.manager.all_regions {
        return w.company.to_owned();
    }
    data.manager
        .assigned
        .iter()
        .map(|r| r.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

fn ranked_table(out: &mut String, w: &Words, who: &str, rows: &[Ranked], agents: bool) {
    if rows.is_empty() {
        let _ = write!(out, "<p>{}</p>", w.nobody);
        return;
    }
    let _ = write!(
        out,
        "<table style=\"{TABLE}\"><tr><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th>{}</tr>",
        esc(who),
        w.col_region,
        w.col_signals,
        w.col_ar,
        if agents { format!("<th style=\"{TH}\">{}</th>", w.col_credit) } else { String::new() }
    );
    for r in rows {
        let _ = write!(
            out,
            "<tr><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TDR}\"><b style=\"color:#b00\">{}</b> / <span style=\"color:#d46b08\">{}</span> / {}</td><td style=\"{TDR}\">{}</td>{}</tr>",
            esc(&r.label),
            esc(&r.region),
            r.critical,
            r.warning,
            r.watch,
            yuan(Some(r.ar_fen)),
            if agents { format!("<td style=\"{TDR}\">{}</td>", yuan(r.credit_limit_fen)) } else { String::new() }
        );
    }
    out.push_str("</table>");
}

/// The HTML of the report; `charts` says which chart images exist.
pub fn render(data: &ReportData, lang: ReportLanguage, charts: &[&str]) -> String {
    let w = words(lang);
    let mut o = String::with_capacity(32 * 1024);
    header(&mut o, w, data, lang);
    headline(&mut o, w, data, charts);
    signals(&mut o, w, data);
    let _ = write!(o, "<h2 style=\"font-size:18px\">{}</h2>", w.worst_agents);
    ranked_table(&mut o, w, w.col_agent, &data.worst_agents, true);
    let _ = write!(o, "<h2 style=\"font-size:18px\">{}</h2>", w.worst_people);
    ranked_table(&mut o, w, w.col_person, &data.worst_salespeople, false);
    forecast(&mut o, w, data, charts);
    checkpoints(&mut o, w, data);
    let _ = writeln!(
        o,
        "<p style=\"font-size:12px;color:#666;border-top:1px solid #ddd;padding-top:8px\">{}<br>{}</p></body></html>",
        w.attachment, w.footer
    );
    o
}

/// The page's head, the title and, if any, why figures are missing.
fn header(o: &mut String, w: &Words, data: &ReportData, lang: ReportLanguage) {
    let f = &data.figures;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',Arial,sans-serif;color:#222;max-width:820px;margin:0 auto;padding:12px\">",
        w.lang,
        esc(&subject(data, lang))
    );
    let _ = write!(
        o,
        "<h1 style=\"font-size:22px;margin:0 0 4px 0\">{}</h1><p style=\"margin:0 0 12px 0;color:#555\">{}：{} {} {} · {}：{} ({}) · {}：<b>{}</b><br>{} {}</p>",
        w.title,
        w.week,
        data.week.start,
        w.to,
        data.week.end,
        w.for_whom,
        esc(&data.manager.user.display_name),
        esc(&data.manager.user.username),
        w.col_region,
        esc(&scope_label(data, w)),
        w.as_of,
        data.as_of
    );
    if let Some(e) = &f.metrics_error {
        let _ = write!(
            o,
            "<p style=\"background:#fff4e5;border:1px solid #f0c36d;padding:6px\">{}{}</p>",
            w.unavailable,
            esc(e)
        );
    }
}

/// The headline figures, the AR/DSO trend and the aging.
fn headline(o: &mut String, w: &Words, data: &ReportData, charts: &[&str]) {
    let f = &data.figures;
    let _ = write!(
        o,
        "<h2 style=\"font-size:18px\">{}</h2><table style=\"{TABLE}\"><tr><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>",
        w.headline, w.figure, w.this_week, w.last_week, w.vs_last, w.quarter, w.vs_quarter
    );
    let f64_of = |x: Option<i64>| x.map(|v| v as f64);
    let money_rows = [
        (
            w.sales,
            f.sales_fen,
            f.sales_last_week_fen,
            f.sales_quarter_avg_fen,
        ),
        (
            w.collections,
            f.collections_fen,
            f.collections_last_week_fen,
            f.collections_quarter_avg_fen,
        ),
        (w.ar, f.ar_fen, f.ar_last_week_fen, f.ar_quarter_avg_fen),
    ];
    for (name, now, last, q) in money_rows {
        let _ = write!(
            o,
            "<tr><td style=\"{TD}\">{name}</td><td style=\"{TDR}\"><b>{}</b></td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td></tr>",
            yuan(now),
            yuan(last),
            pct(f64_of(now), f64_of(last)),
            yuan(q),
            pct(f64_of(now), f64_of(q)),
        );
    }
    let _ = write!(
        o,
        "<tr><td style=\"{TD}\">{}</td><td style=\"{TDR}\"><b>{}</b></td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td></tr></table>",
        w.dso,
        num(f.dso, 1),
        num(f.dso_last_week, 1),
        pct(f.dso, f.dso_last_week),
        num(f.dso_quarter_avg, 1),
        pct(f.dso, f.dso_quarter_avg),
    );
    let _ = write!(
        o,
        "<p style=\"font-size:12px;color:#666\">{}</p>",
        w.quarter_note
    );
    if charts.contains(&CID_AR_DSO) {
        let _ = write!(
            o,
            "<h3 style=\"font-size:15px\">{}</h3><img src=\"cid:{CID_AR_DSO}\" alt=\"{}\" width=\"760\" style=\"max-width:100%\"><p style=\"font-size:12px;color:#666\"><span style=\"color:{}\">■</span> {}</p>",
            w.trend,
            w.trend,
            charts::css(charts::AR_COLOR),
            w.trend_legend
        );
    }
    let _ = write!(o, "<h3 style=\"font-size:15px\">{}</h3>", w.aging);
    if charts.contains(&CID_AGING) {
        let _ = write!(
            o,
            "<img src=\"cid:{CID_AGING}\" alt=\"{}\" width=\"760\" style=\"max-width:100%\">",
            w.aging
        );
    }
    let _ = write!(o, "<table style=\"{TABLE}\"><tr>");
    for (i, b) in w.aging_buckets.iter().enumerate() {
        let _ = write!(
            o,
            "<th style=\"{TH}\"><span style=\"color:{}\">■</span> {b} <span style=\"color:#888;font-weight:normal\">({})</span></th>",
            charts::aging_css(i),
            charts::AGING_LABELS[i]
        );
    }
    o.push_str("</tr><tr>");
    for v in &data.aging {
        let _ = write!(o, "<td style=\"{TDR}\">{}</td>", yuan(*v));
    }
    o.push_str("</tr></table>");
}

/// The signals: counts open now, the week's changes and the worst open.
fn signals(o: &mut String, w: &Words, data: &ReportData) {
    let f = &data.figures;
    let _ = write!(
        o,
        "<h2 style=\"font-size:18px\">{}</h2><table style=\"{TABLE}\"><tr><th style=\"{TH}\"></th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>\
         <tr><td style=\"{TD}\">{}</td><td style=\"{TDR}\"><b style=\"color:#b00\">{}</b></td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td></tr></table>",
        w.signals,
        w.severities[2],
        w.severities[1],
        w.severities[0],
        w.total,
        w.open_now,
        f.open_critical,
        f.open_warning,
        f.open_watch,
        f.open_critical + f.open_warning + f.open_watch
    );
    let _ = write!(
        o,
        "<h3 style=\"font-size:15px\">{}: {} {} · {} {} · {} {}</h3>",
        w.changes, w.new, f.new_signals, w.worse, f.escalated_signals, w.cleared, f.cleared_signals
    );
    if data.changes.is_empty() {
        let _ = write!(o, "<p>{}</p>", w.no_changes);
    } else {
        let _ = write!(
            o,
            "<table style=\"{TABLE}\"><tr><th style=\"{TH}\"></th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>",
            w.col_severity, w.col_subject, w.col_summary
        );
        for c in data.changes.iter().take(30) {
            let what = match c.change {
                RiskChangeType::Raised => w.new,
                RiskChangeType::Escalated => w.worse,
                RiskChangeType::Cleared => w.cleared,
                RiskChangeType::Deescalated => "",
            };
            let _ = write!(
                o,
                "<tr><td style=\"{TD}\">{what}</td><td style=\"{TD};color:{}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td></tr>",
                sev_color(&c.signal.severity),
                sev_word(w, &c.signal.severity),
                esc(&c.signal.subject_label),
                esc(&c.signal.summary)
            );
        }
        o.push_str("</table>");
    }
    let _ = write!(o, "<h3 style=\"font-size:15px\">{}</h3>", w.top_signals);
    if data.open_signals.is_empty() {
        let _ = write!(o, "<p>{}</p>", w.no_signals);
    } else {
        let _ = write!(
            o,
            "<table style=\"{TABLE}\"><tr><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>",
            w.col_severity, w.col_subject, w.col_summary, w.col_since
        );
        for s in data.open_signals.iter().take(10) {
            let _ = write!(
                o,
                "<tr><td style=\"{TD};color:{}\"><b>{}</b></td><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TD};white-space:nowrap\">{}</td></tr>",
                sev_color(&s.severity),
                sev_word(w, &s.severity),
                esc(&s.subject_label),
                esc(&s.summary),
                s.raised_at.with_timezone(&data.tz).date_naive()
            );
        }
        o.push_str("</table>");
    }
}

/// Forecast accuracy per region, and the forecast chart.
fn forecast(o: &mut String, w: &Words, data: &ReportData, charts: &[&str]) {
    let _ = write!(
        o,
        "<h2 style=\"font-size:18px\">{}</h2><p style=\"font-size:12px;color:#666\">{}</p>",
        w.forecast, w.forecast_note
    );
    if data.forecast_regions.is_empty() {
        let _ = write!(o, "<p>{}</p>", w.no_forecasts);
    } else {
        let _ = write!(
            o,
            "<table style=\"{TABLE}\"><tr><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>",
            w.col_region, w.col_wape, w.col_bias
        );
        for r in &data.forecast_regions {
            let _ = write!(
                o,
                "<tr><td style=\"{TD}\">{} ({})</td><td style=\"{TDR}\">{}</td><td style=\"{TDR}\">{}</td></tr>",
                esc(&r.name),
                esc(&r.code),
                r.wape.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into()),
                r.bias.map(|v| format!("{:+.1}%", v * 100.0)).unwrap_or_else(|| "—".into()),
            );
        }
        o.push_str("</table>");
    }
    if charts.contains(&CID_FORECAST) {
        let _ = write!(
            o,
            "<img src=\"cid:{CID_FORECAST}\" alt=\"{}\" width=\"760\" style=\"max-width:100%\"><p style=\"font-size:12px;color:#666\"><span style=\"color:{}\">■</span> {} &nbsp; <span style=\"color:{}\">■</span> {}</p>",
            w.forecast,
            charts::css(charts::FORECAST_COLOR),
            w.forecast_legend[0],
            charts::css(charts::ACTUAL_COLOR),
            w.forecast_legend[1]
        );
    }
}

/// The check-points that need a decision.
fn checkpoints(o: &mut String, w: &Words, data: &ReportData) {
    let _ = write!(o, "<h2 style=\"font-size:18px\">{}</h2>", w.checkpoints);
    if data.checkpoints.iter().all(|c| c.count == 0) {
        let _ = write!(o, "<p>{}</p>", w.nothing_to_decide);
    } else {
        let _ = write!(o, "<p>{}</p>", w.checkpoints_note);
    }
    for c in data.checkpoints.iter().filter(|c| c.count > 0) {
        let i = match c.kind {
            CheckpointKind::ApprovalWaiting => 0,
            CheckpointKind::ShipmentExceptions => 1,
            CheckpointKind::OverdueReceivables => 2,
            CheckpointKind::CreditLimit => 3,
            CheckpointKind::CriticalSignals => 4,
        };
        let _ = write!(
            o,
            "<h3 style=\"font-size:15px\">{}: {}{}</h3><table style=\"{TABLE}\"><tr><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th><th style=\"{TH}\">{}</th></tr>",
            w.cp_titles[i],
            c.count,
            c.amount_fen.map(|a| format!(" · {}", yuan(Some(a)))).unwrap_or_default(),
            w.col_ref,
            w.col_party,
            w.col_amount,
            w.col_detail
        );
        for it in &c.items {
            let _ = write!(
                o,
                "<tr><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TDR}\">{}</td><td style=\"{TD}\">{} {}{}</td></tr>",
                esc(&it.reference),
                esc(&it.party),
                it.amount_fen.map(|a| yuan(Some(a))).unwrap_or_default(),
                w.cp_details[i],
                esc(&it.detail),
                it.days.map(|d| format!(" ({d} {})", w.days)).unwrap_or_default()
            );
        }
        o.push_str("</table>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(yuan(Some(123456789)), "1,234,567.89");
        assert_eq!(yuan(Some(-5)), "-0.05");
        assert_eq!(yuan(None), "—");
        assert_eq!(esc("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
