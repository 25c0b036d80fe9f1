"""Flat names and namespaced modules are the same objects (spec X-2), and every export works."""

import dataclasses

import pytest

import getpatter
from getpatter.carriers import telnyx, twilio
from getpatter.engines import elevenlabs, openai


def test_namespaced_classes_are_the_flat_ones():
    assert twilio.Carrier is getpatter.Twilio
    assert telnyx.Carrier is getpatter.Telnyx
    assert openai.Realtime is getpatter.OpenAIRealtime
    assert elevenlabs.ConvAI is getpatter.ElevenLabsConvAI
    from getpatter.stt import openai_transcribe, whisper

    assert whisper.STT is getpatter.WhisperSTT
    assert openai_transcribe.STT is getpatter.OpenAITranscribeSTT


def test_every_exported_name_resolves():
    for name in getpatter.__all__:
        assert getattr(getpatter, name) is not None, name
    with pytest.raises(AttributeError):
        getpatter.NoSuchProviderSTT  # noqa: B018 - an unknown name is an AttributeError


@pytest.mark.parametrize(
    "instance",
    [
        getpatter.CallEvent(call_id="c1"),
        getpatter.IncomingMessage(text="hi", call_id="c1", caller="+15550000001"),
        getpatter.OpenAIRealtime(api_key="k-CANARY"),
        getpatter.Tool(name="a", handler=print),
        getpatter.STTConfig(provider="deepgram"),
        getpatter.CostBreakdown(),
        getpatter.LatencyBreakdown(),
    ],
)
def test_config_and_data_objects_are_frozen(instance):
    field = dataclasses.fields(instance)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, field, "changed")


def test_call_event_defaults():
    assert getpatter.CallEvent(call_id="c1") == getpatter.CallEvent("c1", "", "", "")
