"""Telephony carriers. Each module's ``Carrier`` is also exported flat (``getpatter.Twilio``)."""

from getpatter.carriers import telnyx, twilio

__all__ = ["telnyx", "twilio"]
