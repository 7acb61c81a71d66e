"""Helpers both apps use: bulk inserts (db), the Redis cache backend (cache), transactional email
rendering (emails), the embedded outbox email backend (outbox) and small text helpers (text)."""
