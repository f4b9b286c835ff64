//! The baseline of the ingest benchmark: an axum handler that reads the body of
//! `POST /api/event` and answers 202, doing nothing else. What Leadsment's own endpoint costs
//! is measured against this on the same machine in the same run (see BENCHMARKS.md).
//!
//! Usage: cargo run --release --example bare_ingest -- 127.0.0.1:18081

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let app = Router::new().route(
        "/api/event",
        post(|body: Bytes| async move {
            std::hint::black_box(body);
            StatusCode::ACCEPTED
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
