#!/usr/bin/env bash
# Build the inference image, push it to Amazon ECR and print its URI for the template's
# InferenceImageUri parameter.
#
#   inference_container/scripts/build_and_push.sh [REPOSITORY] [TAG]
#
# REPOSITORY defaults to immichvr-depth-inference, TAG to the current git commit (or "latest").
# The region comes from AWS_REGION / AWS_DEFAULT_REGION, else from the AWS CLI configuration.
# Progress goes to stderr; stdout carries only the image URI, so `URI=$(build_and_push.sh)` works.
set -euo pipefail

context="$(cd "$(dirname "$0")/.." && pwd)"
repository="${1:-immichvr-depth-inference}"
tag="${2:-$(git -C "$context" rev-parse --short HEAD 2>/dev/null || echo latest)}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
if [[ -z "$region" ]]; then
    echo "no AWS region: set AWS_REGION" >&2
    exit 1
fi

account="$(aws sts get-caller-identity --query Account --output text)"
registry="${account}.dkr.ecr.${region}.amazonaws.com"
image="${registry}/${repository}:${tag}"

if ! aws ecr describe-repositories --region "$region" --repository-names "$repository" >/dev/null 2>&1; then
    echo "creating ECR repository $repository" >&2
    aws ecr create-repository --region "$region" --repository-name "$repository" \
        --image-scanning-configuration scanOnPush=true >/dev/null
fi

echo "building $image" >&2
# SageMaker GPU instances are x86_64; building elsewhere (Apple silicon) must not produce arm64.
docker build --platform linux/amd64 -t "$image" "$context" >&2

aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >&2
docker push "$image" >&2

echo "InferenceImageUri=$image" >&2
echo "$image"
