"""Package a Depth-Anything model as the ``model.tar.gz`` SageMaker unpacks into /opt/ml/model.

    python inference_container/scripts/package_model.py depth-anything/Depth-Anything-V2-Small-hf \
        --output model.tar.gz [--s3-uri s3://bucket/models/depth-anything-v2-small/]

SOURCE is a Hugging Face id or a directory made with ``save_pretrained``. The archive holds the model
(safetensors) and its image processor config at its root. With --s3-uri it is uploaded and the S3 URL
printed, ready for the template's ModelDataUrl parameter.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from transformers import AutoImageProcessor, AutoModelForDepthEstimation


def save_model(source: str, directory: Path) -> None:
    model = AutoModelForDepthEstimation.from_pretrained(source)
    model.save_pretrained(directory, safe_serialization=True)
    processor = AutoImageProcessor.from_pretrained(source)  # type: ignore[no-untyped-call]  # untyped upstream
    processor.save_pretrained(directory)


def write_archive(directory: Path, archive: Path) -> None:
    # Members at the archive's root: SageMaker extracts into /opt/ml/model, where config.json must be.
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=path.name)


def upload(archive: Path, s3_uri: str) -> str:
    """Upload to ``s3_uri`` (a key, or a prefix ending in /) and return the object's S3 URL."""
    import boto3  # only --s3-uri needs it; packaging alone works without AWS libraries

    parsed = urlparse(s3_uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"--s3-uri must look like s3://bucket/prefix/, not {s3_uri!r}")
    key = parsed.path.lstrip("/")
    if not key or key.endswith("/"):
        key += archive.name
    boto3.client("s3").upload_file(str(archive), parsed.netloc, key)
    return f"s3://{parsed.netloc}/{key}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="Hugging Face id or save_pretrained directory")
    parser.add_argument("--output", type=Path, default=Path("model.tar.gz"), help="archive to write")
    parser.add_argument("--s3-uri", help="upload the archive here (s3://bucket/key or s3://bucket/prefix/)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as staging:
        save_model(args.source, Path(staging))
        write_archive(Path(staging), args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    if args.s3_uri:
        url = upload(args.output, args.s3_uri)
        print(f"uploaded; ModelDataUrl={url}", file=sys.stderr)
        print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
