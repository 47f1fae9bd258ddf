//! The platform: any set of the six services started together.
//!
//! The `ticketing` binary runs all of them in one process on the local stack
//! (each on its own port, talking to the others over HTTP exactly as on
//! ECS), or a single one per ECS task. The end-to-end harness
//! (`ticketing-e2e`) starts the platform through [`start`] with ports set
//! to 0.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use ticketing_catalog::ServiceName;
use ticketing_config::{Secrets, Settings};
use ticketing_http::ServiceApp;
use ticketing_runtime::{RuntimeError, ServiceContext};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a starting service waits for PostgreSQL before giving up.
pub const MIGRATION_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("cannot listen on {host}:{port} for {service}: {source} (is another process using the port? change services.{key}.port)")]
    Bind {
        service: ServiceName,
        key: &'static str,
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("{service} failed to start: {source}")]
    Start {
        service: ServiceName,
        #[source]
        source: RuntimeError,
    },
    #[error("{service} stopped unexpectedly: {source}")]
    Stopped {
        service: ServiceName,
        #[source]
        source: std::io::Error,
    },
    #[error("a service task panicked or was cancelled: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A started service and where it listens.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub service: ServiceName,
    pub addr: SocketAddr,
}

/// The running platform.
pub struct Platform {
    pub listening: Vec<Listening>,
    /// The settings with every URL pointing at the real bound address.
    pub settings: Settings,
    shutdown: CancellationToken,
    tasks: JoinSet<(ServiceName, std::io::Result<()>)>,
    /// Relays, consumers and loops; they end when `shutdown` is cancelled.
    background: JoinSet<()>,
}

impl Platform {
    pub fn addr(&self, service: ServiceName) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.service == service)
            .map(|l| l.addr)
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until shutdown is requested or a service stops; then stops the
    /// rest gracefully and reports the first failure.
    pub async fn wait(mut self) -> Result<(), PlatformError> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (service, result) = joined?;
            if !self.shutdown.is_cancelled() {
                tracing::error!(%service, "service stopped; stopping the others");
                self.shutdown.cancel();
            }
            if let Err(source) = result {
                first_error.get_or_insert(PlatformError::Stopped { service, source });
            }
        }
        // The servers are down; background tasks see the same token.
        self.shutdown.cancel();
        while let Some(joined) = self.background.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a background task panicked");
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Requests shutdown and waits for every service to finish.
    pub async fn stop(self) -> Result<(), PlatformError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// A service's migrations; the services that publish or consume events get
/// the outbox and processed-events tables in their schema too.
fn migrator(service: ServiceName) -> Option<Migrator> {
    let own = match service {
        ServiceName::ApiGateway => return None,
        ServiceName::UserService => &user_service::MIGRATOR,
        ServiceName::QueueService => &queue_service::MIGRATOR,
        ServiceName::EventService => &event_service::MIGRATOR,
        ServiceName::ReservationService => &reservation_service::MIGRATOR,
        ServiceName::PaymentService => &payment_service::MIGRATOR,
    };
    // Publishers and consumers get the outbox and processed-events tables.
    Some(
        if service.publishes_events() || !service.consumes().is_empty() {
            ticketing_messaging::with_messaging(own)
        } else {
            clone(own)
        },
    )
}

fn clone(migrator: &Migrator) -> Migrator {
    Migrator {
        migrations: migrator.migrations.clone(),
        ..Migrator::DEFAULT
    }
}

fn build(ctx: &ServiceContext) -> Result<ServiceApp, RuntimeError> {
    match ctx.service {
        ServiceName::ApiGateway => api_gateway::build(ctx),
        ServiceName::UserService => user_service::build(ctx),
        ServiceName::EventService => event_service::build(ctx),
        ServiceName::QueueService => queue_service::build(ctx),
        ServiceName::ReservationService => reservation_service::build(ctx),
        ServiceName::PaymentService => payment_service::build(ctx),
    }
}

