"""Digests in Django admin."""

from newsletter.admin import editions, ledger  # noqa: F401 (registers the model admins)
