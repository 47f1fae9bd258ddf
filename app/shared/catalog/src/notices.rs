//! Customer notices: the flows a notice can concern, and the design's two
//! messages as named templates (`opsctl notice post --template ...`, the
//! Kafka DR and PortOne rollback runbooks).

/// The flows a notice can say are affected.
pub const FLOWS: [&str; 2] = ["booking", "payment"];

/// How long `GET /api/notices` may be served from cache (Redis, and the
/// `Cache-Control` it answers with): a posted or ended notice shows within
/// this many seconds.
pub const CACHE_SECONDS: u64 = 5;

/// A notice's severity.
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

/// A named notice the runbooks post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub name: &'static str,
    pub severity: &'static str,
    pub flows: &'static [&'static str],
    pub message_ko: &'static str,
    pub message_en: &'static str,
}

/// The Kafka recovery's notice (design: "일시적 예매 지연 발생, 복구 완료").
pub const BOOKING_DELAY: Template = Template {
    name: "booking-delay",
    severity: "warning",
    flows: &["booking"],
    message_ko: "일시적 예매 지연 발생, 복구 중입니다. 결제된 예매는 복구 후 자동으로 확정됩니다.",
    message_en: "Bookings are temporarily delayed and being recovered. Paid bookings will be confirmed automatically.",
};

/// The PortOne rollback's notice (design: "결제 일시 중단, 복구 중").
pub const PAYMENT_PAUSED: Template = Template {
    name: "payment-paused",
    severity: "critical",
    flows: &["payment"],
    message_ko: "결제 일시 중단, 복구 중입니다. 잠시 후 다시 시도해 주세요.",
    message_en: "Payments are paused while we recover. Please try again shortly.",
};

pub const TEMPLATES: [Template; 2] = [BOOKING_DELAY, PAYMENT_PAUSED];

/// The template named `name`.
pub fn template(name: &str) -> Option<Template> {
    TEMPLATES.into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_use_known_flows_and_severities() {
        for t in TEMPLATES {
            assert!(SEVERITIES.contains(&t.severity), "{}", t.name);
            assert!(t.flows.iter().all(|f| FLOWS.contains(f)), "{}", t.name);
            assert_eq!(template(t.name), Some(t));
        }
        assert_eq!(template("nope"), None);
    }
}
