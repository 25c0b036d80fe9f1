"""Automated phone menus (IVR): recognising one, and noticing when it repeats itself.

See :class:`~getpatter.ivr.activity.IVRActivity` (the agent option ``ivr=``) and
:class:`~getpatter.ivr.loop.TfidfLoopDetector`. The agent presses keys with the ``send_dtmf``
system tool (``phone.agent(..., send_dtmf=True)``; on by default with ``ivr=``).
"""

from getpatter.ivr.activity import LOOP_NOTE, MENU_NOTE, MENU_PHRASES, IVRActivity, IVREvent
from getpatter.ivr.loop import TfidfLoopDetector

__all__ = [
    "LOOP_NOTE",
    "MENU_NOTE",
    "MENU_PHRASES",
    "IVRActivity",
    "IVREvent",
    "TfidfLoopDetector",
]
