"""WebAuthn challenge store as it was BEFORE the 2026-05-25 SEV-1 fix (PR #2728).

Kept verbatim from the runbook: the challenge is written to one worker's
copy-on-write copy of the dict and popped from another worker's, so every
signup failed under gunicorn --preload. The fixed version is
webauthn_service_redis.py.
"""

from __future__ import annotations

# webauthn_service.py (BEFORE the 2026-05-25 fix)
_challenge_store: dict[int, str] = {} # module-level, initialized once in master

def _store_challenge(user_id: int, challenge: str) -> None:
    _challenge_store[user_id] = challenge # writes to *this worker's* private copy  # expect: RPT101

def _pop_challenge(user_id: int) -> str | None:
    return _challenge_store.pop(user_id, None) # looks up in *this worker's* private copy  # expect: RPT101
