"""The only way WeasyPrint gets a resource: from the template's own bundle, or a data: URL.

WeasyPrint 70's default URLFetcher reads file:// URLs and calls any host, so a template could
embed /etc/passwd (as an image, a stylesheet or an attachment) or probe the internal network.
Documents are rendered against a private base URL on a reserved, never-resolvable host
(BUNDLE_ORIGIN); BundleURLFetcher answers URLs under it from the bundle's files and refuses
everything else. It never touches the filesystem or the network: its opener has no handlers.
"""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib import request
from urllib.parse import quote, unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

from portal.library.bundle import TemplateBundle

BUNDLE_SCHEME = "https"  # urljoin only resolves relative URLs for the schemes it knows
BUNDLE_HOST = "bundle.portal.invalid"  # .invalid never resolves (RFC 6761)
BUNDLE_ORIGIN = f"{BUNDLE_SCHEME}://{BUNDLE_HOST}/"
# A data: URL is decoded in memory; beyond this it is not an inline image but a payload.
MAX_DATA_URL_CHARS = 4 * 1024 * 1024  # below the 5,000,000 characters a render may output


class RefusedURL(ValueError):
    """A URL outside the template bundle: WeasyPrint logs it and leaves the resource out."""


class MissingAsset(LookupError):
    """A bundle URL naming a file the bundle does not have."""


def bundle_base_url(bundle: TemplateBundle) -> str:
    """The URL of the folder holding the bundle's HTML; relative URLs resolve against it."""
    folder = posixpath.dirname(bundle.entry)
    return BUNDLE_ORIGIN + (quote(folder) + "/" if folder else "")


class BundleURLFetcher(URLFetcher):
    """Serves a TemplateBundle's own files and data: URLs, and nothing else."""

    def __init__(self, bundle: TemplateBundle) -> None:
        super().__init__(allowed_protocols=(BUNDLE_SCHEME, "data"), allow_redirects=False)
        # Drop the file/http/ftp handlers URLFetcher installed: this opener can open nothing.
        request.OpenerDirector.__init__(self)
        self.bundle = bundle
        self.refused: list[str] = []  # for diagnostics: what the template asked for in vain
        self.missing: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        if url[:5].lower() == "data:":
            return self._fetch_data(url)
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            self.refused.append(url)
            raise RefusedURL(f"malformed URL {url!r}") from exc
        if parts.scheme.lower() != BUNDLE_SCHEME or parts.netloc.lower() != BUNDLE_HOST:
            self.refused.append(url)
            raise RefusedURL(f"{url} is not part of the template")
        path = unquote(parts.path)
        data = self.bundle.asset(path)
        if data is None:
            self.missing.append(path)
            raise MissingAsset(f"the template has no file {path.lstrip('/')!r}")
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=data, headers={"Content-Type": content_type})

    def _fetch_data(self, url: str) -> URLFetcherResponse:
        if len(url) > MAX_DATA_URL_CHARS:
            self.refused.append(url[:64] + "…")
            raise RefusedURL(f"a data: URL of {len(url):,} characters is too large")
        # The stdlib data: parser only decodes the URL itself (checked above: data:); it opens
        # nothing.
        response: Any = request.DataHandler().data_open(request.Request(url))  # noqa: S310
        content_type = response.headers.get("Content-Type", "text/plain")
        return URLFetcherResponse(url, body=response.read(), headers={"Content-Type": content_type})
