//! Cheaper workflow steps:
//!
//! - `directory_version`: a number every change of who is responsible for
//!   what moves on (users' position, activity or scope, their regions, the
//!   region tree), kept by triggers so that no writer (the API, the CLI, a
//!   bulk load, a hand-written statement) can forget it. A step reads it with
//!   its order and takes the people to copy in from a cache of that version
//!   (`api::directory`), instead of walking the region tree and the users on
//!   every step.
//! - Notifications no longer have foreign keys. Each key check locked the
//!   user's row (`FOR KEY SHARE`), a write to a hot row on every step; users
//!   and orders are never deleted, and a notification is written only by a
//!   step that has just read both.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose changes move `directory_version` on, with the columns
/// of an update that do (`None`: any update).
const WATCHED: [(&str, Option<&str>); 3] = [
    ("users", Some("position, active, global_scope")),
    ("user_regions", None),
    ("regions", None),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let pg = manager.get_database_backend() == DbBackend::Postgres;
        let mut ddl: Vec<String> = vec![
            "CREATE TABLE directory_version (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                version BIGINT NOT NULL
            )"
            .into(),
            "INSERT INTO directory_version (id, version) VALUES (1, 1)".into(),
        ];
        let bump = "UPDATE directory_version SET version = version + 1 WHERE id = 1";
        if pg {
            ddl.push(format!(
                "CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN {bump}; RETURN NULL; END $$"
            ));
            for (table, cols) in WATCHED {
                let update = cols.map_or("UPDATE".to_owned(), |c| format!("UPDATE OF {c}"));
                ddl.push(format!(
                    "CREATE TRIGGER {table}_directory AFTER INSERT OR DELETE OR {update} \
                     ON {table} FOR EACH STATEMENT EXECUTE FUNCTION directory_changed()"
                ));
            }
            ddl.push(
                "ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_user_id_fkey, \
                 DROP CONSTRAINT IF EXISTS notifications_order_id_fkey"
                    .into(),
            );
        } else {
            for (table, cols) in WATCHED {
                let update = cols.map_or("UPDATE".to_owned(), |c| format!("UPDATE OF {c}"));
                for (name, event) in [("ins", "INSERT"), ("del", "DELETE"), ("upd", &update)] {
                    ddl.push(format!(
                        "CREATE TRIGGER {table}_directory_{name} AFTER {event} ON {table} \
                         BEGIN {bump}; END"
                    ));
                }
            }
            // SQLite drops a foreign key by building the table again.
            ddl.extend(
                [
                    "CREATE TABLE notifications_new (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        user_id BIGINT NOT NULL,
                        order_id BIGINT NULL,
                        kind TEXT NOT NULL,
                        message TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        read_at TEXT NULL
                    )",
                    "INSERT INTO notifications_new (id, user_id, order_id, kind, message, created_at, read_at)
                     SELECT id, user_id, order_id, kind, message, created_at, read_at FROM notifications",
                    "DROP TABLE notifications",
                    "ALTER TABLE notifications_new RENAME TO notifications",
                    "CREATE INDEX notifications_user ON notifications(user_id, id)",
                ]
                .map(String::from),
            );
        }
        for d in ddl {
            conn.execute_unprepared(&d).await?;
        }
        Ok(())
    }
}
