//! The one end-to-end harness of the platform.
//!
//! * [`client`]: a customer's client of the gateway and of the PortOne
//!   sandbox (identity verification, sign-up, the waiting room, holds,
//!   payment), fallible, so the `ticketing demo` command uses it as is.
//! * [`demo`]: the demo booking `infra/local/up.sh` ends with.
//! * `stack` (feature `stack`, tests only): the whole platform on the real
//!   local stack with a sandbox and a test environment of the test's own,
//!   in-process or as the real `ticketing serve` process, with the helpers
//!   the platform's and opsctl's tests share.

pub mod client;
pub mod demo;
#[cfg(feature = "stack")]
pub mod stack;

pub use client::{Answer, Client, E2eError, NewPerformance};
#[cfg(feature = "stack")]
pub use stack::{Customer, ServeProcess, Stack};
