#!/usr/bin/env python3
"""Writes a large, valid repo CAR: N like records under a real Merkle Search
Tree (key heights from SHA-256, prefix-compressed entries, canonical DAG-CBOR),
for tests that must show memory stays bounded however large a repo is.

  big_repo_car.py OUT N      prints "records=N bytes=B"

The commit is unsigned (the tests run with verify_signatures: false, and
tests/support/fake_pds puts every tree under a commit of its own anyway).
"""
import hashlib
import sys

from hostile_car import cid_of, commit, head, header, link, section, text, byte_string

TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"


def tid(n):
    out = ""
    for _ in range(13):
        out = TID_CHARS[n & 31] + out
        n >>= 5
    return out


def height(key):
    digest = hashlib.sha256(key).digest()
    zeros = 0
    for b in digest:
        if b == 0:
            zeros += 4
            continue
        for shift in (6, 4, 2, 0):
            if (b >> shift) & 3:
                return zeros
            zeros += 1
        return zeros
    return zeros


def like(i):
    subject = ("at://did:plc:" + ("subject" * 4)[:24] + "/app.bsky.feed.post/" + tid(1 << 60 | i))
    return (head(5, 3) + text("$type") + text("app.bsky.feed.like")
            + text("subject") + head(5, 2) + text("cid") + text("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
            + text("uri") + text(subject)
            + text("createdAt") + text("2024-10-%02dT12:00:00.000Z" % (1 + i % 28)))


class Writer:
    def __init__(self, out):
        self.out = out

    def put(self, block):
        cid = cid_of(block)
        self.out.write(section(cid, block))
        return cid


def build(w, items, layer):
    """items: sorted (key, height, value_cid) all with height <= layer; returns the node's CID."""
    entries, left, current = [], None, []
    segments = []
    for item in items:
        if item[1] == layer:
            segments.append(current)
            entries.append(item)
            current = []
        else:
            current.append(item)
    segments.append(current)
    sub = [build(w, seg, layer - 1) if seg else None for seg in segments]
    left = sub[0]
    body = head(4, len(entries))
    previous = b""
    for (key, _, value), right in zip(entries, sub[1:]):
        p = 0
        while p < min(len(key), len(previous)) and key[p] == previous[p]:
            p += 1
        body += (head(5, 4) + text("k") + byte_string(key[p:]) + text("p") + head(0, p)
                 + text("t") + (link(right) if right else b"\xf6") + text("v") + link(value))
        previous = key
    node = head(5, 2) + text("e") + body + text("l") + (link(left) if left else b"\xf6")
    return w.put(node)


def main():
    out_path, n = sys.argv[1], int(sys.argv[2])
    with open(out_path + ".body", "wb") as body:
        w = Writer(body)
        items = []
        for i in range(n):
            key = ("app.bsky.feed.like/" + tid(1 << 62 | i * 7919)).encode()
            items.append((key, height(key), w.put(like(i))))
        items.sort()
        root = build(w, items, max(h for _, h, _ in items))
        commit_block = commit(root)
        commit_cid = w.put(commit_block)
    with open(out_path, "wb") as out, open(out_path + ".body", "rb") as body:
        out.write(header(commit_cid))
        while chunk := body.read(1 << 20):
            out.write(chunk)
    import os
    os.remove(out_path + ".body")
    print(f"records={n} bytes={os.path.getsize(out_path)}")


if __name__ == "__main__":
    main()
