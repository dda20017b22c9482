#!/usr/bin/env python3
"""Writes hostile-size repo CARs for tests/cli/hostile_test.sh.

  hostile_car.py huge-block OUT            a section whose length varint claims 2 GiB
  hostile_car.py deep-record OUT DEPTH     a valid repo whose one record nests DEPTH arrays

Every other block is well formed and every CID is the SHA-256 of its block, so
the reader gets as far as the hostile part. Prints "offset=N cid=C": the byte
offset of the hostile section and (for deep-record) the record's CID, which the
reader's error message must name.
"""
import base64
import hashlib
import sys

DID = "did:plc:" + ("hostile" * 4)[:24]
RKEY = "3jzfcijpj2z2a"
KEY = "app.bsky.feed.post/" + RKEY


def head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * size):
            return bytes([major << 5 | info]) + arg.to_bytes(size, "big")
    raise ValueError(arg)


def text(s):
    b = s.encode()
    return head(3, len(b)) + b


def byte_string(b):
    return head(2, len(b)) + b


def link(cid):
    return head(6, 42) + byte_string(b"\0" + cid)


def cid_of(block):
    return bytes([0x01, 0x71, 0x12, 0x20]) + hashlib.sha256(block).digest()


def cid_text(cid):
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def varint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def section(cid, block):
    return varint(len(cid) + len(block)) + cid + block


def header(root):
    return section(b"", head(5, 2) + text("roots") + head(4, 1) + link(root) + text("version") + head(0, 1))


def commit(data):
    # Canonical key order: shorter keys first, then bytewise.
    return (head(5, 6) + text("did") + text(DID) + text("rev") + text(RKEY) + text("sig") + byte_string(bytes(64))
            + text("data") + link(data) + text("prev") + b"\xf6" + text("version") + head(0, 3))


def deep_record(path, depth):
    record = head(5, 2) + text("text") + b"\x81" * depth + b"\xf6" + text("$type") + text("app.bsky.feed.post")
    record_cid = cid_of(record)
    node = (head(5, 2) + text("e") + head(4, 1)
            + head(5, 4) + text("k") + byte_string(KEY.encode()) + text("p") + head(0, 0) + text("t") + b"\xf6"
            + text("v") + link(record_cid) + text("l") + b"\xf6")
    root = commit(cid_of(node))
    before = header(cid_of(root)) + section(cid_of(root), root) + section(cid_of(node), node)
    with open(path, "wb") as f:
        f.write(before + section(record_cid, record))
    print(f"offset={len(before)} cid={cid_text(record_cid)}")


def huge_block(path):
    # A real commit first, so the file is a plausible repo up to the hostile section.
    root = commit(cid_of(b"\xa0"))
    before = header(cid_of(root)) + section(cid_of(root), root)
    with open(path, "wb") as f:
        f.write(before + varint(2**31) + bytes([0x01, 0x71, 0x12, 0x20]) + bytes(12))
    print(f"offset={len(before)} cid=")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "huge-block":
        huge_block(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "deep-record":
        deep_record(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
