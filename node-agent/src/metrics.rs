//! Prometheus metrics of the agent (prefix `pgvip_agent_`), registered once at start-up and
//! updated from the agent loop and the announcer; served by `http` on `/metrics`.
//! Labels are fixed, low-cardinality strings (error categories, frame kinds).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// `category` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    /// `Error::category()`.
    pub category: String,
}

/// `kind` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `FrameKind::as_str()`.
    pub kind: String,
}

/// All metrics; cheap to clone (every metric is shared).
#[derive(Clone)]
pub struct Metrics {
    /// pgvip-owned addresses present on the node after the last reconcile.
    pub addresses_held: Gauge,
    /// Announcement frames sent, by kind.
    pub frames_sent: Family<KindLabel, Counter>,
    /// Errors by category (netlink_add, netlink_delete, netlink_dump, announce_send, ...).
    pub errors: Family<CategoryLabel, Counter>,
    /// Seconds from receiving a status change to the address configured.
    pub configure_seconds: Histogram,
    /// Seconds from receiving a status change to the first announcement sent.
    pub announce_seconds: Histogram,
    /// Times the agent removed everything because the API server stayed unreachable.
    pub fail_closed: Counter,
    /// Status reports written.
    pub reports_written: Counter,
    /// Addresses fenced on this node (TCP to them reset while the cloud still routes them here).
    pub fenced: Gauge,
    /// The registry the metrics live in.
    pub registry: Arc<Registry>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pgvip_agent");
        let addresses_held = Gauge::default();
        let frames_sent = Family::<KindLabel, Counter>::default();
        let errors = Family::<CategoryLabel, Counter>::default();
        // 100 µs .. ~3.3 s.
        let configure_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let announce_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let fail_closed = Counter::default();
        let reports_written = Counter::default();
        let fenced = Gauge::default();
        registry.register(
            "addresses_held",
            "pgvip-owned addresses configured on this node",
            addresses_held.clone(),
        );
        registry.register(
            "announcement_frames",
            "Gratuitous ARP / unsolicited NA frames sent",
            frames_sent.clone(),
        );
        registry.register("errors", "Errors by category", errors.clone());
        registry.register(
            "status_to_configured_seconds",
            "Time from receiving a status change to the address configured",
            configure_seconds.clone(),
        );
        registry.register(
            "status_to_announced_seconds",
            "Time from receiving a status change to the first announcement sent",
            announce_seconds.clone(),
        );
        registry.register(
            "fail_closed",
            "Times every address was removed because the API server was unreachable",
            fail_closed.clone(),
        );
        registry.register(
            "status_reports_written",
            "Node reports written to PostgresVip status",
            reports_written.clone(),
        );
        registry.register(
            "fenced_addresses",
            "VIP addresses whose TCP traffic this node resets while the cloud still routes them here",
            fenced.clone(),
        );
        Self {
            addresses_held,
            frames_sent,
            errors,
            configure_seconds,
            announce_seconds,
            fail_closed,
            reports_written,
            fenced,
            registry: Arc::new(registry),
        }
    }

    /// Counts one error of `category`.
    pub fn error(&self, category: &str) {
        self.errors
            .get_or_create(&CategoryLabel {
                category: category.to_string(),
            })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
