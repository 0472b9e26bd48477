//! Serves the RealWorld API on `LISTEN` (default `127.0.0.1:8080`), with the
//! database and cache the environment names (see [`realworld::Config`]).

use realworld::{AppState, Config, router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let config = Config::from_env();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let state = AppState::connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, database = %config.database_url, redis = ?config.redis_url, "serving the RealWorld API under /api");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
