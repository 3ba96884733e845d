//! Allocation of document numbers (SPEC S7). The counter row of a (type, day)
//! is incremented inside the business transaction: a rolled-back transaction
//! rolls its number back too, so numbers are gapless; concurrent creators
//! serialize on that one row (and only on it).
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use salesguard_domain::docnum::{business_day, format_number};
use salesguard_domain::DocType;

use crate::app::AppState;

pub async fn next_number<C: ConnectionTrait>(
    db: &C,
    app: &AppState,
    doc: DocType,
    at: DateTime<Utc>,
) -> Result<String, DbErr> {
    let day = business_day(at, app.tz);
    let day_key = day.format("%Y%m%d").to_string();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO doc_sequences (doc_type, business_day, last_value) VALUES ($1, $2, 1) \
             ON CONFLICT (doc_type, business_day) DO UPDATE SET last_value = doc_sequences.last_value + 1 \
             RETURNING last_value"
        }
        _ => {
            "INSERT INTO doc_sequences (doc_type, business_day, last_value) VALUES (?, ?, 1) \
             ON CONFLICT (doc_type, business_day) DO UPDATE SET last_value = doc_sequences.last_value + 1 \
             RETURNING last_value"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [doc.code().into(), day_key.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("doc_sequences".into()))?;
    let seq: i64 = row.try_get("", "last_value")?;
    Ok(format_number(&app.settings.company_code, day, doc, seq))
}
