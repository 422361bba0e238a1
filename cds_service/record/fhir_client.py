"""A small FHIR REST client for one hook call: bearer token, paging, one shared deadline, typed failures."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

MAX_DIAGNOSTICS = 200
MAX_REDIRECTS = 5
READ_CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
REDACTED = "[redacted]"


class FhirError(Exception):
    """A FHIR query failed; the message is shown in logs and on cards (the client strips the token from it)."""


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


def read_bundle(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """A Bundle's entry resources (``outcome`` entries dropped, ``include`` kept), a problem, and its ``next`` link."""
    entries = bundle.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return [], "Bundle.entry is not an array", None
    resources = []
    for entry in entries:
        if not isinstance(entry, dict):
            return [], "a Bundle entry is not an object", None
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return [], "a Bundle entry holds no FHIR resource", None
        resources.append(resource)
    links = bundle.get("link")
    following = next(
        (
            link.get("url")
            for link in (links if isinstance(links, list) else [])
            if isinstance(link, dict) and link.get("relation") == "next"
        ),
        None,
    )
    return resources, None, following if isinstance(following, str) and following else None


def outcome_text(outcome: Any) -> str:
    """The diagnostics (else details.text) of an OperationOutcome's issues, joined and shortened; '' if none."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    issues = outcome.get("issue")
    texts = []
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details")
        text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None)
        if isinstance(text, str) and text:
            texts.append(text)
    return "; ".join(texts)[:MAX_DIAGNOSTICS]


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base_url``."""
    a, b = urlsplit(url), urlsplit(base_url)
    return bool(a.netloc) and (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


def within_base(url: str, base_url: str) -> bool:
    """Whether ``url`` is on ``base_url``'s origin and under its path (``base_url`` ends with ``/``)."""
    path, base = urlsplit(url).path, urlsplit(base_url).path
    inside = path.startswith(base) or path == base.rstrip("/")  # HAPI pages at the base itself: /fhir?_getpages=
    return same_origin(url, base_url) and inside and "%2e" not in path.lower()


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
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.deadline = deadline
        self.page_cap = page_cap
        self.page_size = page_size
        self.max_bytes = max_bytes
        self.session = session or requests.Session()
        self._token = access_token or None
        self._headers = {"Accept": "application/fhir+json"}
        if access_token:
            self._headers["Authorization"] = f"Bearer {access_token}"

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r})"

    def read(self, path: str) -> FetchResult:
        """``GET Type/id``: the resource, or an error (a 404 says the resource does not exist)."""
        result = FetchResult()
        try:
            resource = self._get(self._url(path), result, read=path)
            expected = path.split("?", 1)[0].split("/", 1)[0]
            if resource.get("resourceType") != expected:
                raise FhirError(f"expected a {expected}, got {_type_name(resource)}")
            result.resources.append(resource)
        except FhirError as exc:
            result.error = self._redact(str(exc))
        return result

    def search(self, query: str) -> FetchResult:
        """``GET Type?params`` following ``next`` links up to the page cap."""
        result = FetchResult()
        # Ask for big pages on our own queries; a server's absolute `next` link is followed as given.
        if self.page_size and "_count=" not in query and "://" not in query:
            query += ("&" if "?" in query else "?") + f"_count={self.page_size}"
        pages = 0
        try:
            url: str | None = self._url(query)
            while url:
                if pages >= self.page_cap:
                    raise FhirError(f"results truncated at {self.page_cap} pages")
                bundle = self._get(url, result)
                pages += 1
                if bundle.get("resourceType") != "Bundle":
                    raise FhirError(f"expected a search Bundle, got {_type_name(bundle)}")
                found, problem, following = read_bundle(bundle)
                if problem:
                    raise FhirError(problem)
                result.resources.extend(found)
                url = self._url(following) if following else None
        except FhirError as exc:
            result.error = self._redact(str(exc))
        return result

    def _url(self, reference: str) -> str:
        """An absolute URL under this server's base; the bearer token must never go anywhere else."""
        url = urljoin(self.base_url, reference)
        if not same_origin(url, self.base_url):
            raise FhirError(f"refused to follow a link to another server ({urlsplit(url).netloc or url[:60]})")
        if not within_base(url, self.base_url):
            raise FhirError(f"refused to follow a link outside the FHIR base ({urlsplit(url).path[:60]})")
        return url

    def _redact(self, text: str) -> str:
        # Careless servers echo the request (Authorization header included) in their diagnostics.
        return text.replace(self._token, REDACTED) if self._token else text

    def _get(self, url: str, result: FetchResult, read: str | None = None) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FhirError("time budget exhausted before the query could run")
        started = time.perf_counter()
        try:
            response, content = self._fetch(url, result)
        finally:
            took = time.perf_counter() - started
            result.slowest_seconds = max(result.slowest_seconds, took)
            result.elapsed_seconds += took
        if response.status_code in (401, 403):
            raise FhirError(f"FHIR server refused the access token ({response.status_code})")
        if response.status_code == 404 and read:
            raise FhirError(f"{read} does not exist on the FHIR server (404)")
        body = self._json(response, content)
        if response.status_code >= 400:
            diagnostics = outcome_text(body)
            raise FhirError(f"FHIR server answered {response.status_code}{': ' if diagnostics else ''}{diagnostics}")
        if not isinstance(body, dict):
            raise FhirError("FHIR server returned JSON that is not a resource")
        return body

    def _fetch(self, url: str, result: FetchResult) -> tuple[requests.Response, bytes]:
        """GET ``url`` (redirects followed only under the base) and its whole body, all before the deadline."""
        for _ in range(MAX_REDIRECTS + 1):
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise FhirError("time budget exhausted before the query could run")
            result.requests += 1
            try:
                response = self.session.get(
                    url,
                    headers=self._headers,
                    timeout=(min(remaining, 5.0), remaining),
                    stream=True,
                    allow_redirects=False,
                )
            except requests.Timeout:
                raise FhirError(f"timed out after {remaining:.1f} s") from None
            except requests.ConnectionError:
                raise FhirError("FHIR server unreachable") from None
            except requests.RequestException as exc:
                raise FhirError(f"request failed ({type(exc).__name__})") from None
            if response.is_redirect:
                response.close()
                url = self._url(response.headers.get("Location", ""))
                continue
            return response, self._body(response)
        raise FhirError(f"more than {MAX_REDIRECTS} redirects")

    def _body(self, response: requests.Response) -> bytes:
        """The body read one network read at a time, so a server that drips bytes cannot outlast the deadline."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > self.deadline:
                    raise FhirError("the FHIR server was still sending its answer when the time budget ran out")
                chunk = response.raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_bytes:
                    raise FhirError(f"the answer is larger than the {self.max_bytes:,} bytes allowed")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FhirError(f"the answer broke off ({type(exc).__name__})") from None
        finally:
            response.close()

    @staticmethod
    def _json(response: requests.Response, content: bytes) -> Any:
        try:
            return json.loads(content)
        except RecursionError:
            raise FhirError("FHIR server returned JSON nested too deeply") from None
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0][:60]
            if response.status_code >= 400:
                raise FhirError(f"FHIR server answered {response.status_code} ({kind})") from None
            raise FhirError(f"FHIR server returned non-JSON ({kind})") from None


def _type_name(resource: dict[str, Any]) -> str:
    rtype = resource.get("resourceType")
    return repr(rtype[:60]) if isinstance(rtype, str) else "no resourceType"
