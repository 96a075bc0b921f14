DROP TABLE incoming_webhooks;
