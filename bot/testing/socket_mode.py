"""Slack's Socket Mode, played on loopback for the emulator (bot/testing/slack_emulator.py).

`apps.connections.open` hands the app a `ws://127.0.0.1:…/link/?ticket=…` URL served here. On each
connection the link says `hello`, then delivers envelopes the way Slack does (slash commands,
interactivity, Events API callbacks), each with an `envelope_id`, and checks what Slack checks of the
answer: an acknowledgement carrying the same `envelope_id`, within 3 seconds, with the
`response_action`/payload when there is one. It can also ask the app to reconnect (Slack's
`disconnect` message, reason `refresh_requested`) or drop the connection without a word, as a network
does; an envelope left unacknowledged is delivered again after the app reconnects (`retry_attempt`
counts up), as Slack redelivers it.

Several instances of the app may each hold connections at once (Slack allows up to ten per app): with
`spread` on, each envelope goes to one open connection in turn, as Slack hands each to one of them;
`served_by` says which connection (in the order they were opened) got it. What a closed connection
left unacknowledged goes to another open one, or to the next one opened.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.testing.slack_emulator import HttpResult, SignedSender, SlackEmulator

JSON = dict[str, Any]
ACK_WITHIN = 3.0  # seconds: Slack shows the user an error when an envelope is not acknowledged in time


class NotAcknowledged(AssertionError):
    """The app did not acknowledge an envelope within ACK_WITHIN seconds (or not with its id)."""


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: JSON | None  # what the app answered with (a slash command's message, a response_action...)
    seconds: float  # from the envelope's sending to its acknowledgement


class SocketModeLink:
    """The WebSocket side of Socket Mode for one emulated workspace."""

    def __init__(self, app_id: str = "A0CDP") -> None:
        self.app_id = app_id
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._connections: list[ServerConnection] = []  # open ones, oldest first
        self.opened = 0  # connections ever opened (a reconnection adds one)
        self._acks: dict[str, Ack] = {}
        self._sent_at: dict[str, float] = {}
        self._unacked: dict[str, JSON] = {}  # envelope id -> envelope, until acknowledged
        # Acknowledgements to lose (the app sent them, the network did not carry them): the envelope
        # stays unacknowledged and is delivered again on the next connection.
        self.lose_acks = 0
        self.lost: list[str] = []  # the envelopes whose acknowledgement was lost, in order
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.spread = False  # deliver to every open connection in turn, not only the newest
        self._turn = itertools.count()
        self._numbers: dict[ServerConnection, int] = {}  # connection -> its opening order, from 1
        self.served_by: dict[str, int] = {}  # envelope id -> the connection it was sent on

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> SocketModeLink:
        self._server = serve(self._serve, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def url(self, ticket: str) -> str:
        assert self._server is not None, "start() the link first"
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}"

    def _orphans(self) -> list[JSON]:
        """Unacknowledged envelopes whose connection is closed (under the lock)."""
        open_numbers = {self._numbers[c] for c in self._connections}
        return [e for eid, e in self._unacked.items() if self.served_by.get(eid) not in open_numbers]

    def _redeliver(self, envelopes: list[JSON], connection: ServerConnection) -> None:
        """Deliver again on `connection`, as Slack does what a closed connection left unacknowledged."""
        for envelope in envelopes:
            retry = {**envelope, "retry_attempt": int(envelope.get("retry_attempt", 0)) + 1}
            retry["retry_reason"] = "timeout"
            with self._lock:
                self._unacked[envelope["envelope_id"]] = retry
                self._sent_at[envelope["envelope_id"]] = time.monotonic()
                self.served_by[envelope["envelope_id"]] = self._numbers[connection]
            with contextlib.suppress(ConnectionClosed):
                connection.send(json.dumps(retry))

    def _serve(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            self.opened += 1
            self._numbers[connection] = self.opened
            unacked = self._orphans()
            self._lock.notify_all()
        try:
            connection.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._connections),
                        "debug_info": {"host": "emulated", "approximate_connection_time": 3600},
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            self._redeliver(unacked, connection)  # what a closed connection left unacknowledged
            for raw in connection:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
                # Another connection is open (another instance of the app): it gets what this one left.
                survivor = self._connections[-1] if self._connections else None
                left = self._orphans() if survivor is not None else []
                self._lock.notify_all()
            if survivor is not None:
                self._redeliver(left, survivor)

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            return
        with self._lock:
            sent = self._sent_at.get(envelope_id)
            if sent is None or envelope_id not in self._unacked:
                return  # an id Slack never sent, or acknowledged already: ignored, as Slack does
            if self.lose_acks > 0:
                self.lose_acks -= 1
                self.lost.append(envelope_id)
                self._lock.notify_all()
                return
            del self._unacked[envelope_id]
            self._acks[envelope_id] = Ack(envelope_id, message.get("payload"), time.monotonic() - sent)
            self._lock.notify_all()

    # ---- what tests do ---------------------------------------------------------------------
    def wait_connected(self, *, opened: int = 1, timeout: float = 30.0, open_now: int = 1) -> None:
        """Until `opened` connections were made in all and exactly `open_now` are open now (one per
        instance of the app). After a reconnection slack_sdk reads the new connection only once it has
        closed the old one (which waits for the old one's pending read, up to 3 s): envelopes sent
        before that would wait, so tests send after."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.opened < opened or len(self._connections) != open_now:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the app opened {self.opened} connection(s), not {opened}")
                self._lock.wait(left)

    def send(self, kind: str, payload: JSON, *, accepts_response_payload: bool = False) -> str:
        """Deliver one envelope (`events_api`, `slash_commands` or `interactive`); its envelope id."""
        return self.send_envelope(
            {
                "envelope_id": f"env-{next(self._ids)}-{int(time.time() * 1000)}",
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )

    def send_envelope(self, envelope: JSON) -> str:
        """Deliver `envelope` (its fields may be any a test chose: a payload of the wrong shape, say) on the
        newest connection (with `spread`, on each open connection in turn); its id, whose
        acknowledgement is awaited like any other's."""
        envelope_id = str(envelope["envelope_id"])
        with self._lock:
            connection = self._next_connection()
            self._unacked[envelope_id] = envelope
            self._sent_at[envelope_id] = time.monotonic()
            self.served_by[envelope_id] = self._numbers[connection]
        connection.send(json.dumps(envelope))
        return envelope_id

    def send_raw(self, text: str) -> None:
        """Send `text` as it is on the next connection: what a broken envelope looks like to the app."""
        with self._lock:
            connection = self._next_connection()
        connection.send(text)

    def _next_connection(self) -> ServerConnection:
        """The connection the next envelope goes on (under the lock)."""
        if not self._connections:
            raise AssertionError("no Socket Mode connection is open")
        if self.spread:
            return self._connections[next(self._turn) % len(self._connections)]
        return self._connections[-1]

    def ack_of(self, envelope_id: str, *, within: float = ACK_WITHIN) -> Ack:
        """The acknowledgement of `envelope_id`, which must come within `within` seconds of its (last)
        delivery, as Slack requires."""
        with self._lock:
            while envelope_id not in self._acks:
                left = self._sent_at[envelope_id] + within - time.monotonic()
                if left <= 0:
                    raise NotAcknowledged(f"envelope {envelope_id} was not acknowledged within {within} s")
                self._lock.wait(left)
            return self._acks[envelope_id]

    def deliver(self, kind: str, payload: JSON, *, accepts_response_payload: bool = False) -> Ack:
        """`send`, then its acknowledgement (checked as Slack checks it)."""
        return self.ack_of(self.send(kind, payload, accepts_response_payload=accepts_response_payload))

    def ask_to_reconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` message: the app opens a new connection, then this one is closed."""
        with self._lock:
            connection = self._connections[-1]
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "emulated"}}
        connection.send(json.dumps(message))

    def drop(self) -> None:
        """Cut the newest connection without a closing handshake, as a network failure does."""
        with self._lock:
            connection = self._connections[-1]
        # A reset (SO_LINGER 0), not a clean close: what a proxy or a network failure leaves the app with.
        with contextlib.suppress(OSError):
            connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            connection.socket.close()

    def acks(self) -> list[Ack]:
        """Every acknowledgement received, in order."""
        with self._lock:
            return list(self._acks.values())

    def wait_lost(self, count: int, *, timeout: float = ACK_WITHIN) -> None:
        """Until `count` acknowledgements were lost (see `lose_acks`): the app did acknowledge them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.lost) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotAcknowledged(f"{count - len(self.lost)} envelope(s) not acknowledged in time")
                self._lock.wait(left)

    @property
    def unacknowledged(self) -> list[str]:
        with self._lock:
            return list(self._unacked)


class SocketModeSender(SignedSender):
    """SignedSender's Slack-shaped requests (slash commands, interactivity, events and all its helpers),
    delivered as Socket Mode envelopes instead of HTTP posts. The answer is the acknowledgement's
    payload, as an HttpResult (200; a missing acknowledgement raises NotAcknowledged)."""

    def __init__(self, emulator: SlackEmulator) -> None:
        super().__init__("http://socket-mode.invalid", "unused", emulator)
        self.link: SocketModeLink = emulator.socket_mode

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResult:
        if content_type.startswith("application/json"):
            kind, payload, accepts = "events_api", json.loads(body), False
        else:
            fields = dict(parse_qsl(body, keep_blank_values=True))
            if "payload" in fields:
                kind, payload, accepts = "interactive", json.loads(fields["payload"]), True
            else:
                kind, payload, accepts = "slash_commands", fields, True
        ack = self.link.deliver(kind, payload, accepts_response_payload=accepts)
        return HttpResult(200, json.dumps(ack.payload) if ack.payload else "", {})
