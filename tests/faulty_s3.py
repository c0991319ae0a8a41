"""An HTTP proxy in front of the moto S3 server that throttles some requests and drops others, on a fixed
pattern: every `drop_every`-th request loses its connection with no answer, every `throttle_every`-th gets
S3's 503 SlowDown. The rest are passed through, one request per connection."""

import asyncio
import contextlib
import threading

SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
SLOW_DOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(SLOW_DOWN_BODY), SLOW_DOWN_BODY)
)


def headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}


async def read_body(reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
    """The request body as sent, chunk framing and trailers included."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        raw = b""
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    raw += trailer
                return raw + b"\r\n"
            raw += await reader.readexactly(size + 2)
    return await reader.readexactly(int(fields.get("content-length", 0)))


def for_upstream(head: bytes) -> bytes:
    """The request head with one request per connection and no 100-continue handshake (answered here)."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [line for line in lines[1:] if not line.lower().startswith((b"connection:", b"expect:"))]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


class Proxy:
    """A proxy on loopback in front of the moto server; a subclass says what it does to each request (answer)."""

    def __init__(self, upstream_port: int):
        self.upstream_port, self.port = upstream_port, 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(timeout=10)
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        return self

    def __exit__(self, *_) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def answer(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        await self.forward(head, body, writer)

    async def forward(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(for_upstream(head) + body)
        writer.write(await up_reader.read())
        up_writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            fields = headers(head)
            if fields.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await read_body(reader, fields)
            await self.answer(head, body, writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class FaultyProxy(Proxy):
    def __init__(self, upstream_port: int, throttle_every: int = 4, drop_every: int = 7):
        super().__init__(upstream_port)
        self.throttle_every, self.drop_every = throttle_every, drop_every
        self.counts = {"requests": 0, "throttled": 0, "dropped": 0}

    async def answer(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        self.counts["requests"] += 1
        number = self.counts["requests"]
        if number % self.drop_every == 0:
            self.counts["dropped"] += 1
            writer.transport.abort()  # the connection dies with no answer
        elif number % self.throttle_every == 0:
            self.counts["throttled"] += 1
            writer.write(SLOW_DOWN)
        else:
            await self.forward(head, body, writer)
