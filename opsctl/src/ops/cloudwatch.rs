//! Reading metrics from CloudWatch: the one GetMetricData call every
//! operation that reads the platform's numbers goes through.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime;

use crate::error::OpsError;

/// One metric's statistic to read.
pub struct Stat<'a> {
    /// The query's id in the answer (lower case, as CloudWatch wants).
    pub id: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub stat: &'a str,
    pub dimensions: &'a [(&'a str, &'a str)],
    /// Seconds each value covers.
    pub period: i32,
}

/// Each stat's values from `start` to `end` (seconds since the epoch), in
/// the order asked.
pub async fn values(
    cw: &aws_sdk_cloudwatch::Client,
    stats: &[Stat<'_>],
    start: i64,
    end: i64,
) -> Result<Vec<Vec<f64>>, OpsError> {
    let mut request = cw
        .get_metric_data()
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(end));
    for s in stats {
        let mut metric = Metric::builder().namespace(s.namespace).metric_name(s.name);
        for (k, v) in s.dimensions {
            metric = metric.dimensions(Dimension::builder().name(*k).value(*v).build());
        }
        let stat = MetricStat::builder()
            .metric(metric.build())
            .period(s.period)
            .stat(s.stat)
            .build();
        request = request.metric_data_queries(
            MetricDataQuery::builder()
                .id(s.id)
                .metric_stat(stat)
                .return_data(true)
                .build(),
        );
    }
    let answer = request.send().await.map_err(|e| {
        let names: Vec<&str> = stats.iter().map(|s| s.name).collect();
        crate::aws::failed(
            &format!("CloudWatch GetMetricData ({}) failed", names.join(", ")),
            crate::aws::sdk_error(&e),
        )
    })?;
    Ok(stats
        .iter()
        .map(|s| {
            answer
                .metric_data_results()
                .iter()
                .filter(|r| r.id() == Some(s.id))
                .flat_map(|r| r.values().iter().copied())
                .collect()
        })
        .collect())
}
