"""``complaints serve`` exactly as the docs show it: the example key file (``serving/keys.example.toml``) with its
key in ``COMPLAINTS_LOCAL_KEY``; the interactive API docs at ``/docs``, every file of them from the server itself."""

import re
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

from tests.support.paths import REPO
from tests.support.serving import start_server, stop_server

pytestmark = pytest.mark.e2e
EXAMPLE_KEY = "example-local-key-for-the-test"


@pytest.fixture(scope="module")
def example_server(serving_warehouse):
    process, base = start_server(
        ["--warehouse", str(serving_warehouse["dir"]), "--api-keys", str(REPO / "serving" / "keys.example.toml")],
        {"COMPLAINTS_LOCAL_KEY": EXAMPLE_KEY},
    )
    yield base
    stop_server(process)


def get(url: str, headers: dict | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


class Assets(HTMLParser):
    """Every URL a page loads: script src, link href (stylesheets, icons), img src."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name) and tag in ("script", "link", "img"):
                self.urls.append(attributes[name])


def test_the_example_key_file_lets_its_key_scrape_metrics(example_server):
    status, content_type, body = get(f"{example_server}/metrics", {"Authorization": f"Bearer {EXAMPLE_KEY}"})
    assert status == 200 and content_type.startswith("text/plain")
    assert b"complaints_warehouse_rows" in body
    assert get(f"{example_server}/metrics")[0] == 401
    assert get(f"{example_server}/metrics", {"Authorization": "Bearer not-the-key"})[0] == 401


def test_the_interactive_docs_are_served_offline_by_the_app_itself(example_server):
    status, content_type, body = get(f"{example_server}/docs")  # public, like /openapi.json and /dashboard
    assert status == 200 and content_type.startswith("text/html")
    page = body.decode()
    parser = Assets()
    parser.feed(page)
    assert any(url.endswith(".js") for url in parser.urls) and any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        absolute = urljoin(f"{example_server}/docs", url)
        assert urlparse(absolute).netloc == urlparse(example_server).netloc, url  # nothing from a CDN
        assert get(absolute)[0] == 200, url
    assert not re.search(r"https?://(?!127\.0\.0\.1)", re.sub(r"<!--.*?-->", "", page, flags=re.S))
    assert "url: '/openapi.json'" in page or 'url: "/openapi.json"' in page or "/openapi.json" in page
    assert '"validatorUrl": null' in page  # Swagger UI would otherwise call the public validator
    openapi = get(f"{example_server}/openapi.json")
    assert openapi[0] == 200 and b'"securitySchemes"' in openapi[2]  # the page's Authorize button takes the key
    assert get(f"{example_server}/static/docs/../../serving/keys.example.toml")[0] == 404
    assert get(f"{example_server}/static/docs/index.html")[0] == 404
