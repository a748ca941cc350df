"""Idle memory per socket of a running server: opens N WebSocket connections to it (raw
asyncio TCP, no library), optionally with padding header fields, a subprotocol and one
message each, waits, and prints the growth of the server's RSS divided by N.

    python3 benches/tools/idle_sockets.py PORT PATH N PID [PADDING_BYTES [SUBPROTOCOL]]
    ECHO=1 python3 ...   # each socket sends one message first (a ping request for the protocol)

BENCHMARKS.md ("Idle memory of a protocol socket") runs it against release builds of the
examples. Linux only (it reads /proc/PID/status).
"""

import asyncio
import base64
import os
import sys
import time

port, path, count, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
padding = int(sys.argv[5]) if len(sys.argv) > 5 else 0
subprotocol = sys.argv[6] if len(sys.argv) > 6 else ""
send_one = os.environ.get("ECHO") == "1"


def rss():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def open_one():
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if subprotocol:
        head += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    for k in range(padding // 1000):
        head += f"X-Pad-{k}: " + "a" * 990 + "\r\n"
    writer.write((head + "\r\n").encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert b" 101 " in response.split(b"\r\n")[0], response[:200]
    if send_one:
        payload = b'{"type":"ping","id":1}' if subprotocol else b"hello"
        mask = os.urandom(4)
        masked = bytes(b ^ mask[j % 4] for j, b in enumerate(payload))
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        await writer.drain()
    return reader, writer


async def main():
    time.sleep(0.5)
    before = rss()
    sockets = []
    for _ in range(0, count, 100):
        sockets += await asyncio.gather(*[open_one() for _ in range(100)])
    await asyncio.sleep(3)
    for reader, _ in sockets:  # what the server sent (a welcome, an echo)
        try:
            await asyncio.wait_for(reader.read(65536), 0.001)
        except asyncio.TimeoutError:
            pass
    await asyncio.sleep(2)
    after = rss()
    print(f"{path} padding={padding} subprotocol={subprotocol!r} one message={send_one}: "
          f"{(after - before) / count:.0f} B per socket")
    for _, writer in sockets:
        writer.close()


asyncio.run(main())
