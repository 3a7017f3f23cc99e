#!/usr/bin/env bash
# Create (or replace) the Cloud Scheduler job that launches the nightly scan Flex Template.
#   PROJECT=my-project REGION=us-central1 SA=scheduler@my-project.iam.gserviceaccount.com \
#     deploy/scheduler/create-job.sh
# Edit launch.json first: BUCKET, PROJECT, REGION and TAG placeholders.
set -euo pipefail
: "${PROJECT:?}" "${REGION:?}" "${SA:?}"
SCHEDULE="${SCHEDULE:-0 2 * * *}"   # 02:00 every night, in TIME_ZONE
TIME_ZONE="${TIME_ZONE:-Etc/UTC}"
HERE="$(cd "$(dirname "$0")" && pwd)"
gcloud scheduler jobs delete shelfscan-nightly --location="$REGION" --project="$PROJECT" --quiet 2>/dev/null || true
gcloud scheduler jobs create http shelfscan-nightly \
  --project="$PROJECT" --location="$REGION" \
  --schedule="$SCHEDULE" --time-zone="$TIME_ZONE" \
  --uri="https://dataflow.googleapis.com/v1b3/projects/${PROJECT}/locations/${REGION}/flexTemplates:launch" \
  --http-method=POST \
  --headers=Content-Type=application/json \
  --oauth-service-account-email="$SA" \
  --message-body-from-file="$HERE/launch.json"
