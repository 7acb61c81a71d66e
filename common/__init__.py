"""Helpers both apps use: bulk inserts (db), transactional email rendering (emails), absolute links
(links), the embedded outbox email backend (outbox) and small text helpers (text)."""
