import base64

import pytest
import requests
import responses

from sidekiq_watch.errors import SourceError
from sidekiq_watch.http import NO_RETRY
from sidekiq_watch.secrets import Secret
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import FileStatsSource, HttpStatsSource
from tests.conftest import EVENTS

URL = "https://app.example.com/sidekiq/stats"


def source(auth: StatsAuth | None = None, url: str = URL, **kwargs: object) -> HttpStatsSource:
    return HttpStatsSource(url, auth or StatsAuth(), timeout=2, **kwargs)  # type: ignore[arg-type]


@responses.activate
def test_reads_sidekiq_web_stats_over_http() -> None:
    responses.get(URL, json={"sidekiq": {"retries": 61, "enqueued": 4}})
    snapshot = source().read()
    assert (snapshot.shape, snapshot.retries, snapshot.enqueued) == ("sidekiq_web_stats", 61, 4)


@responses.activate
def test_basic_auth_is_sent() -> None:
    responses.get(URL, json={"retries": 1})
    source(StatsAuth(username="ops", password=Secret("SIDEKIQ_STATS_PASSWORD", "s3cr3t-pa55"))).read()
    sent = responses.calls[0].request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"ops:s3cr3t-pa55").decode()


@responses.activate
def test_token_is_sent_as_bearer_by_default() -> None:
    responses.get(URL, json={"retries": 1})
    source(StatsAuth(token=Secret("SIDEKIQ_STATS_TOKEN", "s3cr3t-tok"))).read()
    assert responses.calls[0].request.headers["Authorization"] == "Bearer s3cr3t-tok"


@responses.activate
def test_token_goes_in_the_named_header_as_is() -> None:
    responses.get(URL, json={"retries": 1})
    source(StatsAuth(token=Secret("SIDEKIQ_STATS_TOKEN", "s3cr3t-tok"), token_header="X-Api-Key")).read()
    headers = responses.calls[0].request.headers
    assert headers["X-Api-Key"] == "s3cr3t-tok"
    assert "Authorization" not in headers


@responses.activate
def test_redirect_to_login_page_is_reported_as_missing_credentials() -> None:
    responses.get(URL, status=302, headers={"Location": "https://app.example.com/login"})
    responses.get("https://app.example.com/login", body="<html>Sign in</html>", content_type="text/html")
    with pytest.raises(
        SourceError, match=r"redirected to /login \(HTML, not JSON\).*SIDEKIQ_STATS_USERNAME"
    ) as e:
        source().read()
    assert e.value.kind == "login_redirect"


@responses.activate
def test_html_without_redirect_is_not_json() -> None:
    responses.get(URL, body="<!doctype html><p>hi</p>", content_type="text/html")
    with pytest.raises(SourceError, match="answered with HTML, not JSON") as e:
        source().read()
    assert e.value.kind == "not_json"


@responses.activate
def test_truncated_json_is_not_json() -> None:
    responses.get(URL, body='{"retries": 6', content_type="application/json")
    with pytest.raises(SourceError, match=r"not JSON at byte \d+") as e:
        source().read()
    assert e.value.kind == "not_json"


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_refused_access_points_at_the_credentials(status: int) -> None:
    responses.get(URL, status=status)
    with pytest.raises(SourceError, match=f"HTTP {status}: access refused") as e:
        source().read()
    assert e.value.kind == "http_status"


@responses.activate
def test_server_error_is_retried_once_then_reported(no_sleep: list[float]) -> None:
    responses.get(URL, status=503)
    with pytest.raises(SourceError, match="HTTP 503"):
        source().read()
    assert len(responses.calls) == 2


@responses.activate
def test_server_error_then_success_reads_the_stats(no_sleep: list[float]) -> None:
    responses.get(URL, status=502)
    responses.get(URL, json={"retries": 3})
    assert source().read().retries == 3


@responses.activate
def test_connection_refused_is_classified(no_sleep: list[float]) -> None:
    """By the exceptions requests wraps, as a real refused connect raises them; not by their text."""
    import urllib3

    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    wrapped = urllib3.exceptions.MaxRetryError(None, "/stats", reason=refused)  # type: ignore[arg-type]
    responses.get(URL, body=requests.ConnectionError(wrapped))
    with pytest.raises(SourceError, match="could not connect") as e:
        source().read()
    assert e.value.kind == "connect"


@responses.activate
def test_a_message_that_merely_mentions_refusal_is_not_read_as_one(no_sleep: list[float]) -> None:
    responses.get(URL, body=requests.ConnectionError("Name or service not known; Connection refused"))
    with pytest.raises(SourceError) as e:
        source().read()
    assert e.value.kind == "reset"


@responses.activate
def test_timeout_is_classified(no_sleep: list[float]) -> None:
    responses.get(URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(SourceError, match="timed out") as e:
        source().read()
    assert e.value.kind == "timeout"


@responses.activate
def test_body_over_the_limit_is_cut_off() -> None:
    responses.get(URL, body=b"[" + b"1," * 1000 + b"1]", content_type="application/json")
    with pytest.raises(SourceError, match=r"(over|exceeds) the 512-byte limit") as e:
        source(max_body_bytes=512).read()
    assert e.value.kind == "too_large"


@responses.activate
def test_credentials_in_the_url_never_appear_in_errors() -> None:
    url = "https://ops:hunter2@app.example.com/sidekiq/stats?token=abc123"
    responses.get(url, status=500)
    with pytest.raises(SourceError) as e:
        source(url=url, policy=NO_RETRY).read()
    assert "hunter2" not in str(e.value)
    assert "abc123" not in str(e.value)
    assert "GET https://app.example.com/sidekiq/stats" in str(e.value)


def test_file_source_reads_the_sample() -> None:
    assert FileStatsSource(str(EVENTS / "stats" / "handwritten.json")).read().retries == 60


def test_missing_file_is_reported() -> None:
    with pytest.raises(SourceError, match="no such file") as e:
        FileStatsSource("/nonexistent/stats.json").read()
    assert e.value.kind == "not_found"


@responses.activate
def test_refused_access_names_the_documents_target_the_credentials_came_from() -> None:
    responses.get("https://billing.example.com/sidekiq/stats", status=401)
    auth = StatsAuth(username="w", password=Secret("targets[1] (billing).password", "s3cr3t-pw"))
    source = HttpStatsSource("https://billing.example.com/sidekiq/stats", auth, timeout=1, policy=NO_RETRY)
    with pytest.raises(SourceError) as caught:
        source.read()
    assert "targets[1] (billing).password" in str(caught.value)
    assert "SIDEKIQ_STATS_USERNAME" not in str(caught.value)


def test_every_kind_of_location_has_a_source() -> None:
    import typing

    from sidekiq_watch.settings import SourceScheme
    from sidekiq_watch.stats.sources import SOURCES

    assert set(SOURCES) == set(typing.get_args(SourceScheme))
