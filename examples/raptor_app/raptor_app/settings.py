"""Shared constants, imported by the blueprints."""

API_PREFIX = "/api"
INTERNAL_PREFIX = "/internal"
# A prefix that was copied from the Console service, where /api is *not* added for you.
BETA_DIGEST_PREFIX = f"{API_PREFIX}/internal/beta-digest"