/// One service's whole router (its routes, probes, OpenAPI document,
/// problem+json fallbacks and middleware) with nothing started: no
/// migration, no background task, no connection (they are lazy), so a
/// request its routes answer before using a dependency (a missing token,
/// a malformed body, an unknown path) is answered with no stack running.
/// For in-process tests through `tower::ServiceExt::oneshot`.
pub fn router(
    service: ServiceName,
    settings: Settings,
    secrets: Secrets,
) -> Result<axum::Router, PlatformError> {
    let start = |source| PlatformError::Start { service, source };
    let ctx = ServiceContext::new(service, settings, secrets).map_err(start)?;
    let mut app = build(&ctx).map_err(start)?;
    // Dropped unstarted: the relays and consumers are futures until spawned.
    app.background.clear();
    Ok(ticketing_http::service_router(app))
}

/// Applies every service's migrations to its own schema.
pub async fn migrate_all(
    settings: &Settings,
    secrets: &Secrets,
    services: &[ServiceName],
) -> Result<(), PlatformError> {
    for &service in services {
        let ctx = ServiceContext::new(service, settings.clone(), secrets.clone())
            .map_err(|source| PlatformError::Start { service, source })?;
        migrate(&ctx).await?;
    }
    Ok(())
}

/// Applies one service's migrations through its own context's pool.
async fn migrate(ctx: &ServiceContext) -> Result<(), PlatformError> {
    let service = ctx.service;
    let Some(migrator) = migrator(service) else {
        return Ok(());
    };
    ctx.migrate(&migrator, MIGRATION_WAIT)
        .await
        .map_err(|source| PlatformError::Start { service, source })
}

/// Binds, migrates, builds and serves `services`. Ports of 0 are replaced by
/// the bound ones in the returned settings, so the gateway reaches services
/// started in the same call.
pub async fn start(
    mut settings: Settings,
    secrets: Secrets,
    services: &[ServiceName],
) -> Result<Platform, PlatformError> {
    let mut wanted: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| services.contains(s))
        .collect();
    wanted.dedup();

    // Bind first: then every URL is known before anything is built.
    let mut listeners: Vec<(ServiceName, TcpListener)> = Vec::new();
    let host = settings.services.bind_host.clone();
    for &service in &wanted {
        let port = settings.services.endpoint(service).port;
        let bind_error = |source| PlatformError::Bind {
            service,
            key: service.config_key(),
            host: host.clone(),
            port,
            source,
        };
        let listener = ticketing_http::bind(&host, port)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        if port == 0 {
            let endpoint = settings.services.endpoint_mut(service);
            endpoint.port = addr.port();
            if let Ok(url) = url::Url::parse(&format!("http://{addr}")) {
                endpoint.url = url;
            }
        }
        listeners.push((service, listener));
    }

    let shutdown = CancellationToken::new();
    // The gateway reaches the services started here through their routers
    // (`CoLocated`), set once every router is built; until then, and for a
    // service not started here, over HTTP.
    let co_located = ticketing_http::CoLocated::default();
    // One context (and so one pool) per service, for its migrations and then
    // for serving.
    let mut contexts = Vec::new();
    for (service, listener) in listeners {
        let ctx = ServiceContext::new(service, settings.clone(), secrets.clone())
            .map_err(|source| PlatformError::Start { service, source })?
            .with_shutdown(shutdown.child_token())
            .with_co_located(co_located.clone());
        migrate(&ctx).await?;
        ctx.warm_pool();
        contexts.push((ctx, listener));
    }

    let mut tasks = JoinSet::new();
    let mut background = JoinSet::new();
    let mut listening = Vec::new();
    let mut routers = std::collections::HashMap::new();
    for (ctx, listener) in contexts {
        let service = ctx.service;
        let mut app: ServiceApp =
            build(&ctx).map_err(|source| PlatformError::Start { service, source })?;
        for (name, task) in std::mem::take(&mut app.background) {
            tracing::debug!(%service, task = name, "background task started");
            background.spawn(task);
        }
        let addr = listener
            .local_addr()
            .map_err(|source| PlatformError::Stopped { service, source })?;
        let router = ticketing_http::service_router(app);
        if service != ServiceName::ApiGateway {
            routers.insert(service, router.clone());
        }
        let token = shutdown.clone();
        tasks.spawn(async move {
            let result = ticketing_http::serve(listener, router, token).await;
            (service, result)
        });
        tracing::info!(%service, %addr, "listening");
        listening.push(Listening { service, addr });
    }
    co_located.set(routers);
    Ok(Platform {
        listening,
        settings,
        shutdown,
        tasks,
        background,
    })
}
