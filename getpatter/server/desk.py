"""The server's side of every carrier: calls arriving, their media streams, what the carrier says.

A carrier's routes (``getpatter/carriers/<name>/``) check and parse what the carrier sends, then
tell the :class:`ServerDesk`; the desk finds or makes the call's session and tells it. The desk
knows no carrier: it works in the neutral words of :mod:`getpatter.carriers.base`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket

from getpatter.carriers.base import (
    CallSnapshot,
    KeyPressed,
    MalformedFrame,
    MarkPlayed,
    MediaCodec,
    StreamStarted,
    StreamStopped,
    TransferEnded,
)
from getpatter.errors import PatterError
from getpatter.server.registry import TOKEN_TTL_SECONDS, CallRegistry

if TYPE_CHECKING:
    from getpatter.session import CallSession

__all__ = ["ServerDesk"]

logger = logging.getLogger("getpatter.server")

#: The WebSocket close code for a message over the size limit (RFC 6455).
_MESSAGE_TOO_BIG = 1009


class _MediaOut:
    """Agent audio, marks and clears of one call, as the carrier's wire messages."""

    __slots__ = ("_codec", "_send")

    def __init__(self, websocket: WebSocket, codec: MediaCodec) -> None:
        self._send = websocket.send_text
        self._codec = codec

    async def send_audio(self, frame: bytes) -> None:
        await self._send(self._codec.audio(frame))

    async def send_mark(self, name: str) -> None:
        await self._send(self._codec.mark(name))

    async def send_clear(self) -> None:
        await self._send(self._codec.clear())


