"""The REST client against the emulator: retries, backoff, typed errors, bad server data."""

from __future__ import annotations

import pytest

from atai_cli.client.rest import RestClient
from atai_cli.errors import ApiError, AuthError, NetworkError, NotFoundError, ProtocolError


def rest(emu, trace=None, **kwargs):
    kwargs.setdefault("retry_delay", 0.01)
    return RestClient(emu.endpoint, emu.api_key, trace=trace, **kwargs)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retries_transient_statuses_then_succeeds(emu, status):
    emu.configure(fail_count=2, fail_status=status)
    lines = []
    lenses = rest(emu, trace=lines.append).request("GET", "lens/metadata")
    assert any(l["lens_id"] == "lns-emulator-sse" for l in lenses)
    assert sum(f"{status} from" in line and "retrying" in line for line in lines) == 2


def test_honours_retry_after(emu):
    emu.configure(fail_count=1, fail_status=429, retry_after=0.05)
    waits = []
    client = rest(emu, retry_delay=5.0)
    client._sleep = waits.append  # record instead of sleeping
    client.request("GET", "lens/metadata")
    assert waits == [0.05]


def test_backoff_grows_and_is_capped(emu):
    emu.configure(fail_count=4, fail_status=503)
    waits = []
    client = rest(emu, retry_delay=1.0)
    client._sleep = waits.append
    client.request("GET", "lens/metadata")
    assert len(waits) == 4
    for attempt, wait in enumerate(waits):
        ceiling = min(30.0, 2 ** attempt)
        assert ceiling / 2 <= wait <= ceiling


def test_gives_up_after_max_retries(emu):
    emu.configure(fail_count=100, fail_status=503)
    with pytest.raises(ApiError) as info:
        rest(emu, max_retries=2).request("GET", "lens/metadata")
    assert info.value.status == 503 and info.value.exit_code == 1
    assert "503" in info.value.message


@pytest.mark.parametrize("status", [400, 409, 422, 500])
def test_never_retries_other_errors(emu, status):
    emu.configure(fail_count=1, fail_status=status)
    with pytest.raises(ApiError) as info:
        rest(emu).request("GET", "lens/metadata")
    assert info.value.status == status
    # the next request would have succeeded: a retry would have hidden the failure
    assert rest(emu).request("GET", "lens/metadata")


def test_auth_error(emu):
    with pytest.raises(AuthError) as info:
        RestClient(emu.endpoint, "wrong-key").request("GET", "lens/metadata")
    assert info.value.exit_code == 3 and "401" in info.value.message
    assert info.value.hint is None  # the client says what failed; the CLI's boundary says what to do


@pytest.mark.parametrize("path,body,resource", [
    ("lens/sessions/destroy", {"session_id": "lsn-missing"}, "session"),
    ("lens/sessions/create", {"lens_id": "lns-missing"}, "lens"),
])
def test_not_found_carries_server_message_and_what_is_missing(emu, path, body, resource):
    with pytest.raises(NotFoundError) as info:
        rest(emu).request("POST", path, json_body=body)
    assert next(iter(body.values())) in info.value.message and info.value.resource == resource


def test_non_json_body_is_a_protocol_error(emu):
    emu.upload("page.html", b"<html>hello</html>")
    with pytest.raises(ProtocolError) as info:
        rest(emu).request("GET", "files/download/page.html")
    assert "non-JSON" in info.value.message


def test_html_error_page_is_a_clear_error(emu):
    with pytest.raises(NotFoundError):
        RestClient(emu.endpoint + "/nowhere", emu.api_key).request("GET", "lens/metadata")


def test_connection_refused_after_retries():
    with pytest.raises(NetworkError) as info:
        RestClient("http://127.0.0.1:1", "k", max_retries=1, retry_delay=0.01).request("GET", "lens/metadata")
    assert "cannot reach" in info.value.message


def test_malformed_json_request_is_rejected_by_the_emulator(emu):
    with pytest.raises(ApiError) as info:
        rest(emu).request("POST", "lens/sessions/create", content=b"{not json")
    assert info.value.status == 400 and info.value.code == "invalid_json"


def test_trace_never_contains_the_key(emu):
    lines = []
    rest(emu, trace=lines.append).request("POST", "lens/sessions/create", json_body={"lens_id": "lns-emulator-sse"})
    text = "\n".join(lines)
    assert "lens/sessions/create" in text and emu.api_key not in text


def test_deep_or_null_bodies_are_named_as_bad_replies(emu):
    emu.upload("deep.json", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ProtocolError, match="nested too deeply"):
        rest(emu).request("GET", "files/download/deep.json")
    emu.upload("null.json", b"null")
    with pytest.raises(ProtocolError, match="a JSON null where an object or a list belongs"):
        rest(emu).request("GET", "files/download/null.json")


def test_a_long_retry_wait_is_said_and_a_short_one_only_traced(emu):
    emu.configure(fail_count=2, fail_status=429, retry_after=3)
    said, waits = [], []
    client = rest(emu, notify=said.append)
    client._sleep = waits.append
    client.request("GET", "lens/metadata")
    assert waits == [3.0, 3.0] and len(said) == 2 and "429 from" in said[0] and "retrying in 3s" in said[0]
    emu.configure(fail_count=1, fail_status=503, retry_after=-1)
    said.clear()
    client.request("GET", "lens/metadata")  # 0.01 s of backoff: --debug only
    assert said == []


def test_nan_in_a_request_body_is_a_usage_error_before_sending(emu):
    from atai_cli.errors import UsageError

    with pytest.raises(UsageError, match="NaN or Infinity"):
        rest(emu).request("POST", "lens/sessions/create", json_body={"lens_id": "x", "threshold": float("nan")})
