"""The call session: one call's state, from ringing to its end report."""

from getpatter.carriers.base import CarrierActions
from getpatter.session.callbacks import CallCallbacks
from getpatter.session.outbound import MediaOut, OutboundAudio
from getpatter.session.session import CallSession

__all__ = ["CallCallbacks", "CallSession", "CarrierActions", "MediaOut", "OutboundAudio"]
