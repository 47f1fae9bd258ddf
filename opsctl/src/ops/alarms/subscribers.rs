//! Who an alert topic reaches: its confirmed subscriptions. A subscription
//! SNS is still waiting on (an e-mail address that has not clicked the
//! link) has the ARN `PendingConfirmation` and receives nothing (SNS API
//! Reference, "ListSubscriptionsByTopic" and "Subscription").

use crate::error::OpsError;

/// Whether a listed subscription delivers: its ARN is a real one.
pub fn delivers(subscription_arn: &str) -> bool {
    subscription_arn.starts_with("arn:")
}

/// How many confirmed subscriptions the topic has.
pub async fn confirmed(sns: &aws_sdk_sns::Client, topic_arn: &str) -> Result<usize, OpsError> {
    let mut count = 0;
    let mut token = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(crate::aws::call("SNS ListSubscriptionsByTopic failed"))?;
        count += page
            .subscriptions()
            .iter()
            .filter(|s| s.subscription_arn().is_some_and(delivers))
            .count();
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(count);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pending_subscription_delivers_nothing() {
        assert!(!super::delivers("PendingConfirmation"));
        assert!(!super::delivers("Deleted"));
        assert!(super::delivers(
            "arn:aws:sns:us-east-1:123456789012:payment-alerts:0b2c"
        ));
    }
}
