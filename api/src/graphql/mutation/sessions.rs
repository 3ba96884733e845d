//! Sessions and notifications: sign in, sign out, mark notifications read.
use super::*;

/// The result of `sessionCreate`: a bearer token, or why the sign-in failed.
#[derive(SimpleObject)]
pub struct SessionPayload {
    /// Send as `Authorization: Bearer <token>`. Shown once; null when refused.
    pub token: Option<String>,
    /// When the token stops working (`token_ttl_minutes` after sign-in, 12 hours by
    /// default); null when refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// The signed-in user (null when refused).
    pub user: Option<User>,
    /// INVALID_CREDENTIALS for a wrong username or password or an inactive user;
    /// empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `notificationsMarkRead`.
#[derive(SimpleObject)]
pub struct NotificationsMarkReadPayload {
    /// How many notifications were marked read.
    pub marked: u64,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `sessionRevoke`.
#[derive(SimpleObject)]
pub struct SessionRevokePayload {
    /// True when the token was revoked.
    pub revoked: bool,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// Username and password to sign in with. After 5 failed sign-ins within 5
/// minutes, a username is refused (THROTTLED error) for the rest of the 5 minutes.
#[derive(InputObject, Serialize)]
pub struct SessionCreateInput {
    /// The user's sign-in name; spaces around it are ignored.
    pub username: String,
    /// The user's password.
    #[serde(skip_serializing)]
    pub password: String,
}

/// Which of the caller's own notifications to mark read.
#[derive(InputObject, Serialize, Clone)]
pub struct NotificationsMarkReadInput {
    /// The notifications to mark; all unread ones when omitted. Other users'
    /// notifications are ignored.
    pub ids: Option<Vec<ID>>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with username and password; returns a bearer token.
    async fn session_create(
        &self,
        ctx: &Context<'_>,
        input: SessionCreateInput,
    ) -> Result<SessionPayload, AppError> {
        let app = app(ctx)?;
        let db = &app.db;
        if app.logins.is_blocked(&input.username) {
            audit::record_refusal(
                db,
                None,
                "sessionCreate",
                "THROTTLED",
                None,
                &format!(
                    "sign-in as {} refused after repeated failures",
                    input.username.chars().take(64).collect::<String>()
                ),
            )
            .await;
            return Err(AppError::Throttled(
                "too many failed sign-ins for this username; try again in a few minutes".into(),
            ));
        }
        let found = user::Entity::find()
            .filter(user::Column::Username.eq(input.username.trim()))
            .one(&db.read)
            .await?;
        let hash = found
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| crate::auth::dummy_hash().to_owned());
        let password = input.password.clone();
        let ok =
            tokio::task::spawn_blocking(move || crate::auth::verify_password(&password, &hash))
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("password check failed: {e}")))?;
        let user = match found {
            Some(u) if ok && u.active => u,
            _ => {
                app.logins.failed(&input.username);
                audit::record_refusal(
                    db,
                    None,
                    "sessionCreate",
                    "INVALID_CREDENTIALS",
                    None,
                    &format!(
                        "failed sign-in as {}",
                        input.username.chars().take(64).collect::<String>()
                    ),
                )
                .await;
                return Ok(SessionPayload {
                    token: None,
                    expires_at: None,
                    user: None,
                    user_errors: vec![UserError::new(
                        UserErrorCode::InvalidCredentials,
                        "wrong username or password",
                    )],
                });
            }
        };
        app.logins.succeeded(&input.username);
        let txn = db.begin().await?;
        let (token, expires_at) =
            crate::auth::create_session(&txn, user.id, app.settings.token_ttl_minutes).await?;
        let session = session::Entity::find()
            .filter(session::Column::TokenHash.eq(crate::auth::token_hash(&token)))
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("session vanished")))?;
        audit::append(
            &txn,
            Entry {
                stream: audit::stream_for("Session", session.id),
                actor_id: Some(user.id),
                actor_position: Some(user.position.clone()),
                action: "sessionCreate".into(),
                outcome: "OK".into(),
                entity_type: Some("Session".into()),
                entity_id: Some(session.id),
                ..Entry::default()
            },
        )
        .await?;
        txn.commit().await?;
        Ok(SessionPayload {
            token: Some(token),
            expires_at: Some(expires_at),
            user: Some(User(user)),
            user_errors: vec![],
        })
    }

    /// Signs out: the current token stops working.
    async fn session_revoke(&self, ctx: &Context<'_>) -> Result<SessionRevokePayload, AppError> {
        let a = actor(ctx)?;
        let token = ctx
            .data_opt::<crate::http::BearerToken>()
            .ok_or(AppError::Unauthenticated)?;
        let hash = crate::auth::token_hash(&token.0);
        let cached = hash.clone();
        let res = exec(ctx, "sessionRevoke", &(), None, None, false, move |run| {
            let hash = hash.clone();
            Box::pin(async move {
                let s = session::Entity::find()
                    .filter(session::Column::TokenHash.eq(hash))
                    .one(&run.txn)
                    .await?
                    .ok_or_else(|| ServiceError::from(anyhow::anyhow!("session missing")))?;
                session::Entity::update_many()
                    .col_expr(session::Column::RevokedAt, Expr::value(run.now))
                    .filter(session::Column::Id.eq(s.id))
                    .exec(&run.txn)
                    .await?;
                run.audit(Entry::ok(&run.actor, "sessionRevoke", "Session", s.id))
                    .await?;
                Ok(true)
            })
        })
        .await?;
        let _ = a;
        // After the commit: a request in between may have cached the actor.
        app(ctx)?.actors.remove(&cached);
        Ok(match res {
            Ok(r) => SessionRevokePayload {
                revoked: r,
                user_errors: vec![],
            },
            Err(e) => SessionRevokePayload {
                revoked: false,
                user_errors: vec![e],
            },
        })
    }

    /// Mark notifications read.
    async fn notifications_mark_read(
        &self,
        ctx: &Context<'_>,
        input: NotificationsMarkReadInput,
    ) -> Result<NotificationsMarkReadPayload, AppError> {
        let mut wanted = None;
        if let Some(list) = &input.ids {
            let mut v = vec![];
            for id in list {
                match ids::decode("Notification", id, "ids") {
                    Ok(n) => v.push(n),
                    Err(_) => {
                        return Ok(NotificationsMarkReadPayload {
                            marked: 0,
                            user_errors: vec![UserError::new(
                                UserErrorCode::BadUserInput,
                                "not a Notification ID",
                            )
                            .at(&["ids"])],
                        })
                    }
                }
            }
            wanted = Some(v);
        }
        let key = input.idempotency_key.clone();
        let res = exec(
            ctx,
            "notificationsMarkRead",
            &input,
            key.as_deref(),
            None,
            false,
            move |run| {
                let wanted = wanted.clone();
                Box::pin(async move {
                    let mut q = notification::Entity::update_many()
                        .col_expr(notification::Column::ReadAt, Expr::value(run.now))
                        .filter(notification::Column::UserId.eq(run.actor.user_id))
                        .filter(notification::Column::ReadAt.is_null());
                    if let Some(v) = wanted {
                        q = q.filter(notification::Column::Id.is_in(v));
                    }
                    let n = q.exec(&run.txn).await?.rows_affected;
                    run.audit(
                        Entry {
                            stream: format!(
                                "notifications:{}:{}",
                                run.actor.user_id,
                                run.now.timestamp_micros()
                            ),
                            ..Entry::ok(
                                &run.actor,
                                "notificationsMarkRead",
                                "User",
                                run.actor.user_id,
                            )
                        }
                        .detail(format!("{n} marked read")),
                    )
                    .await?;
                    Ok(n)
                })
            },
        )
        .await?;
        Ok(match res {
            Ok(n) => NotificationsMarkReadPayload {
                marked: n,
                user_errors: vec![],
            },
            Err(e) => NotificationsMarkReadPayload {
                marked: 0,
                user_errors: vec![e],
            },
        })
    }
}
