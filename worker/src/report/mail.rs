//! The report as an e-mail (HTML with its charts inline, multipart/related
//! with `cid:` images, and the open signals as a CSV attachment), sent over
//! SMTP as `[smtp]` configures it.
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use salesguard_analytics::report::ReportImage;
use salesguard_config::report::{SmtpSettings, SmtpTls};
use salesguard_entities::model::weekly_report;

/// Builds the e-mail of `report` to `to`.
pub fn message(
    smtp: &SmtpSettings,
    report: &weekly_report::Model,
    to: &str,
) -> anyhow::Result<Message> {
    let from: Mailbox = smtp
        .from
        .parse()
        .with_context(|| format!("smtp.from `{}` is not a mailbox", smtp.from))?;
    let to: Mailbox = to
        .parse()
        .with_context(|| format!("`{to}` is not an e-mail address"))?;
    let images = ReportImage::parse_all(&report.images).context("report images")?;
    let mut related = MultiPart::related().singlepart(SinglePart::html(report.html.clone()));
    for img in images {
        let bytes = img.bytes().context("report image")?;
        let ct = ContentType::parse(&img.content_type).context("image content type")?;
        related = related.singlepart(Attachment::new_inline(img.cid.clone()).body(bytes, ct));
    }
    let csv_type = ContentType::parse("text/csv; charset=utf-8").context("csv content type")?;
    let csv = Attachment::new(format!("signals-{}.csv", report.week_start))
        .body(report.signals_csv.clone(), csv_type);
    let domain = smtp
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_owned())
        .unwrap_or_else(|| "salesguard".into());
    Message::builder()
        .from(from)
        .to(to)
        .subject(report.subject.clone())
        .message_id(Some(format!("<weekly-report-{}@{domain}>", report.id)))
        .multipart(MultiPart::mixed().multipart(related).singlepart(csv))
        .context("building the report e-mail")
}

/// The SMTP transport `[smtp]` describes.
pub fn transport(smtp: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(
            TlsParameters::new(smtp.host.clone()).context("TLS parameters for the SMTP server")?,
        ),
        SmtpTls::Tls => Tls::Wrapper(
            TlsParameters::new(smtp.host.clone()).context("TLS parameters for the SMTP server")?,
        ),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

/// Sends the report's e-mail; the error says what the server answered.
pub async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    smtp: &SmtpSettings,
    report: &weekly_report::Model,
    to: &str,
) -> anyhow::Result<()> {
    let msg = message(smtp, report, to)?;
    transport
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("SMTP {}:{}: {e}", smtp.host, smtp.port))
}
