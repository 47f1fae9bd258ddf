//! The API errors the payment service's routes and settlement share.

use ticketing_http::ApiError;
use ticketing_portone::PortOneError;

pub(crate) fn db_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |e| ApiError::internal(anyhow::Error::new(e).context(what))
}

pub(crate) fn portone_down(e: PortOneError) -> ApiError {
    ApiError::bad_gateway(
        "portone_unavailable",
        format!("PortOne could not be reached or refused the request: {e}; try again shortly"),
    )
}
