"""A client of the topics protocol written from PROTOCOL.md alone, in another language
than the server, that checks every message, error code and recovery row the spec names
against the reference server (examples/topics.rs), whose methods (echo, echo.bytes,
sleep, fail, whoami) are there for clients to try calls with.

Run by `cargo test --test it -- --ignored client_python`, which builds the server and
names it in TOPICS_SERVER; by hand: `TOPICS_SERVER=target/debug/examples/topics python3
tests/protocol/spec_client.py`. Needs Python 3.9+ and `websockets` (PyPI).
"""

import asyncio
import json
import os
import re
import struct
import subprocess
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "tower-websockets.topics.v1"
WAIT = 10  # seconds: every wait has a deadline


class Server:
    """The reference server on a free port, with `env` beside it."""

    def __init__(self, **env):
        binary = os.environ["TOPICS_SERVER"]
        self.process = subprocess.Popen(
            [binary],
            env={**os.environ, "PORT": "0", **{k: str(v) for k, v in env.items()}},
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        found = re.search(r"ws://localhost:(\d+)/topics", line)
        assert found, f"no address in {line!r}"
        self.url = f"ws://127.0.0.1:{found.group(1)}/topics"

    def stop(self):
        self.process.kill()
        self.process.wait(WAIT)


class Peer:
    """One connection: requests with ids of its own, and what the server sends."""

    def __init__(self, socket, welcome):
        self.socket = socket
        self.welcome = welcome
        self.next_id = 1

    @classmethod
    async def open(cls, url):
        socket = await asyncio.wait_for(connect(url, subprotocols=[SUBPROTOCOL], max_size=None), WAIT)
        assert socket.subprotocol == SUBPROTOCOL
        peer = cls(socket, None)
        peer.welcome = await peer.next()
        return peer

    async def send(self, message):
        await self.socket.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def ask(self, kind, **fields):
        request_id = self.next_id
        self.next_id += 1
        await self.send({"type": kind, "id": request_id, **fields})
        return request_id

    async def next(self):
        raw = await asyncio.wait_for(self.socket.recv(), WAIT)
        if isinstance(raw, str):
            return json.loads(raw)
        (length,) = struct.unpack(">I", raw[:4])
        header = json.loads(raw[4 : 4 + length].decode())
        header["bytes"] = raw[4 + length :]
        return header

    async def reply(self, kind, **fields):
        """Sends a request and returns its reply, skipping publications that come first."""
        request_id = await self.ask(kind, **fields)
        while True:
            message = await self.next()
            if message["type"] != "publication":
                assert message["id"] == request_id, message
                return message

    async def close(self):
        await self.socket.close()


def binary(header, payload):
    encoded = json.dumps(header).encode()
    return struct.pack(">I", len(encoded)) + encoded + payload


async def check_welcome_and_messages(url):
    peer = await Peer.open(url)
    welcome = peer.welcome
    assert welcome["type"] == "welcome" and welcome["version"] == 1, welcome
    for limit in ("message_size", "publication_size", "subscriptions", "publish_topics", "publish_rate"):
        assert isinstance(welcome["limits"][limit], int), welcome

    subscribed = await peer.reply("subscribe", topic="room")
    assert subscribed["topic"] == "room" and subscribed["offset"] == 0, subscribed
    assert isinstance(subscribed["epoch"], str) and "recovered" not in subscribed
    epoch = subscribed["epoch"]

    # A fresh topic's first publication has offset 1; unknown fields are ignored.
    request_id = await peer.ask("publish", topic="room", data={"text": "hi"}, future_field=[1])
    got = [await peer.next(), await peer.next()]
    published = next(m for m in got if m["type"] == "published")
    publication = next(m for m in got if m["type"] == "publication")
    assert published == {"type": "published", "id": request_id, "topic": "room", "epoch": epoch, "offset": 1}
    assert publication == {"type": "publication", "topic": "room", "epoch": epoch, "offset": 1, "data": {"text": "hi"}}

    # null is a JSON value like any other.
    request_id = await peer.ask("publish", topic="room", data=None)
    got = [await peer.next(), await peer.next()]
    assert {m["type"] for m in got} == {"published", "publication"}
    assert next(m for m in got if m["type"] == "publication")["data"] is None

    # Bytes: a binary publish, a binary publication.
    await peer.send(binary({"type": "publish", "id": 90, "topic": "room"}, b"\x01\x02\x03"))
    got = [await peer.next(), await peer.next()]
    published = next(m for m in got if m["type"] == "published")
    publication = next(m for m in got if m["type"] == "publication")
    assert published["id"] == 90 and published["offset"] == 3
    assert publication["bytes"] == b"\x01\x02\x03" and publication["offset"] == 3 and "data" not in publication

    # Publishing without subscribing; the publisher is not a subscriber there.
    other = await peer.reply("publish", topic="elsewhere", data=1)
    assert other["type"] == "published" and other["offset"] == 1

    # ping and pong.
    pong = await peer.reply("ping")
    assert pong == {"type": "pong", "id": pong["id"]}

    # Replies in the order of the requests.
    ids = [await peer.ask("ping") for _ in range(5)] + [await peer.ask("subscribe", topic="room")]
    replies = [await peer.next() for _ in ids]
    assert [r["id"] for r in replies] == ids, replies
    assert replies[-1]["code"] == "already_subscribed"

    assert (await peer.reply("unsubscribe", topic="room"))["type"] == "unsubscribed"
    await peer.close()


async def check_errors(url):
    peer = await Peer.open(url)

    async def error(message, expected_id, code):
        await peer.send(message)
        reply = await peer.next()
        assert reply["type"] == "error", (message, reply)
        assert reply["id"] == expected_id and reply["code"] == code, (message, reply)
        assert isinstance(reply["message"], str) and reply["message"]

    await error("not json", None, "bad_request")
    await error("[1]", None, "bad_request")
    await error({"id": 1, "topic": "a"}, 1, "bad_request")  # no type
    await error({"type": 7, "id": 2, "topic": "a"}, 2, "bad_request")  # type not a string
    await error({"type": "subscribe", "topic": "a"}, None, "bad_request")  # no id
    await error({"type": "subscribe", "id": "3", "topic": "a"}, None, "bad_request")  # id not an integer
    await error({"type": "subscribe", "id": 4, "topic": 42}, 4, "bad_request")
    await error({"type": "subscribe", "id": 5}, 5, "bad_request")
    await error({"type": "subscribe", "id": 6, "topic": "a", "since": {"epoch": "e"}}, 6, "bad_request")
    await error({"type": "publish", "id": 7, "topic": "a"}, 7, "bad_request")  # no data
    await error(b"\x00\x00", None, "bad_request")
    await error(b"\x00\x00\x00\x09{}", None, "bad_request")
    await error(binary({"type": "subscribe", "id": 8, "topic": "a"}, b"x"), 8, "bad_request")
    await error(binary({"type": "publish", "id": 9, "topic": "a", "data": 1}, b"x"), 9, "bad_request")
    await error({"type": "dance", "id": 10}, 10, "unknown_type")
    await error({"type": "subscribe", "id": 11, "topic": ""}, 11, "invalid_topic")
    await error({"type": "subscribe", "id": 12, "topic": "x" * 1025}, 12, "invalid_topic")
    await error({"type": "publish", "id": 13, "topic": "server:news", "data": 1}, 13, "forbidden")
    await error({"type": "unsubscribe", "id": 14, "topic": "never"}, 14, "not_subscribed")
    size = peer.welcome["limits"]["publication_size"]
    await error({"type": "publish", "id": 15, "topic": "a", "data": "x" * (size - 1)}, 15, "too_large")
    await error(binary({"type": "publish", "id": 16, "topic": "a"}, b"x" * (size + 1)), 16, "too_large")

    # The session went on through every error: a subscribe still works, and `server:`
    # topics may be read.
    assert (await peer.reply("subscribe", topic="server:news"))["type"] == "subscribed"

    # Subscriptions up to the limit, then too_many_subscriptions.
    limit = peer.welcome["limits"]["subscriptions"]
    ids = [await peer.ask("subscribe", topic=f"s{i}") for i in range(limit)]
    replies = [await peer.next() for _ in ids]
    assert [r["type"] for r in replies].count("subscribed") == limit - 1
    assert replies[-1]["code"] == "too_many_subscriptions" and replies[-1]["id"] == ids[-1]

    # Distinct topics published to, up to the limit, then too_many_topics.
    topics = peer.welcome["limits"]["publish_topics"]
    ids = [await peer.ask("publish", topic=f"p{i}", data=i) for i in range(topics + 1)]
    replies = [await peer.next() for _ in ids]
    assert [r["type"] for r in replies[:-1]] == ["published"] * topics, replies
    assert replies[-1]["code"] == "too_many_topics"
    # Its topics stay open to it.
    assert (await peer.reply("publish", topic="p0", data=0))["type"] == "published"

    # A message over message_size closes the connection with 1009.
    await peer.send({"type": "publish", "id": 99, "topic": "a", "data": "x" * peer.welcome["limits"]["message_size"]})
    try:
        while True:
            await peer.next()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1009, closed


async def check_rate_limited(url):
    peer = await Peer.open(url)
    assert peer.welcome["limits"]["publish_rate"] == 0
    reply = await peer.reply("publish", topic="a", data=1)
    assert reply["code"] == "rate_limited", reply
    await peer.close()


async def check_unavailable(url):
    # At most one topic keeps history, and its one has a subscriber: no room for another.
    peer = await Peer.open(url)
    await peer.reply("subscribe", topic="kept")
    assert (await peer.reply("publish", topic="kept", data=1))["type"] == "published"
    reply = await peer.reply("publish", topic="another", data=1)
    assert reply["code"] == "unavailable", reply
    await peer.close()


async def check_recovery(url, kept):
    writer = await Peer.open(url)

    async def publish(topic, numbers):
        for n in numbers:
            assert (await writer.reply("publish", topic=topic, data=n))["type"] == "published"

    async def publications(peer, count):
        got = [await peer.next() for _ in range(count)]
        assert all(m["type"] == "publication" for m in got), got
        return got

    # Row 1: the same epoch, everything kept: recovered, each missed one once, in order,
    # then the live ones.
    reader = await Peer.open(url)
    start = await reader.reply("subscribe", topic="r1")
    await publish("r1", [1, 2, 3])
    last = (await publications(reader, 3))[-1]
    await reader.close()
    await publish("r1", [4, 5])
    back = await Peer.open(url)
    since = {"epoch": last["epoch"], "offset": last["offset"]}
    reply = await back.reply("subscribe", topic="r1", since=since)
    assert reply["recovered"] is True and reply["replayed"] == 2 and reply["offset"] == 5, reply
    assert reply["epoch"] == start["epoch"]
    replayed = await publications(back, 2)
    assert [(m["offset"], m["data"]) for m in replayed] == [(4, 4), (5, 5)]
    await publish("r1", [6])
    assert (await publications(back, 1))[0]["offset"] == 6
    await back.close()

    # Row 2: the same epoch, some no longer kept: not recovered, the kept ones replayed.
    reader = await Peer.open(url)
    start = await reader.reply("subscribe", topic="r2")
    await reader.close()
    await publish("r2", range(1, kept + 6))
    back = await Peer.open(url)
    since = {"epoch": start["epoch"], "offset": 0}
    reply = await back.reply("subscribe", topic="r2", since=since)
    assert reply["recovered"] is False and reply["replayed"] == kept, reply
    replayed = await publications(back, kept)
    assert [m["offset"] for m in replayed] == list(range(6, kept + 6))
    await back.close()

    # Row 3: another epoch, or an offset past the stream's end: not recovered, nothing.
    back = await Peer.open(url)
    for since in ({"epoch": "another", "offset": 1}, {"epoch": start["epoch"], "offset": kept + 100}):
        reply = await back.reply("subscribe", topic="r2", since=since)
        assert (reply["recovered"], reply["replayed"]) == (False, 0), reply
        assert reply["offset"] == kept + 5
        await back.reply("unsubscribe", topic="r2")
    await back.close()

    # Row 4: a topic without history: no positions, never recovered.
    reader = await Peer.open(url)
    reply = await reader.reply("subscribe", topic="live:x")
    assert "epoch" not in reply and "offset" not in reply, reply
    published = await writer.reply("publish", topic="live:x", data=1)
    assert "epoch" not in published and "offset" not in published
    publication = (await publications(reader, 1))[0]
    assert "epoch" not in publication and "offset" not in publication
    await reader.close()
    back = await Peer.open(url)
    reply = await back.reply("subscribe", topic="live:x", since={"epoch": "e", "offset": 0})
    assert (reply["recovered"], reply["replayed"]) == (False, 0), reply
    await back.close()

    # A client that subscribed before the topic's first publication recovers it from
    # offset 0 of the epoch it was given.
    reader = await Peer.open(url)
    start = await reader.reply("subscribe", topic="r5")
    await reader.close()
    await publish("r5", ["first"])
    back = await Peer.open(url)
    reply = await back.reply("subscribe", topic="r5", since={"epoch": start["epoch"], "offset": 0})
    assert (reply["recovered"], reply["replayed"]) == (True, 1), reply
    assert (await publications(back, 1))[0]["data"] == "first"
    await back.close()
    await writer.close()


async def check_calls(url):
    peer = await Peer.open(url + "?user=ada")
    assert isinstance(peer.welcome["connection"], str) and peer.welcome["connection"]
    assert peer.welcome["user"] == "ada", peer.welcome
    other = await Peer.open(url)
    assert other.welcome["connection"] != peer.welcome["connection"]
    assert "user" not in other.welcome, other.welcome
    await other.close()

    async def answer(call_id):
        reply = await peer.next()
        assert reply["id"] == call_id, reply
        return reply

    # A result: any JSON, `null` and no params at all included.
    for params in [{"a": [1, 2.5, "three"]}, None, "text"]:
        call_id = await peer.ask("call", method="echo", params=params)
        assert await answer(call_id) == {"type": "result", "id": call_id, "result": params}
    call_id = await peer.ask("call", method="echo")
    assert (await answer(call_id))["result"] is None
    call_id = await peer.ask("call", method="whoami")
    result = (await answer(call_id))["result"]
    assert result == {"connection": peer.welcome["connection"], "user": "ada"}, result

    # Bytes both ways, in binary messages.
    await peer.send(binary({"type": "call", "id": 500, "method": "echo.bytes"}, b"\x00\x01\xff"))
    reply = await answer(500)
    assert (reply["type"], reply["bytes"]) == ("result", b"\x00\x01\xff"), reply
    await peer.send(binary({"type": "call", "id": 501, "method": "echo.bytes", "params": 1}, b"x"))
    assert (await answer(501))["code"] == "bad_request"

    # Errors: the method's own code, and the protocol's.
    for fields, code in [
        ({"method": "fail", "params": "not_found"}, "not_found"),
        ({"method": "no.such.method"}, "unknown_method"),
        ({"method": "sleep", "params": "soon"}, "bad_params"),
        ({"method": "echo.bytes", "params": 1}, "bad_params"),
        ({"params": 1}, "bad_request"),
        ({"method": ""}, "bad_request"),
        ({"method": "x" * 257}, "bad_request"),
    ]:
        call_id = await peer.ask("call", **fields)
        reply = await answer(call_id)
        assert (reply["type"], reply["code"]) == ("error", code), (fields, reply)
        assert isinstance(reply["message"], str)

    # Calls run at once: a fast one sent after a slow one, and a ping, are answered while
    # the slow one runs. A cancelled call is answered `cancelled`, once; a cancel of an
    # answered call, not at all.
    long = await peer.ask("call", method="sleep", params=60000)
    fast = await peer.ask("call", method="echo", params=1)
    ping = await peer.ask("ping")
    replies = [await peer.next() for _ in range(2)]
    assert {r["id"] for r in replies} == {fast, ping}, replies
    await peer.send({"type": "cancel", "id": long})
    reply = await answer(long)
    assert reply["code"] == "cancelled", reply
    short = await peer.ask("call", method="sleep", params=50)
    assert await answer(short) == {"type": "result", "id": short, "result": 50}
    await peer.send({"type": "cancel", "id": long})
    await peer.send({"type": "cancel", "id": fast})
    ping = await peer.ask("ping")
    assert (await answer(ping))["type"] == "pong"

    # The server calls this client (`invoke`, answered by `return`), from inside a call:
    # with a result, bytes, an error, and a late answer of an `invoke` left unanswered.
    ask = await peer.ask("call", method="ask", params={"method": "double", "params": 21})
    invoke = await peer.next()
    assert (invoke["type"], invoke["method"], invoke["params"]) == ("invoke", "double", 21), invoke
    await peer.send({"type": "return", "id": invoke["id"], "result": 42})
    assert await answer(ask) == {"type": "result", "id": ask, "result": 42}
    ask = await peer.ask("call", method="ask", params={"method": "refuse"})
    invoke = await peer.next()
    assert invoke["params"] is None, invoke
    await peer.send({"type": "return", "id": invoke["id"], "error": {"code": "unknown_method", "message": "no"}})
    reply = await answer(ask)
    assert (reply["type"], reply["code"]) == ("error", "unknown_method"), reply
    ask = await peer.ask("call", method="ask", params={"method": "bytes"})
    invoke = await peer.next()
    await peer.send(binary({"type": "return", "id": invoke["id"]}, b"\x01"))
    reply = await answer(ask)
    assert (reply["type"], reply["code"]) == ("error", "bad_result"), reply  # `ask` wants JSON
    # A message, with no answer.
    notify = await peer.ask("call", method="notify", params={"hi": [1]})
    first, second = await peer.next(), await peer.next()
    assert {first["type"], second["type"]} == {"message", "result"}, (first, second)
    message = first if first["type"] == "message" else second
    assert message["data"] == {"hi": [1]}, message

    # A call with the id of a running one is refused; past the bound, too_many_calls.
    running = [await peer.ask("call", method="sleep", params=60000) for _ in range(16)]
    await peer.send({"type": "call", "id": running[0], "method": "echo"})
    assert (await answer(running[0]))["code"] == "bad_request"
    extra = await peer.ask("call", method="echo")
    assert (await answer(extra))["code"] == "too_many_calls"
    for call_id in running:
        await peer.send({"type": "cancel", "id": call_id})
        assert (await answer(call_id))["code"] == "cancelled"
    await peer.close()


async def check_call_timeout(url):
    peer = await Peer.open(url)
    call_id = await peer.ask("call", method="sleep", params=60000)
    reply = await peer.next()
    assert (reply["id"], reply["code"]) == (call_id, "timeout"), reply
    await peer.close()


async def main():
    kept = 5
    servers = [
        Server(HISTORY=kept, PUBLISH_RATE=100000),
        Server(PUBLISH_RATE=0),
        Server(MAX_HISTORIES=1, PUBLISH_RATE=100000),
        Server(CALL_TIMEOUT_MS=200),
    ]
    checks = 0
    failed = 0
    try:
        for name, check in [
            ("welcome, every message, order", check_welcome_and_messages(servers[0].url)),
            ("every error code but two, and 1009", check_errors(servers[0].url)),
            ("rate_limited", check_rate_limited(servers[1].url)),
            ("unavailable", check_unavailable(servers[2].url)),
            ("every recovery row", check_recovery(servers[0].url, kept)),
            ("calls: results, bytes, every call error code, concurrency, cancel", check_calls(servers[0].url)),
            ("timeout", check_call_timeout(servers[3].url)),
        ]:
            checks += 1
            try:
                await asyncio.wait_for(check, 120)
                print(f"ok: {name}")
            except Exception as error:  # report every check, then fail
                failed += 1
                print(f"FAILED: {name}: {error!r}")
    finally:
        for server in servers:
            server.stop()
    print(f"{checks - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
