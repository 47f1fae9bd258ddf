//! The platform's integration tests, one binary (cargo's testsuite layout).
//! `fast` needs no stack (the binary's configuration errors, every
//! service's router in process); the rest run the services on the local
//! stack, through the gateway.

/// The fast tier: needs no stack; `infra/local/test.sh` runs it first.
mod fast {
    mod cli;
    mod routers;
}
mod admissions;
mod api_fuzz;
mod booking;
mod containers;
mod contention;
mod crash_recovery;
mod demo;
mod gateway_paths;
mod lost_webhook;
mod platform;
mod refunded_outside;
mod seat_map_cache;
mod second_payment;
mod waiting_room;
mod webhooks;
