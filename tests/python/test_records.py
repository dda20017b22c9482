"""The original service's record functions: the same inputs and outputs as
tests/backfill/classify_test.cpp and transform_test.cpp."""
import json
import pytest

import bsky_backfill as bb


def test_identify_record_type():
    assert bb.identify_record_type({"$type": "app.bsky.feed.like", "createdAt": "2024-10-01T00:00:00Z"}, "app.bsky.feed.like") == "like"
    assert bb.identify_record_type({"$type": "app.bsky.graph.follow"}) == "follow"
    assert bb.identify_record_type({"text": "x"}, "com.example.thing") == "thing"
    with pytest.raises(ValueError, match="does not match its collection app.bsky.feed.like"):
        bb.identify_record_type({"$type": "x./tmp/evil"}, "app.bsky.feed.like")
    with pytest.raises(ValueError, match="is not an NSID"):
        bb.identify_record_type({}, "like")


def test_identify_post_type():
    assert bb.identify_post_type({"$type": "app.bsky.feed.post", "text": "hi"}) == "post"
    assert bb.identify_post_type({"$type": "app.bsky.feed.post", "text": "hi", "reply": {"root": {}, "parent": {}}}) == "reply"
    assert bb.identify_post_type({"text": "hi", "reply": {}}) == "reply"


def test_assign_default_backfill_synctimestamp():
    for given, expected in [("2024-12-02T00:00:01Z", "2024-12-15-00:00:00"), ("2024-09-26T23:59:59Z", "2024-10-01-00:00:00"),
                            ("2023-12-20T08:00:00Z", "2024-01-01-00:00:00"), ("2023-12-15T23:59:59Z", "2023-12-15-00:00:00"),
                            ("2020-02-29T12:00:00Z", "2020-03-01-00:00:00")]:
        assert bb.assign_default_backfill_synctimestamp(given) == expected, given


def test_validate_record_timestamp():
    assert bb.validate_record_timestamp({"createdAt": "2024-09-27T00:00:00Z"})  # start is inclusive
    assert bb.validate_record_timestamp({"createdAt": "2024-12-02T00:00:00Z"})  # end is inclusive
    assert not bb.validate_record_timestamp({"createdAt": "2024-12-02T00:00:01Z"})
    with pytest.raises(ValueError, match="unparseable createdAt 'not a date'"):
        bb.validate_record_timestamp({"createdAt": "not a date"})


def test_validate_record_type():
    for t in ["block", "follow", "like", "post", "reply", "repost"]:
        assert bb.validate_record_type(t)
    assert not bb.validate_record_type("profile")
    assert bb.validate_record_type("app.bsky.feed.like", types=["profile", "app.bsky.feed.like", "reply"])
    assert not bb.validate_record_type("post", types=["profile", "app.bsky.feed.like", "reply"])


def test_transform_backfilled_record():
    uri = "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3k"
    p = bb.transform_backfilled_record({"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-10-01T00:00:00Z",
                                        "langs": ["en", "de"]}, uri, "bafyx")
    assert p["record_type"] == "post" and p["langs"] == "en,de" and p["tags"] is None and p["embed"] is None
    assert p["synctimestamp"] == "2024-10-01-00:00:00" and p["author"] == "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    like = bb.transform_backfilled_record({"$type": "app.bsky.feed.like", "subject": {"uri": "at://x", "cid": "bafyz"},
                                           "createdAt": "2024-10-01T00:00:00Z"},
                                          "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.like/3k", "bafyx")
    assert json.loads(like["subject"])["cid"] == "bafyz" and "embed" not in like
    follow = bb.transform_backfilled_record({"$type": "app.bsky.graph.follow", "subject": "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb",
                                             "createdAt": "2023-01-01T00:00:00Z"},
                                            "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.graph.follow/3k", "bafyx")
    assert follow["subject"] == "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb" and follow["synctimestamp"] == "2023-01-15-00:00:00"


def test_read_car_matches_inspect_count_and_detects_corruption(tmp_path):
    import conftest
    car = f"{conftest.FIXTURES}/cars/repo-stream__little.car"
    records = list(bb.read_car(car))
    assert len(records) == 278 and len({r["uri"] for r in records}) == 278
    assert all("record_type" in r and "synctimestamp" in r for r in records)
    data = bytearray(open(car, "rb").read())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.car"
    bad.write_bytes(bytes(data))
    with pytest.raises(bb.RepoVerificationError, match="offset"):
        list(bb.read_car(bad))


def test_read_car_reports_a_cut_file_and_a_missing_one_as_inspect_does(tmp_path):
    import conftest
    car = f"{conftest.FIXTURES}/cars/repo-stream__little.car"
    cut = tmp_path / "cut.car"
    cut.write_bytes(open(car, "rb").read()[:20000])
    # The records before the cut may come out; the end of the stream must not pass for the end of the repo.
    with pytest.raises(bb.RepoVerificationError, match=r"cut\.car: offset \d+: the stream ends inside a section"):
        list(bb.read_car(cut))
    with pytest.raises(bb.RepoVerificationError, match=r"nothere\.car: cannot open: No such file"):
        list(bb.read_car(tmp_path / "nothere.car"))
