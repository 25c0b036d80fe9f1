"""Paced outbound audio: frames at real-time speed, marks, clear, and what was played."""

import asyncio

from getpatter.session.outbound import OutboundAudio


class Recorder:
    def __init__(self):
        self.sent = []
        self.changed = asyncio.Event()

    def _add(self, kind, value):
        self.sent.append((kind, asyncio.get_running_loop().time(), value))
        self.changed.set()

    async def send_audio(self, frame):
        self._add("audio", frame)

    async def send_mark(self, name):
        self._add("mark", name)

    async def send_clear(self):
        self._add("clear", None)

    async def wait_until(self, predicate):
        async with asyncio.timeout(5):
            while not predicate(self.sent):
                self.changed.clear()
                await self.changed.wait()


async def test_frames_are_paced_marked_and_padded():
    media = Recorder()
    out = OutboundAudio(media)
    out.start()
    out.push("item1", b"\x01" * 400)  # 2.5 frames of 20 ms
    out.end_item("item1")
    await media.wait_until(lambda sent: [s[0] for s in sent].count("audio") == 3)
    await out.stop()
    audio = [s for s in media.sent if s[0] == "audio"]
    marks = [s[2] for s in media.sent if s[0] == "mark"]
    assert [len(a[2]) for a in audio] == [160, 160, 160]
    assert audio[2][2] == b"\x01" * 80 + b"\xff" * 80
    assert marks == ["1", "2", "3"]
    # Paced, never ahead of real time (a busy machine may make a frame late, never early).
    offsets = [frame[1] - audio[0][1] for frame in audio]
    assert all(offset >= n * 0.020 - 0.005 for n, offset in enumerate(offsets))
    assert out.speaking
    for name in marks[:2]:
        out.on_mark(name)
    assert out.played_ms("item1") == 40 and out.current_item() == "item1"
    out.on_mark("3")
    assert out.played_ms("item1") == 60 and not out.speaking


async def test_clear_drops_queued_audio_and_forgets_pending_marks():
    media = Recorder()
    out = OutboundAudio(media)
    out.start()
    out.push("a", b"\x02" * 1600)
    await media.wait_until(lambda sent: any(s[0] == "mark" for s in sent))
    await out.clear()
    out.on_mark("1")  # echoed because of the clear: not "played"
    await asyncio.sleep(0.06)
    await out.stop()
    kinds = [s[0] for s in media.sent]
    assert "audio" not in kinds[kinds.index("clear") :]  # nothing queued was sent after the clear
    assert out.played_ms("a") == 0 and not out.speaking


async def test_a_caller_frame_sends_the_next_frame_if_due_within_a_frame():
    media = Recorder()
    # One-second frames: the pacer's own timer does not fire during this test.
    out = OutboundAudio(media, frame_size=4, frame_ms=1000)
    out.start()
    out.push("a", b"\x01" * 12)
    await media.wait_until(lambda sent: [s[0] for s in sent].count("audio") == 1)

    async def audio_after_caller_frame():
        out.on_caller_frame()
        for _ in range(5):  # a few turns of the event loop, far less than a frame
            await asyncio.sleep(0)
        return [s[0] for s in media.sent].count("audio")

    assert await audio_after_caller_frame() == 2  # due within a frame: sent now
    assert await audio_after_caller_frame() == 2  # due in two frames' time: it waits
    await out.stop()
    assert [s[2] for s in media.sent if s[0] == "mark"] == ["1", "2"]


async def test_whole_audio_goes_out_at_once_and_speech_after_it_waits_its_turn():
    media = Recorder()
    # One-second frames: anything paced would take seconds, so only an unpaced burst is quick.
    out = OutboundAudio(media, frame_size=4, frame_ms=1000)
    out.start()
    out.push_whole("keys", b"\x07" * 10)  # two whole frames and a padded half frame
    out.push("speech", b"\x01" * 4)
    await media.wait_until(lambda sent: [s[0] for s in sent].count("audio") == 3)
    for _ in range(5):
        await asyncio.sleep(0)
    audio = [s[2] for s in media.sent if s[0] == "audio"]
    await out.stop()
    assert audio == [b"\x07" * 4, b"\x07" * 4, b"\x07\x07\xff\xff"]  # speech still waits
    assert [s[2] for s in media.sent if s[0] == "mark"] == ["1", "2", "3"]
    for name in ("1", "2", "3"):
        out.on_mark(name)
    assert out.played_ms("keys") == 3000
