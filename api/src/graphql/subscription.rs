//! Subscriptions over graphql-ws; the token goes in `connection_init`
//! (`{"token": "..."}`).
use async_graphql::{Context, Subscription};
use futures::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use super::query::{actor, app};
use super::risk::RiskSignalEvent;
use super::types::Notification;
use crate::error::AppError;
use crate::risk::{self, RiskSeverity};

pub struct SubscriptionRoot;

/// Events pushed over graphql-ws at `/graphql/ws`; the bearer token goes in
/// `connection_init` as `{"token": "..."}`. Each subscriber gets only what
/// it may read.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The signed-in user's new notifications, as they are committed.
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Notification>, AppError> {
        let uid = actor(ctx)?.user_id;
        let rx = app(ctx)?.hub.subscribe();
        Ok(BroadcastStream::new(rx).filter_map(move |n| match n {
            Ok(n) if n.user_id == uid => Some(Notification(n)),
            _ => None,
        }))
    }

    /// Risk signals raised, or escalated, to `minSeverity` or higher in the
    /// subscriber's regions (company-wide signals for company-wide readers),
    /// within about a second of the worker recording them.
    async fn risk_signal_raised(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "super::enums::RiskSeverity::Warning",
            desc = "The lowest severity pushed (WARNING when omitted)."
        )]
        min_severity: super::enums::RiskSeverity,
    ) -> Result<impl Stream<Item = RiskSignalEvent>, AppError> {
        let min_severity = RiskSeverity::from(min_severity);
        let reader = actor(ctx)?.clone();
        let rx = app(ctx)?.risk_feed.subscribe();
        Ok(BroadcastStream::new(rx).filter_map(move |e| match e {
            Ok(e)
                if risk::visible(&reader, e.signal.region_id)
                    && RiskSeverity::parse(&e.change.severity)
                        .is_some_and(|s| s >= min_severity) =>
            {
                Some(RiskSignalEvent(e))
            }
            _ => None,
        }))
    }
}
