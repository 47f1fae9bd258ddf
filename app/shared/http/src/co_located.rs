//! The services this same process serves, reachable without a socket.
//!
//! `ticketing serve` runs all six services in one process (the combined
//! layout, `ComputeLayout`); there the gateway hands a request to the
//! owning service's router directly instead of over loopback HTTP: the
//! same router, the same layers (request id, tracing span, the service's
//! own metrics), one TCP hop and one HTTP encode and parse fewer per
//! request. A service running alone (the split layout) has none, and the
//! gateway calls over HTTP as before.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use ticketing_catalog::ServiceName;

/// The routers of the services served by this process, known once all of
/// them are built; shared by every clone.
#[derive(Clone, Default)]
pub struct CoLocated(Arc<OnceLock<HashMap<ServiceName, Router>>>);

impl CoLocated {
    /// Records the routers; only the first call counts.
    pub fn set(&self, routers: HashMap<ServiceName, Router>) {
        let _ = self.0.set(routers);
    }

    /// The router of `service` when this process serves it.
    pub fn router(&self, service: ServiceName) -> Option<&Router> {
        self.0.get()?.get(&service)
    }
}

impl std::fmt::Debug for CoLocated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services: Vec<&str> = self
            .0
            .get()
            .map(|m| m.keys().map(|s| s.as_str()).collect())
            .unwrap_or_default();
        f.debug_tuple("CoLocated").field(&services).finish()
    }
}
