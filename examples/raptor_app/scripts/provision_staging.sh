#!/usr/bin/env bash
# Provision raxx-api-staging, following the runbook's env-bootstrap checklist.
set -euo pipefail
APP=raxx-api-staging

heroku config:set FLASK_ENV=production --app "$APP" >/dev/null 2>&1
# Echoes the secret key into the terminal (and the CI log, when CI runs this script):
heroku config:set SECRET_KEY="$(openssl rand -base64 48)" --app "$APP"  # expect: RPT601
heroku config:set WEBAUTHN_RP_ID=raxx-staging.pages.dev --app "$APP" >/dev/null 2>&1
