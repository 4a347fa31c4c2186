"""Health checks: ``GET /v1/health`` and Appwrite's ``/v1/health/*`` for what nib runs on
(checks.py: each check as plain values; routes.py: their HTTP side)."""
