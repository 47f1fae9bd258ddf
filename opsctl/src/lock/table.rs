//! The lock's table, made on first use.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use super::{LockError, LockTable};

impl LockTable {
    /// Makes the table (on demand capacity, keyed by the environment) and
    /// waits for it to be ACTIVE; another caller making it at the same
    /// moment is fine.
    pub(super) async fn make_table(&self, client: &Client) -> Result<(), LockError> {
        let key = KeySchemaElement::builder()
            .attribute_name("environment")
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| self.aws("CreateTable", e.to_string()))?;
        let attribute = AttributeDefinition::builder()
            .attribute_name("environment")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| self.aws("CreateTable", e.to_string()))?;
        if let Err(e) = client
            .create_table()
            .table_name(&self.table)
            .key_schema(key)
            .attribute_definitions(attribute)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
        {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception())
            {
                return Err(self.aws("CreateTable", crate::aws::sdk_error(&e)));
            }
        }
        for _ in 0..60 {
            let table = client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.aws("DescribeTable", crate::aws::sdk_error(&e)))?;
            if table.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(self.aws(
            "DescribeTable",
            "the table was not ACTIVE after 60 s".to_owned(),
        ))
    }
}
