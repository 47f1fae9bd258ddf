-- When the sweep of orders whose webhook never came last asked PortOne.
ALTER TABLE payments ADD COLUMN checked_at TIMESTAMPTZ;
CREATE INDEX payments_ready ON payments (created_at) WHERE status = 'READY';
