"""The event-stream decoder against every WHATWG rule, fed whole and split at every byte."""

from __future__ import annotations

import pytest

from atai_cli.client.sse_decoder import EventStreamDecoder, StreamTooLarge


def decode(stream: bytes, chunks: list[bytes] | None = None, last_id: str = ""):
    decoder = EventStreamDecoder(last_id)
    events = []
    for chunk in chunks if chunks is not None else [stream]:
        events.extend(decoder.feed(chunk))
    decoder.close()
    return [(e.event, e.data, e.last_event_id) for e in events], decoder


def splits(stream: bytes):
    """The stream whole, byte by byte, and cut in two at every position."""
    yield [stream]
    yield [stream[i:i + 1] for i in range(len(stream))]
    for i in range(1, len(stream)):
        yield [stream[:i], stream[i:]]


def check(stream: bytes, expected, last_id: str = "", final_id: str | None = None):
    for chunks in splits(stream):
        events, decoder = decode(stream, chunks, last_id)
        assert events == expected, chunks
        if final_id is not None:
            assert decoder.last_event_id == final_id, chunks


def test_plain_events_and_default_type():
    check(b"data: a\n\nevent: x\ndata: b\n\n", [("message", "a", ""), ("x", "b", "")])


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol):
    stream = eol.join([b"data: one", b"data: two", b"", b"id: 7", b"data: three", b"", b""])
    check(stream, [("message", "one\ntwo", ""), ("message", "three", "7")])


def test_mixed_line_endings_and_cr_at_read_boundary():
    stream = b"data: a\r\r\ndata: b\n\rdata: c\r\n\r\n"
    check(stream, [("message", "a", ""), ("message", "b", ""), ("message", "c", "")])


def test_cr_at_end_of_read_dispatches_immediately():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: x\r") == []
    events = decoder.feed(b"\r")  # the blank line ends at once, no waiting for a possible LF
    assert [e.data for e in events] == ["x"]
    assert decoder.feed(b"\ndata: y\n\n")[0].data == "y"  # that LF ends an empty line: no phantom event


def test_bom_stripped_once_even_when_split():
    bom = "\ufeff".encode()
    check(bom + b"data: a\n\n", [("message", "a", "")])
    # only the first BOM: a second one makes the field name "\ufeffdata", which is ignored
    check(bom + bom + b"data: a\n\ndata: b\n\n", [("message", "b", "")])


def test_one_space_stripped_after_colon():
    check(b"data:  two spaces\ndata:none\ndata:\tTab\n\n", [("message", " two spaces\nnone\n\tTab", "")])


def test_field_without_colon_and_case_sensitivity():
    check(b"data\ndata\n\n", [("message", "\n", "")])
    check(b"Data: x\nDATA: y\ndata : z\n\n", [])


def test_no_event_for_blocks_without_data():
    check(b"event: x\n\nid: 3\n\nretry: 10\n\n: comment\n\n\n\n", [], final_id="3")


def test_empty_data_line_is_an_event_with_empty_data():
    check(b"data:\n\n", [("message", "", "")])


def test_last_event_id_persists_and_resets():
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\ndata: d\n\n"
    check(stream, [("message", "a", "1"), ("message", "b", "1"), ("message", "c", ""), ("message", "d", "9")])


def test_id_with_nul_is_ignored():
    check(b"id: 5\ndata: a\n\nid: 6\x00x\ndata: b\n\n", [("message", "a", "5"), ("message", "b", "5")])


def test_id_only_block_moves_the_resume_point():
    check(b"data: a\n\nid: 42\n\n", [("message", "a", "")], final_id="42")


def test_resume_id_carries_into_a_new_connection():
    check(b"data: a\n\n", [("message", "a", "17")], last_id="17")


def test_partial_block_discarded_at_end_of_stream_with_its_id():
    events, decoder = decode(b"id: 1\ndata: a\n\nid: 2\ndata: cut")
    assert events == [("message", "a", "1")]
    assert decoder.last_event_id == "1"


@pytest.mark.parametrize("value,expected", [
    (b"1500", 1500), (b" 25", 25), (b"  5", None), (b"+5", None), (b"-1", None), (b"1_000", None), (b"1e3", None),
    ("\u0661\u0662".encode(), None), (b"", None),
])
def test_retry_only_ascii_digits(value, expected):
    decoder = EventStreamDecoder()
    decoder.feed(b"retry:" + value + b"\n\n")
    assert decoder.retry == expected


def test_always_utf8_and_invalid_bytes_replaced():
    check("data: héllo ✓\n\n".encode(), [("message", "héllo ✓", "")])
    events, _ = decode(b"data: \xff\xfe ok\n\n")
    assert events == [("message", "\ufffd\ufffd ok", "")]


def test_unicode_line_separators_are_not_line_breaks():
    check("data: a\u2028b\u0085c\n\n".encode(), [("message", "a\u2028b\u0085c", "")])


def test_comments_are_counted_for_liveness():
    decoder = EventStreamDecoder()
    decoder.feed(b": ping\n: ping\n\n")
    assert decoder.comments == 2


def test_own_id_flag_for_duplicate_suppression():
    decoder = EventStreamDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\n")
    assert [e.has_id for e in events] == [True, False]


def test_a_line_that_never_ends_is_refused(monkeypatch):
    from atai_cli.client import sse_decoder

    monkeypatch.setattr(sse_decoder, "MAX_LINE", 1000)
    decoder = EventStreamDecoder()
    with pytest.raises(StreamTooLarge):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100)
