//! Subscriptions over graphql-ws; the token goes in `connection_init`
//! (`{"token": "..."}`).
use async_graphql::{Context, Subscription};
use futures::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use super::query::{actor, app};
use super::types::Notification;
use crate::error::AppError;

pub struct SubscriptionRoot;

#[Subscription]
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
}
