"""A small FHIR REST client for one hook call: bearer token, paging, one shared deadline, typed failures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

MAX_DIAGNOSTICS = 200


class FhirError(Exception):
    """A FHIR query failed; the message is safe to show (never holds the token)."""


@dataclass
class FetchResult:
    """Resources a query returned, how many HTTP requests it took, and what went wrong (if anything)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    error: str | None = None
    slowest_seconds: float = 0.0
    """The slowest single HTTP request."""
    elapsed_seconds: float = 0.0
    """The whole query, all its pages."""


class FhirClient:
    """Reads and searches one FHIR server until a deadline (``time.monotonic()``) passes."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        deadline: float,
        page_cap: int,
        session: requests.Session | None = None,
        page_size: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.deadline = deadline
        self.page_cap = page_cap
        self.page_size = page_size
        self.session = session or requests.Session()
        self._headers = {"Accept": "application/fhir+json"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r})"

    def read(self, path: str) -> FetchResult:
        """``GET Type/id``: the resource, or an error."""
        result = FetchResult()
        try:
            resource = self._get(urljoin(self.base_url, path), result)
            expected = path.split("/", 1)[0].split("?", 1)[0]
            if resource.get("resourceType") != expected:
                raise FhirError(f"expected a {expected}, got {resource.get('resourceType')!r}")
            result.resources.append(resource)
        except FhirError as exc:
            result.error = str(exc)
        return result

    def search(self, query: str) -> FetchResult:
        """``GET Type?params`` following ``next`` links up to the page cap."""
        result = FetchResult()
        # Ask for big pages on our own queries; a server's absolute `next` link is followed as given.
        if self.page_size and "_count=" not in query and "://" not in query:
            query += ("&" if "?" in query else "?") + f"_count={self.page_size}"
        url: str | None = urljoin(self.base_url, query)
        pages = 0
        try:
            while url:
                if pages >= self.page_cap:
                    raise FhirError(f"results truncated at {self.page_cap} pages")
                bundle = self._get(url, result)
                pages += 1
                if bundle.get("resourceType") != "Bundle":
                    raise FhirError(f"expected a search Bundle, got {bundle.get('resourceType')!r}")
                for entry in bundle.get("entry") or []:
                    resource = entry.get("resource") if isinstance(entry, dict) else None
                    if (entry.get("search") or {}).get("mode") == "outcome":
                        continue
                    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                        raise FhirError("a Bundle entry holds no resource")
                    result.resources.append(resource)
                url = next(
                    (
                        link.get("url")
                        for link in bundle.get("link") or []
                        if isinstance(link, dict) and link.get("relation") == "next"
                    ),
                    None,
                )
                if url:
                    url = urljoin(self.base_url, url)
        except FhirError as exc:
            result.error = str(exc)
        return result

    def _get(self, url: str, result: FetchResult) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FhirError("time budget exhausted before the query could run")
        started = time.perf_counter()
        result.requests += 1
        try:
            response = self.session.get(url, headers=self._headers, timeout=(min(remaining, 5.0), remaining))
        except requests.Timeout:
            raise FhirError(f"timed out after {remaining:.1f} s") from None
        except requests.ConnectionError:
            raise FhirError("FHIR server unreachable") from None
        except requests.RequestException as exc:
            raise FhirError(f"request failed ({type(exc).__name__})") from None
        finally:
            took = time.perf_counter() - started
            result.slowest_seconds = max(result.slowest_seconds, took)
            result.elapsed_seconds += took
        if response.status_code in (401, 403):
            raise FhirError(f"FHIR server refused the access token ({response.status_code})")
        body = self._json(response)
        if response.status_code >= 400:
            raise FhirError(f"FHIR server answered {response.status_code}{_diagnostics(body)}")
        if not isinstance(body, dict):
            raise FhirError("FHIR server returned JSON that is not a resource")
        return body

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            if response.status_code >= 400:
                raise FhirError(f"FHIR server answered {response.status_code} ({kind})") from None
            raise FhirError(f"FHIR server returned non-JSON ({kind})") from None


def _diagnostics(body: Any) -> str:
    """``: <diagnostics>`` of an OperationOutcome body, shortened; empty otherwise."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    texts = [
        i.get("diagnostics") or (i.get("details") or {}).get("text")
        for i in body.get("issue") or []
        if isinstance(i, dict)
    ]
    text = "; ".join(t for t in texts if isinstance(t, str))
    return f": {text[:MAX_DIAGNOSTICS]}" if text else ""
