"""LangChain tools for Patter: let a LangChain or LangGraph agent place and steer phone calls.

```python
from langchain.agents import create_agent
from getpatter.control import CallService, SafetyPolicy
from getpatter_langchain import PatterToolkit

service = CallService(phone, agent, policy=SafetyPolicy(allowed_prefixes=("+1555",)))
agent = create_agent(model, tools=PatterToolkit(service).get_tools())
```

The tools call :class:`~getpatter.control.CallService` directly: its safety policy and audit
log (which records these requests as ``client="langchain"``) apply as they do to the MCP
server. Install with ``pip install "getpatter[langchain]"``.
"""

try:
    import langchain_core  # noqa: F401
except ImportError as exc:
    raise ImportError(
        'getpatter_langchain needs LangChain: pip install "getpatter[langchain]"'
    ) from exc

from getpatter_langchain.base import PROGRESS_EVENT, PatterServiceTool
from getpatter_langchain.control import (
    PatterGetCallTool,
    PatterHangupCallTool,
    PatterSendDtmfTool,
    PatterTransferCallTool,
)
from getpatter_langchain.toolkit import PatterToolkit
from getpatter_langchain.tools import MakeCallInput, PatterCallTool

__all__ = [
    "PROGRESS_EVENT",
    "MakeCallInput",
    "PatterCallTool",
    "PatterGetCallTool",
    "PatterHangupCallTool",
    "PatterSendDtmfTool",
    "PatterServiceTool",
    "PatterToolkit",
    "PatterTransferCallTool",
]
