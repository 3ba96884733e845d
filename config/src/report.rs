//! The settings of the weekly risk report (`[report]`) and of the SMTP
//! server it is mailed through (`[smtp]`), e.g.
//! `SALESGUARD_SMTP__HOST=mail.example.com`, `SALESGUARD_REPORT__LANGUAGE=en`.
use std::str::FromStr;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay or mail catcher only).
    None,
    /// Plain connection upgraded with STARTTLS (required, never downgraded).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// The SMTP server the reports are sent through.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// The sender, e.g. `Salesguard <risk@example.com>`.
    pub from: String,
    pub tls: SmtpTls,
    /// Sign-in to the server, if it wants one (both or neither).
    pub username: Option<String>,
    /// Never logged.
    pub password: Option<String>,
    /// A connection or command slower than this fails the attempt.
    pub timeout_secs: u64,
    /// The first retry of a failed delivery waits this long; every further
    /// one twice as long as the one before (at most an hour).
    pub retry_base_secs: u64,
    /// Attempts before a delivery is given up as FAILED (it stays listed,
    /// with its last error, and `salesguard report weekly --now` tries it
    /// again).
    pub max_attempts: i32,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 1025,
            from: "Salesguard <salesguard@localhost>".into(),
            tls: SmtpTls::None,
            username: None,
            password: None,
            timeout_secs: 30,
            retry_base_secs: 60,
            max_attempts: 8,
        }
    }
}

impl std::fmt::Debug for SmtpSettings {
    // The password is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.host.trim().is_empty() {
            bail!("smtp.host must not be empty");
        }
        if self.port == 0 {
            bail!("smtp.port must be between 1 and 65535");
        }
        let from = self.from.trim();
        let addr = match (from.rfind('<'), from.rfind('>')) {
            (Some(a), Some(b)) if a < b => &from[a + 1..b],
            _ => from,
        };
        if !addr.contains('@') || addr.contains(char::is_whitespace) {
            bail!("smtp.from must be an e-mail address (e.g. `Salesguard <risk@example.com>`), got `{from}`");
        }
        if self.username.is_some() != self.password.is_some() {
            bail!("smtp.username and smtp.password go together");
        }
        if self.timeout_secs == 0 {
            bail!("smtp.timeout_secs must be at least 1");
        }
        if self.retry_base_secs == 0 {
            bail!("smtp.retry_base_secs must be at least 1");
        }
        if !(1..=100).contains(&self.max_attempts) {
            bail!("smtp.max_attempts must be between 1 and 100");
        }
        Ok(())
    }
}

/// The language of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum ReportLanguage {
    /// Simplified Chinese (the default).
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl ReportLanguage {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportLanguage::ZhCn => "zh-CN",
            ReportLanguage::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<ReportLanguage> {
        match s {
            "zh-CN" => Some(ReportLanguage::ZhCn),
            "en" => Some(ReportLanguage::En),
            _ => None,
        }
    }
}

/// The weekly risk report for managers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    /// Whether the worker builds and mails the report on its schedule.
    pub enabled: bool,
    /// When (cron, seconds first, business time zone); default Monday
    /// 08:00. Each run reports on the last complete week (Monday–Sunday).
    pub cron: String,
    /// `zh-CN` (default) or `en`.
    pub language: ReportLanguage,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            enabled: true,
            cron: "0 0 8 * * Mon".into(),
            language: ReportLanguage::ZhCn,
        }
    }
}

impl ReportSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = cron::Schedule::from_str(self.cron.trim()) {
            bail!(
                "report.cron `{}` is not a cron expression (seconds first): {e}",
                self.cron
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_fail() {
        assert!(SmtpSettings::default().validate().is_ok());
        assert!(ReportSettings::default().validate().is_ok());
        let bad = SmtpSettings {
            from: "nobody".into(),
            ..SmtpSettings::default()
        };
        assert!(bad.validate().is_err());
        let half = SmtpSettings {
            username: Some("u".into()),
            ..SmtpSettings::default()
        };
        assert!(half.validate().is_err());
        let cron = ReportSettings {
            cron: "every monday".into(),
            ..ReportSettings::default()
        };
        assert!(cron.validate().is_err());
    }

    #[test]
    fn the_password_is_not_printed() {
        let s = SmtpSettings {
            username: Some("u".into()),
            password: Some("s3cret".into()),
            ..SmtpSettings::default()
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
