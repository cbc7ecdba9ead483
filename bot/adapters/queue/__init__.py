"""Event queues for the webhook server: SQLite (embedded) and Redis."""
