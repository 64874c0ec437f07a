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


# -- the whole-blocks fast path (a read of complete `\n`-ended events, nothing carried over) --
PRIMER = b"data: primer\n\n"  # the first read is never on the fast path (the BOM check)

FAST_PATH_STREAMS = [
    b"id: 1\ndata: {\"a\":1}\n\nid: 2\ndata: {\"a\":2}\n\n",
    b"event: x\nid: 3\ndata: a\n\nid: 4\nevent: y\ndata: b\n\n",
    b"event: \ndata: empty type\n\ndata: \n\n",  # empty event name: "message"; empty data: an event
    b"id:  5\ndata:  two spaces\n\n",  # only the first space after the colon goes
    b"id: 6\n\ndata: after an id-only block\n\n",
    b"id: 7\0x\ndata: nul id ignored\n\n",
    b"data: a\n\n\ndata: an extra blank line\n\n\n",
    b"data:no space\nid:8\n\n",
    b"data: one\ndata: two\n\n: a comment\ndata: three\n\n",
    b"retry: 250\ndata: r\n\nid\ndata: id without colon resets it\n\n",
    b"data: x\r\n\r\ndata: CRLF is not the fast path's\n\n",
    b"id: 9\nevent: e\nevent: twice\ndata: d\n\n",
    b"data: caf\xc3\xa9 \xe2\x80\xa8 line separator kept\n\n",
    b"data: bad \xff byte\n\n",
]


def _fed(*chunks: bytes, last_id: str = ""):
    decoder = EventStreamDecoder(last_id)
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return [(e.event, e.data, e.last_event_id, e.has_id) for e in events], decoder


@pytest.mark.parametrize("stream", FAST_PATH_STREAMS)
def test_whole_reads_match_the_line_by_line_path(stream):
    # One byte per read never ends a read in a blank line: the exact path, the reference.
    reference, slow = _fed(PRIMER, *[stream[i:i + 1] for i in range(len(stream))], last_id="0")
    whole, fast = _fed(PRIMER, stream, last_id="0")
    assert whole == reference
    assert (fast.last_event_id, fast.retry, fast.comments) == (slow.last_event_id, slow.retry, slow.comments)
    for cut in range(1, len(stream)):  # and every split in two, each half possibly a whole read
        assert _fed(PRIMER, stream[:cut], stream[cut:], last_id="0")[0] == reference, cut


def test_whole_reads_take_the_fast_path(monkeypatch):
    decoder = EventStreamDecoder()
    decoder.feed(PRIMER)
    monkeypatch.setattr(EventStreamDecoder, "_process", lambda self, lines: pytest.fail("took the line path"))
    events = decoder.feed(b"id: 1\ndata: a\n\nevent: x\nid: 2\ndata: b\n\n")
    assert [(e.event, e.data, e.last_event_id, e.has_id) for e in events] == [
        ("message", "a", "1", True), ("x", "b", "2", True)]
    assert decoder.last_event_id == "2"
    assert decoder.feed(b"data: no id\n\n")[0].last_event_id == "2"  # the id persists, not its own
    assert decoder.feed(b"data: no id\n\n")[0].has_id is False


def test_fast_path_after_a_partial_read_and_a_split_character():
    decoder = EventStreamDecoder()
    decoder.feed(PRIMER)
    assert decoder.feed(b"id: 1\ndata: caf\xc3") == []  # a block and a character carried over
    events = decoder.feed(b"\xa9\n\nid: 2\ndata: b\n\n")
    assert [(e.data, e.last_event_id) for e in events] == [("caf\u00e9", "1"), ("b", "2")]