class ServerDesk:
    """Implements :class:`~getpatter.carriers.base.CallDesk` for one server.

    ``new_inbound_call(caller, callee, call_id)`` builds the session of a call ringing in;
    ``on_media_start(session)`` runs when a call's stream starts; ``on_transfer_ended`` when
    the leg of a transfer ends. ``verify_call(call_id)``, when given, asks the carrier about a
    new inbound call before a session and a media token are made for it.
    """

    def __init__(
        self,
        *,
        public_host: Callable[[], str],
        registry: CallRegistry,
        new_inbound_call: Callable[[str, str, str], CallSession],
        on_media_start: Callable[[CallSession], Awaitable[None]] | None = None,
        on_transfer_ended: Callable[[TransferEnded], None] | None = None,
        verify_call: Callable[[str], Awaitable[CallSnapshot | None]] | None = None,
    ) -> None:
        self._public_host = public_host
        self.registry = registry
        self._new_inbound_call = new_inbound_call
        self._on_media_start = on_media_start
        self._on_transfer_ended = on_transfer_ended
        self._verify_call = verify_call
        self._verifying: set[str] = set()
        self.rejected_webhooks = 0
        """Requests refused: bad signatures, replays, media upgrades without a valid token."""
        self._accepting = True

    @property
    def accepting(self) -> bool:
        """False while the server stops: new calls are refused."""
        return self._accepting

    def stop_accepting(self) -> None:
        """The server is stopping: refuse new calls from now on."""
        self._accepting = False

    def public_url(self, path: str, **query: str) -> str:
        """The public ``https://`` URL of ``path``."""
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"https://{self._public_host()}{path}" + (f"?{suffix}" if suffix else "")

    def media_url(self, path: str, session: CallSession) -> str:
        """A single-use ``wss://`` media URL for ``session``; the session now expects it."""
        token = self.registry.mint_token(session)
        session.expect_media(TOKEN_TTL_SECONDS)
        return f"wss://{self._public_host()}{path}/{token}"

    def note_rejected(self, reason: str, *, path: str = "") -> None:
        """Count and log a refused request."""
        self.rejected_webhooks += 1
        logger.warning("rejected a request%s: %s", f" to {path}" if path else "", reason)

    # ------------------------------------------------------------------ calls

    async def incoming(
        self, call_id: str, caller: str, callee: str, *, patter_id: str = ""
    ) -> CallSession | None:
        """The session of a call asking for its media stream, or ``None`` to refuse it."""
        if not self._accepting:
            return None
        session = self.registry.find(patter_id=patter_id, call_sid=call_id)
        if session is not None and session.media_offered:
            self._replayed(call_id, "is in progress")
            return None
        if session is not None:
            if not session.call_sid:
                self.registry.bind_sid(session, call_id)
            return session
        if patter_id:
            logger.warning("webhook for unknown outbound call %s: refused", patter_id)
            return None
        if self.registry.has_seen(call_id):
            self._replayed(call_id, "has ended")
            return None
        if call_id in self._verifying:
            self._replayed(call_id, "is being checked")
            return None
        if self._verify_call is not None and not await self._verified(call_id, caller, callee):
            self.rejected_webhooks += 1
            return None
        return self._new_inbound_call(caller, callee, call_id)

    async def _verified(self, call_id: str, caller: str, callee: str) -> bool:
        """Whether the carrier has ``call_id`` live between these numbers. Fails closed.

        A signed webhook captured earlier and replayed for a call Patter never saw passes the
        signature check; the carrier's own record of the call does not lie.
        """
        assert self._verify_call is not None
        self._verifying.add(call_id)
        try:
            snapshot = await self._verify_call(call_id)
        except PatterError as exc:
            logger.warning(
                "call %s: could not check it with the carrier (%s): refused", call_id, exc
            )
            return False
        finally:
            self._verifying.discard(call_id)
        if (
            snapshot is None
            or not snapshot.live
            or snapshot.to not in (None, callee)
            or snapshot.from_ not in (None, caller)
        ):
            logger.warning(
                "call %s, which the carrier does not have live between %s and %s: refused",
                call_id,
                caller,
                callee,
            )
            return False
        return True

    def _replayed(self, call_id: str, state: str) -> None:
        self.rejected_webhooks += 1
        logger.warning(
            "a new-call webhook for call %s, which %s, came again: ignored (a replayed request?)",
            call_id,
            state,
        )

    def find(self, call_id: str, *, patter_id: str = "") -> CallSession | None:
        """The live call ``call_id`` (or the dialed call ``patter_id``), if any."""
        return self.registry.find(patter_id=patter_id, call_sid=call_id)

    async def call_state(
        self, call_id: str, state: str, *, duration: int | None = None, patter_id: str = ""
    ) -> None:
        """The carrier reports ``state`` for ``call_id`` (or the dialed call ``patter_id``)."""
        session = self.registry.find(patter_id=patter_id, call_sid=call_id)
        if session is not None:
            await session.on_status(state, duration)

    def machine_detected(
        self, call_id: str, result: str, *, greeting_ended: bool, patter_id: str = ""
    ) -> None:
        """The carrier's machine detection result for ``call_id``."""
        session = self.registry.find(patter_id=patter_id, call_sid=call_id)
        if session is not None:
            session.on_amd(result, greeting_ended=greeting_ended)

    async def key_pressed(self, call_id: str, digit: str, *, patter_id: str = "") -> None:
        """The caller pressed ``digit`` (reported outside the media stream)."""
        session = self.registry.find(patter_id=patter_id, call_sid=call_id)
        if session is not None:
            await session.on_dtmf(digit)

    def recording_ready(
        self, call_id: str, details: dict[str, object], *, patter_id: str = ""
    ) -> None:
        """A recording of ``call_id`` is ready; a finished call's small record takes it then."""
        call = self.registry.find(patter_id=patter_id, call_sid=call_id) or (
            self.registry.find_finished(patter_id=patter_id, call_sid=call_id)
        )
        if call is not None:
            call.on_recording(dict(details))

    def transfer_ended(self, ended: TransferEnded) -> None:
        """The leg a call was transferred to has ended."""
        if self._on_transfer_ended is not None:
            self._on_transfer_ended(ended)

    # ------------------------------------------------------------------ media

    async def relay_media(self, websocket: WebSocket, codec: MediaCodec) -> None:
        """Run one media WebSocket until it ends; refused before it opens without a token."""
        session = self.registry.claim_token(websocket.path_params.get("token", ""))
        if session is None:
            self.note_rejected("a media stream without a valid token")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        try:
            await self._relay(websocket, session, codec)
        finally:
            await session.on_media_stopped()

    async def _relay(self, websocket: WebSocket, session: CallSession, codec: MediaCodec) -> None:
        started = False
        while not session.finished:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                if message.get("code") == _MESSAGE_TOO_BIG:
                    # The server had to close the stream: the frame is lost, and so is the call.
                    session.malformed_frames += 1
                    await session.media_failed(
                        "a media message was over the size limit, so the media stream was closed"
                    )
                return
            raw = message.get("text")
            try:
                event = codec.decode(raw if raw is not None else message.get("bytes") or b"")
            except MalformedFrame as exc:
                session.malformed_frames += 1
                logger.debug("skipped a malformed media frame: %s", exc.reason)
                continue
            if type(event) is bytes:
                await session.on_media(event)
            elif isinstance(event, MarkPlayed):
                session.on_mark(event.name)
            elif isinstance(event, KeyPressed):
                await session.on_dtmf(event.digit)
            elif isinstance(event, StreamStarted):
                if session.call_sid and event.call_id != session.call_sid:
                    logger.warning(
                        "media stream for %s presented a token of %s",
                        event.call_id,
                        session.call_sid,
                    )
                    return
                if started:
                    continue  # a second start on the same stream: ignore it
                started = True
                out = _MediaOut(websocket, codec)
                if (
                    session.start_media(out, event.custom_parameters, codec.audio_format)
                    and self._on_media_start is not None
                ):
                    session.run_in_background(self._on_media_start(session))
            elif isinstance(event, StreamStopped):
                return
