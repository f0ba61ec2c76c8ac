"""A folder of built files served over the API as a static site: the 3D viewer's page and assets.

Files are known by name once, when first asked for: a path that names no built file is a 404, so no
request can reach outside the folder. The bundler names assets by their content (`viewer-3F2A9C1D.js`),
so those are cached for a year; the page itself, whose name never changes, is revalidated each time
(its ETag makes that a 304 when nothing changed)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

INDEX: Final = "index.html"
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
_CONTENT_HASHED = re.compile(r"-[A-Z0-9]{8}\.[a-z]+$")
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
# The page loads only what we serve, and talks to the API and, for uploads and large files, to S3's
# presigned URLs (https, or the embedded AWS's http on a developer's machine).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' https: http:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


@dataclass(frozen=True)
class StaticFile:
    name: str
    body: bytes
    content_type: str
    etag: str
    cache_control: str

    @property
    def text(self) -> str | None:
        """The body as text (it passes through API Gateway as is), or None for binary files."""
        try:
            return self.body.decode()
        except UnicodeDecodeError:
            return None


class StaticSite:
    """The files under `root`, read once per build: a rebuild while the local runner serves them
    rewrites the page, whose change of modification time has them read again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._read: tuple[int, dict[str, StaticFile]] | None = None

    @property
    def files(self) -> dict[str, StaticFile]:
        """Every built file by its path under the root, with `/` separators."""
        try:
            built_at = (self.root / INDEX).stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._read is None or self._read[0] != built_at:
            self._read = (built_at, _read_files(self.root))
        return self._read[1]

    @property
    def built(self) -> bool:
        return INDEX in self.files

    def file(self, relative_path: str) -> StaticFile | None:
        """The file at a request's path under the site (empty: the page), or None."""
        return self.files.get(relative_path.strip("/") or INDEX)


def _read_files(root: Path) -> dict[str, StaticFile]:
    return {
        path.relative_to(root).as_posix(): _static_file(path.relative_to(root).as_posix(), path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _static_file(name: str, path: Path) -> StaticFile:
    body = path.read_bytes()
    return StaticFile(
        name=name,
        body=body,
        content_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        cache_control=IMMUTABLE if _CONTENT_HASHED.search(path.name) else REVALIDATE,
    )
