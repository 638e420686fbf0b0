#!/usr/bin/env bash
# Dataflow: build the Flex Templates (streaming and batch) and start jobs from them.
#
#   runners/dataflow/launch.sh build-images          # worker SDK image + both template launcher images (Cloud Build)
#   runners/dataflow/launch.sh build-template        # both template specs in the bucket
#   runners/dataflow/launch.sh stream [--update]     # a streaming job from its template (Pub/Sub in)
#   runners/dataflow/launch.sh batch DIR DATE        # a batch job from its template (gs:// DIR in); returns at once
#   runners/dataflow/launch.sh batch-here DIR DATE   # `complaints batch` on Dataflow from this machine; waits
#
# Settings from the environment: PROJECT, REGION, BUCKET (gs://...), REPOSITORY (Artifact Registry, e.g.
# europe-docker.pkg.dev/PROJECT/complaints), PROFILE (default prod), VERSION (default 0.1.0).
# A batch job commits by itself: its last step checks the balance and the quality guard, commits one snapshot per
# table and writes $BUCKET/complaints/_runs/RUN_ID.json. A run that is not committed fails the job (its manifest
# says why: refused, unbalanced, or a commit the catalog refused); `batch-here` exits 5 or 4 instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (gs://...)}"
: "${REPOSITORY:?set REPOSITORY (Artifact Registry path)}"
PROFILE="${PROFILE:-prod}"
VERSION="${VERSION:-0.1.0}"
WORKER_IMAGE="$REPOSITORY/complaints-worker:$VERSION"
DATAFLOW=(--project="$PROJECT" --region="$REGION" --temp_location="$BUCKET/tmp" --staging_location="$BUCKET/staging"
          --sdk_container_image="$WORKER_IMAGE")

launcher_image() { echo "$REPOSITORY/complaints-$1-launcher:$VERSION"; }
template() { echo "$BUCKET/templates/complaints-$1-$VERSION.json"; }
build() {  # build IMAGE with DOCKERFILE and extra docker build arguments on Cloud Build
  local image="$1" dockerfile="$2"; shift 2
  local args="[build, -f, $dockerfile, -t, $image"
  for arg in "$@"; do args="$args, $arg"; done
  gcloud builds submit --project "$PROJECT" \
    --config <(printf 'steps:\n- name: gcr.io/cloud-builders/docker\n  args: %s, .]\nimages: [%s]\n' "$args" "$image") .
}

case "${1:-}" in
  build-images)
    build "$WORKER_IMAGE" runners/kubernetes/images/worker.Dockerfile
    for kind in stream batch; do
      build "$(launcher_image "$kind")" runners/dataflow/Dockerfile --build-arg "TEMPLATE=$kind"
    done
    ;;
  build-template)
    for kind in stream batch; do
      gcloud dataflow flex-template build "$(template "$kind")" --project "$PROJECT" --image "$(launcher_image "$kind")" \
        --sdk-language PYTHON --metadata-file "runners/dataflow/$kind-metadata.json"
    done
    ;;
  stream)
    extra=()
    [[ "${2:-}" == "--update" ]] && extra=(--update)  # replace the running job's code, keep its state
    gcloud dataflow flex-template run "complaints-stream-$(date -u +%Y%m%d-%H%M%S)" --project "$PROJECT" \
      --region "$REGION" --template-file-gcs-location "$(template stream)" "${extra[@]}" \
      --parameters "output_dir=$BUCKET/complaints,pubsub_project=$PROJECT,profile=$PROFILE,sdk_container_image=$WORKER_IMAGE"
    ;;
  batch)
    : "${2:?batch needs the input directory (gs://...)}" "${3:?batch needs the date (YYYY-MM-DD)}"
    gcloud dataflow flex-template run "complaints-batch-${3//-/}-$(date -u +%H%M%S)" --project "$PROJECT" \
      --region "$REGION" --template-file-gcs-location "$(template batch)" \
      --parameters "input_dir=$2,date=$3,output_dir=$BUCKET/complaints,profile=$PROFILE,sdk_container_image=$WORKER_IMAGE"
    ;;
  batch-here)
    : "${2:?batch-here needs the input directory (gs://...)}" "${3:?batch-here needs the date (YYYY-MM-DD)}"
    complaints batch --input-dir "$2" --date "$3" --output-dir "$BUCKET/complaints" --profile "$PROFILE" \
      --runner DataflowRunner "${DATAFLOW[@]}" --setup_file=./setup.py
    ;;
  *)
    sed -n '2,15p' "$0"; exit 2 ;;
esac
