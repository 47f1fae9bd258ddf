//! The HTTP skeleton every service is built on.
//!
//! * [`ApiError`]: every error answer is `application/problem+json`
//!   (RFC 9457) with a message a person can act on.
//! * [`Json`]: a JSON extractor whose rejections become the same problem
//!   documents (malformed JSON, wrong types, missing fields, oversized bodies).
//! * [`service_router`]: adds `/health`, `/ready`, `/metrics`, request ids,
//!   tracing, HTTP metrics, a body limit and a problem+json fallback.
//! * [`serve`] and [`shutdown_signal`]: graceful shutdown on SIGTERM, which is
//!   how ECS stops a task.

pub mod auth;
pub mod client;
mod co_located;
mod extract;
mod problem;
mod server;

pub use auth::{AuthUser, Authenticator, Operator, Organiser};
pub use client::client_address;
pub use co_located::CoLocated;
pub use extract::{Json, Query};
pub use problem::{ApiError, PROBLEM_JSON};
pub use server::{
    bind, serve, service_router, shutdown_signal, BackgroundTask, ServiceApp, MAX_BODY_BYTES,
    REQUEST_ID_HEADER,
};
pub use ticketing_tokens::Role;
