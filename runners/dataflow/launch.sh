#!/usr/bin/env bash
# Dataflow: build the streaming Flex Template and start a job from it, or run the batch pipeline from here.
#
#   runners/dataflow/launch.sh build-images          # worker SDK image + template launcher image (Cloud Build)
#   runners/dataflow/launch.sh build-template        # the template spec in the bucket
#   runners/dataflow/launch.sh stream [--update]     # a streaming job from the template (Pub/Sub in)
#   runners/dataflow/launch.sh batch DIR DATE        # `complaints batch` on Dataflow; waits, then commits
#
# Settings from the environment: PROJECT, REGION, BUCKET (gs://...), REPOSITORY (Artifact Registry, e.g.
# europe-docker.pkg.dev/PROJECT/complaints), PROFILE (default prod), VERSION (default 0.1.0).
# The batch job is run from this machine and not as a template: `complaints batch` commits the tables after
# the job's counts balance, which a template launcher (it exits once the job is submitted) cannot do.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (gs://...)}"
: "${REPOSITORY:?set REPOSITORY (Artifact Registry path)}"
PROFILE="${PROFILE:-prod}"
VERSION="${VERSION:-0.1.0}"
WORKER_IMAGE="$REPOSITORY/complaints-worker:$VERSION"
LAUNCHER_IMAGE="$REPOSITORY/complaints-stream-launcher:$VERSION"
TEMPLATE="$BUCKET/templates/complaints-stream-$VERSION.json"
DATAFLOW=(--project="$PROJECT" --region="$REGION" --temp_location="$BUCKET/tmp" --staging_location="$BUCKET/staging"
          --sdk_container_image="$WORKER_IMAGE")

case "${1:-}" in
  build-images)
    gcloud builds submit --project "$PROJECT" \
      --config <(printf 'steps:\n- name: gcr.io/cloud-builders/docker\n  args: [build, -f, runners/kubernetes/images/worker.Dockerfile, -t, %s, .]\nimages: [%s]\n' "$WORKER_IMAGE" "$WORKER_IMAGE") .
    gcloud builds submit --project "$PROJECT" \
      --config <(printf 'steps:\n- name: gcr.io/cloud-builders/docker\n  args: [build, -f, runners/dataflow/Dockerfile, -t, %s, .]\nimages: [%s]\n' "$LAUNCHER_IMAGE" "$LAUNCHER_IMAGE") .
    ;;
  build-template)
    gcloud dataflow flex-template build "$TEMPLATE" --project "$PROJECT" --image "$LAUNCHER_IMAGE" \
      --sdk-language PYTHON --metadata-file runners/dataflow/stream-metadata.json
    ;;
  stream)
    extra=()
    [[ "${2:-}" == "--update" ]] && extra=(--update)  # replace the running job's code, keep its state
    gcloud dataflow flex-template run "complaints-stream-$(date -u +%Y%m%d-%H%M%S)" --project "$PROJECT" \
      --region "$REGION" --template-file-gcs-location "$TEMPLATE" "${extra[@]}" \
      --parameters "output_dir=$BUCKET/complaints,pubsub_project=$PROJECT,profile=$PROFILE,sdk_container_image=$WORKER_IMAGE"
    ;;
  batch)
    : "${2:?batch needs the input directory (gs://...)}" "${3:?batch needs the date (YYYY-MM-DD)}"
    complaints batch --input-dir "$2" --date "$3" --output-dir "$BUCKET/complaints" --profile "$PROFILE" \
      --runner DataflowRunner "${DATAFLOW[@]}" --setup_file=./setup.py
    ;;
  *)
    sed -n '2,13p' "$0"; exit 2 ;;
esac
