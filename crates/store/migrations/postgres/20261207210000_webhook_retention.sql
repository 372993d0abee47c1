-- Webhook retention (issue 19): old delivered and dead-lettered deliveries, then events
-- without deliveries, are pruned by age. These indexes keep the pruning passes (and the
-- cascade from an event to its deliveries) from scanning the tables.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
