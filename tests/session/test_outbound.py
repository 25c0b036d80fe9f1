"""Paced outbound audio: frames at real-time speed, marks, clear, and what was played."""

import asyncio

import numpy as np

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


def _background(when="always"):
    from getpatter import BackgroundAudioPlayer

    return BackgroundAudioPlayer("dial_tone", when=when, volume=0.5, duck=0.5).mix_for("ulaw_8000")


async def test_background_fills_the_silences_unmarked_and_lies_under_the_agent():
    from getpatter.audio.background.clips import clip_samples
    from getpatter.audio.g711 import pcm16_to_ulaw

    media = Recorder()
    out = OutboundAudio(media, background=_background())
    out.start()
    await media.wait_until(lambda sent: len(sent) >= 3)
    assert {kind for kind, _, _ in media.sent} == {"audio"}  # background alone: no marks
    assert not out.speaking
    tone = clip_samples("dial_tone", 8000)
    assert media.sent[1][2] == pcm16_to_ulaw(np.rint(tone[160:320] * 0.5).astype("<i2").tobytes())
    out.push("item1", b"\xff" * 320)  # two frames of agent silence
    out.end_item("item1")
    await out.send_now()  # the agent's first frame does not wait behind a background frame
    await media.wait_until(lambda sent: [s[2] for s in sent if s[0] == "mark"] == ["1", "2"])
    agent = [i for i, s in enumerate(media.sent) if s[0] == "mark"]
    under = [media.sent[i - 1][2] for i in agent]
    assert all(frame != b"\xff" * 160 for frame in under)  # the tone, ducked, under silence
    await media.wait_until(lambda sent: len(sent) > agent[-1] + 2)  # then background again
    await out.stop()
    offsets = [s[1] for s in media.sent if s[0] == "audio"]
    # Paced as one stream: never more than a frame ahead of real time.
    assert all(at >= offsets[0] + (n - 1) * 0.020 - 0.005 for n, at in enumerate(offsets))


async def test_key_presses_are_never_mixed_and_a_barge_in_ends_thinking():
    from getpatter.audio.dtmf_tones import dtmf_ulaw

    media = Recorder()
    mix = _background(when="thinking")
    out = OutboundAudio(media, background=mix)
    out.start()
    out.thinking(True)
    await media.wait_until(lambda sent: len(sent) >= 2)
    tones = dtmf_ulaw("1")
    out.push_whole("dtmf-1", tones)
    await media.wait_until(lambda sent: any(s[0] == "mark" for s in sent))
    first = next(i for i, s in enumerate(media.sent) if s[0] == "mark") - 1
    assert media.sent[first][2] == tones[:160]
    await out.clear()
    assert not mix.playing
    await out.stop()
