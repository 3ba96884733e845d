//! The HTTP server: GraphQL (POST), GraphiQL (GET, development mode),
//! graphql-ws subscriptions, `/healthz` and `/readyz`.
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::auth::actor_from_token;
use crate::graphql::documents::Documents;
use crate::graphql::{self, AppSchema};
use salesguard_config::Mode;

/// The raw bearer token of the request (for sign-out).
pub struct BearerToken(pub String);

#[derive(Clone)]
struct Http {
    app: AppState,
    schema: AppSchema,
    /// Parsed documents by text (`graphql::documents`).
    documents: Arc<Documents>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_owned())
}

fn unauthenticated(message: &str) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": "UNAUTHENTICATED" } }]
    });
    (StatusCode::OK, Json(body)).into_response()
}

async fn graphql_post(State(h): State<Http>, headers: HeaderMap, req: GraphQLRequest) -> Response {
    let mut req = req.into_inner();
    if let Some(token) = bearer(&headers) {
        match actor_from_token(&h.app, &token).await {
            Ok(Some(actor)) => {
                req = req.data(actor).data(BearerToken(token));
            }
            Ok(None) => return unauthenticated("invalid or expired token"),
            Err(e) => {
                tracing::error!(error = ?e, "token lookup failed");
                let body = serde_json::json!({
                    "data": null,
                    "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL" } }]
                });
                return (StatusCode::OK, Json(body)).into_response();
            }
        }
    }
    h.documents.prepare(&mut req);
    let req = graphql::loaders::attach(req, &h.app.db.read, h.app.settings.loader_window())
        .data(crate::idempotency::OrderOut::default());
    GraphQLResponse::from(h.schema.execute(req).await).into_response()
}

async fn graphiql(State(h): State<Http>) -> Response {
    if h.app.settings.mode == Mode::Production {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
    .into_response()
}

async fn ws(
    State(h): State<Http>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let app = h.app.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, h.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("token")
                        .and_then(|t| t.as_str())
                        .map(str::to_owned)
                        .or_else(|| {
                            payload
                                .get("Authorization")
                                .and_then(|t| t.as_str())
                                .and_then(|t| t.strip_prefix("Bearer "))
                                .map(str::to_owned)
                        })
                        .ok_or_else(|| async_graphql::Error::new("token required"))?;
                    let actor = actor_from_token(&app, &token)
                        .await
                        .map_err(|_| async_graphql::Error::new("internal error"))?
                        .ok_or_else(|| async_graphql::Error::new("invalid or expired token"))?;
                    let mut data = Data::default();
                    data.insert(actor);
                    graphql::loaders::insert(&mut data, &app.db.read, app.settings.loader_window());
                    Ok(data)
                })
                .serve()
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Http>) -> Response {
    match h.app.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

pub fn router(app: AppState) -> Router {
    let schema = graphql::build(Some(app.clone()), app.settings.mode);
    let timeout = Duration::from_secs(app.settings.request_timeout_secs);
    let h = Http {
        app,
        schema,
        documents: Arc::default(),
    };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql_post))
        .route("/graphql/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::reports::http::router(h.app.clone()))
        .merge(crate::export::routes(h.app.clone()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(h)
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    app: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Pushes the risk signals the worker raises to the subscriptions of
    // this process, for as long as it serves.
    let feed = crate::risk_feed::spawn(app.clone());
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await;
    feed.abort();
    served?;
    Ok(())
}
