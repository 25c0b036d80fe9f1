"""The sandbox: a loopback phone network where your agent takes real calls with no account.

A :class:`Sandbox` starts a carrier simulator (Twilio by default, or Telnyx with
``carrier="telnyx"``) and a fake OpenAI Realtime server on 127.0.0.1, and a
:class:`~getpatter.Patter` whose carrier and engine point at them. For pipeline agents it
also runs a fake of each provider's service (Deepgram, OpenAI chat, ElevenLabs, ...: see
:mod:`getpatter.testing.offline`), and for
``ElevenLabsConvAI`` agents a fake ElevenLabs Conversational AI server. Your agent runs through
the same code as in production: signed webhooks, a token-checked media stream, paced phone
audio, the Realtime protocol. The :class:`~getpatter.testing.scenario.Scenario` says what the
caller does and what the model answers.

```python
async with Sandbox(scenario) as sandbox:
    await sandbox.serve(sandbox.phone.agent(system_prompt="You book tables."))
    call = await sandbox.call_in()
    report = await call.ended()          # the on_call_end payload
```
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from getpatter.agent import Agent
from getpatter.carriers.telnyx import Carrier as Telnyx
from getpatter.carriers.twilio import Carrier as Twilio
from getpatter.client import Patter
from getpatter.engines.elevenlabs import ConvAI
from getpatter.engines.openai import Realtime
from getpatter.errors import ConfigError
from getpatter.testing.fake_convai import FakeConvAIServer
from getpatter.testing.fake_deepgram import FakeDeepgramServer
from getpatter.testing.fake_llm import FakeOpenAIServer
from getpatter.testing.fake_realtime import FakeRealtimeServer
from getpatter.testing.fake_tts import FakeElevenLabsServer
from getpatter.testing.offline import (
    FakeService,
    OfflineProvider,
    SandboxTarget,
    offline_provider,
)
from getpatter.testing.phone_network import SimulatedCall
from getpatter.testing.scenario import Callee, Scenario
from getpatter.testing.twilio_simulator import TwilioSimulator

if TYPE_CHECKING:
    from getpatter.testing.telnyx_simulator import TelnyxSimulator

__all__ = ["Sandbox", "SandboxCall"]

logger = logging.getLogger("getpatter.testing")

_FAKE_OPENAI_KEY = "sk-sandbox"
_FAKE_ELEVENLABS_KEY = "el-sandbox"
_FAKE_KEY_SUFFIX = "sandbox"
"""The provider fakes' keys are ``<fake>-<suffix>``."""
_DEFAULT_TIMEOUT = 60.0
_CONVAI_OVERRIDES = frozenset(
    {"agent.first_message", "agent.language", "agent.prompt.prompt", "tts.voice_id"}
)
_PORTS_FROM, _PORTS_TO = 20000, 32000


CarrierName = Literal["twilio", "telnyx"]


class SandboxCall:
    """One sandbox call: what the simulated carrier saw, and Patter's end-of-call report."""

    def __init__(self, simulated: SimulatedCall, report: asyncio.Future[dict[str, Any]]) -> None:
        self.simulated = simulated
        """The simulator's record: audio heard, marks, clears, statuses, transfer..."""
        self._report = report

    @property
    def twilio(self) -> SimulatedCall:
        """The simulator's record (the name dates from when the sandbox was Twilio only)."""
        return self.simulated

    @property
    def call_id(self) -> str:
        """The call's id (Twilio's CallSid, Telnyx's call_control_id)."""
        return self.simulated.sid

    async def ended(self) -> dict[str, Any]:
        """Wait (at most a minute) for the call to end; return what ``on_call_end`` received."""
        async with asyncio.timeout(_DEFAULT_TIMEOUT):
            report = await asyncio.shield(self._report)
            await self.simulated.finished()
        return report


class Sandbox:
    """A loopback phone network for one agent: see the module docstring.

    ``scenario`` scripts the callee and the model (each model connection plays it from the
    start). ``carrier`` is the simulated network: ``"twilio"`` (the default) or ``"telnyx"``.
    ``phone_number`` is the agent's number on it.
    ``tts_stall_timeout`` is how long a pipeline agent's TTS may go silent before it counts as
    stalled (for fault tests).
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        carrier: CarrierName = "twilio",
        phone_number: str = "+15550009999",
        pricing: dict[str, dict[str, float]] | None = None,
        tts_stall_timeout: float = 10.0,
    ) -> None:
        if carrier not in ("twilio", "telnyx"):
            raise ConfigError(f"carrier must be 'twilio' or 'telnyx', got {carrier!r}")
        self.scenario = scenario if scenario is not None else Scenario()
        self.carrier: CarrierName = carrier
        self.phone_number = phone_number
        self._pricing = pricing
        self.network: TwilioSimulator | TelnyxSimulator = (
            TwilioSimulator() if carrier == "twilio" else _telnyx_simulator()
        )
        """The carrier simulator: place calls, script callees, read what happened."""
        self.openai = FakeRealtimeServer(self.scenario, api_key=_FAKE_OPENAI_KEY)
        self.deepgram = FakeDeepgramServer(self.scenario, api_key=_fake_key("deepgram"))
        """Pipeline agents' speech recognition (started by :meth:`serve` for them)."""
        self.llm = FakeOpenAIServer(self.scenario, api_key=_fake_key("openai_chat"))
        """Pipeline agents' LLM: OpenAI chat completions, answering with the scenario's replies."""
        self.elevenlabs = FakeElevenLabsServer(self.scenario, api_key=_fake_key("elevenlabs"))
        """Pipeline agents' text-to-speech."""
        self.convai = FakeConvAIServer(self.scenario, api_key=_FAKE_ELEVENLABS_KEY)
        """ElevenLabs Conversational AI, for agents with ``engine=ElevenLabsConvAI(...)``
        (started by :meth:`serve` for them)."""
        self._fakes: dict[str, FakeService] = {
            "deepgram": self.deepgram,
            "openai_chat": self.llm,
            "elevenlabs": self.elevenlabs,
        }
        self._started: set[str] = set()
        self._convai_started = False
        self._tts_stall_timeout = tts_stall_timeout
        self.port = 0
        self._phone: Patter | None = None
        self._serving: asyncio.Task[None] | None = None
        self._reports: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.dashboard_url = ""
        """The served dashboard's address with its token, once :meth:`serve` started (``""``
        with ``dashboard=False``)."""
        self._built: list[Any] = []
        """Providers :meth:`offline` built for pipeline agents; closed by :meth:`aclose`."""

    @property
    def phone(self) -> Patter:
        """The :class:`Patter` of the sandbox, wired to the simulator (build agents with it)."""
        if self._phone is None:
            raise ConfigError("use the sandbox inside 'async with Sandbox(...) as sandbox:'")
        return self._phone

    @property
    def twilio(self) -> TwilioSimulator:
        """The Twilio simulator (a ``"twilio"`` sandbox only)."""
        if not isinstance(self.network, TwilioSimulator):
            raise ConfigError("this sandbox simulates Telnyx: use sandbox.network (or .telnyx)")
        return self.network

    @property
    def telnyx(self) -> TelnyxSimulator:
        """The Telnyx simulator (a ``"telnyx"`` sandbox only)."""
        if isinstance(self.network, TwilioSimulator):
            raise ConfigError("this sandbox simulates Twilio: use sandbox.network (or .twilio)")
        return self.network

    @property
    def voice_webhook_url(self) -> str:
        """The URL the simulator calls when someone rings the agent."""
        return f"https://127.0.0.1:{self.port}/webhooks/{self.carrier}/voice"

    async def __aenter__(self) -> Sandbox:
        network = self.network
        await network.start()
        network.add_number(self.phone_number)
        await self.openai.__aenter__()
        self.port = _free_port()
        carrier: Twilio | Telnyx
        if isinstance(network, TwilioSimulator):
            carrier = Twilio(
                account_sid=network.account_sid,
                auth_token=network.auth_token,
                base_url=network.base_url,
            )
        else:
            carrier = Telnyx(
                api_key=network.api_key,
                connection_id=network.connection_id,
                public_key=network.public_key,
                base_url=network.base_url,
            )
        self._phone = Patter(
            carrier=carrier,
            phone_number=self.phone_number,
            webhook_url=f"127.0.0.1:{self.port}",
            pricing=self._pricing,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving, then the fakes."""
        if self._phone is not None:
            await self._phone.disconnect()
        if self._serving is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._serving, _DEFAULT_TIMEOUT)
        built, self._built = self._built, []
        for provider in built:
            with contextlib.suppress(Exception):
                await provider.close()
        started, self._started = self._started, set()
        for name in started:
            await self._fakes[name].__aexit__(None, None, None)
        if self._convai_started:
            self._convai_started = False
            await self.convai.__aexit__(None, None, None)
        await self.openai.__aexit__(None, None, None)
        await self.network.aclose()

    async def start_pipeline_fakes(self) -> None:
        """Start the fake Deepgram, OpenAI LLM and ElevenLabs servers (:meth:`serve` starts
        the fakes a pipeline agent's providers need)."""
        for name in ("deepgram", "openai_chat", "elevenlabs"):
            await self._start_fake(name)

    def fake(self, name: str) -> Any:
        """The started fake called ``name`` in the providers' registry
        (:mod:`getpatter.testing.offline`), to read its records or inject faults."""
        if name not in self._started:
            raise ConfigError(
                f"no fake {name!r} is running in this sandbox: serve an agent whose provider "
                f"uses it first (running: {sorted(self._started)})"
            )
        return self._fakes[name]

    async def _start_fake(self, name: str, entry: OfflineProvider | None = None) -> None:
        if name in self._started:
            return
        if name not in self._fakes:
            assert entry is not None
            self._fakes[name] = entry.start(self.scenario, _fake_key(name))
        await self._fakes[name].__aenter__()
        self._started.add(name)

    async def start_convai(self) -> None:
        """Start the fake ElevenLabs Conversational AI server (:meth:`serve` does it for
        ConvAI agents)."""
        if not self._convai_started:
            await self.convai.__aenter__()
            self._convai_started = True

    async def start_fakes(self, agent: Agent) -> None:
        """Start the fakes ``agent`` needs besides the Realtime one: the pipeline fakes, or the
        ConvAI fake (:meth:`serve` does it)."""
        if agent.provider == "pipeline":
            if agent.llm is None:
                await self._start_fake("openai_chat")  # an LLM-2 default LLM, if one is built
            for provider in (agent.stt, agent.llm, agent.tts):
                entry = offline_provider(provider)
                if entry is not None:
                    await self._start_fake(entry.fake, entry)
        if isinstance(agent.engine, ConvAI):
            await self.start_convai()

    def offline(self, agent: Agent, *, with_llm: bool = True) -> Agent:
        """``agent`` with its services pointed at the sandbox's fakes.

        An OpenAI Realtime agent keeps its voice and model. A pipeline agent keeps its VAD,
        hooks, guardrails, transforms and tools, and its STT, LLM and TTS classes: each is
        rebuilt against the fake of its service (:mod:`getpatter.testing.offline`); a class
        with no fake (your own) is kept as it is. With no LLM the agent gets an OpenAI LLM on
        the fake (unless ``with_llm=False``, for ``on_message``). The fakes must be started
        first with :meth:`start_fakes` (:meth:`serve` does it).
        """
        if agent.provider == "pipeline":
            return self._offline_pipeline(agent, with_llm=with_llm)
        if isinstance(agent.engine, ConvAI):
            return self._offline_convai(agent, agent.engine)
        engine = Realtime(
            api_key=_FAKE_OPENAI_KEY,
            base_url=self.openai.base_url,
            voice=agent.voice,
            model=agent.model,
        )
        return dataclasses.replace(agent, engine=engine)

    def _offline_convai(self, agent: Agent, engine: ConvAI) -> Agent:
        """The agent's ConvAI engine pointed at the fake, where its agent is registered.

        The fake agent is private (reached by a signed URL) when the engine has an API key,
        as on ElevenLabs, takes the engine's audio format, and allows every override Patter
        may send.
        """
        if not self._convai_started:
            raise ConfigError(
                "start the ConvAI fake first: 'await sandbox.start_convai()' "
                "(sandbox.serve() does it for you)"
            )
        agent_id = engine.agent_id or "agent_sandbox"
        private = bool(engine.api_key)
        self.convai.add_agent(
            agent_id,
            private=private,
            audio_format=engine.audio_format,
            allow_overrides=_CONVAI_OVERRIDES,
        )
        offline = dataclasses.replace(
            engine,
            api_key=_FAKE_ELEVENLABS_KEY if private else "",
            agent_id=agent_id,
            base_url=self.convai.base_url,
        )
        return dataclasses.replace(agent, engine=offline)

    def _offline_pipeline(self, agent: Agent, *, with_llm: bool) -> Agent:
        llm = agent.llm if with_llm else None
        if with_llm and llm is None:
            # Spec LLM-2's default LLM, which the sandbox must not build from the user's key.
            from getpatter.llm.openai import OpenAILLM

            llm = OpenAILLM(api_key=_fake_key("openai_chat"))
        return dataclasses.replace(
            agent,
            stt=self._retarget(agent.stt),
            tts=self._retarget(agent.tts),
            llm=None if llm is None else self._retarget(llm),
        )

    def _retarget(self, provider: Any) -> Any:
        """``provider`` rebuilt against its fake; a class the registry does not know (a
        user's own) is kept as it is."""
        entry = offline_provider(provider)
        if entry is None:
            return provider
        if entry.fake not in self._started:
            raise ConfigError(
                f"start the fakes first: 'await sandbox.start_fakes(agent)' "
                f"({type(provider).__name__} needs the {entry.fake!r} fake; "
                "sandbox.serve() starts them for you)"
            )
        target = SandboxTarget(
            base_url=self._fakes[entry.fake].base_url,
            api_key=_fake_key(entry.fake),
            tts_stall_timeout=self._tts_stall_timeout,
        )
        offline = entry.retarget(provider, target)
        # Their connection pools belong to this sandbox's calls: closed with it.
        self._built.append(offline)
        return offline

    async def serve(self, agent: Agent, **serve_options: Any) -> None:
        """Start ``phone.serve(agent, ...)`` in the background and wait until it takes calls.

        The dashboard is on unless ``dashboard=False``; without a ``dashboard_token`` the
        sandbox makes one, so that :attr:`dashboard_url` can name it.
        """
        if self._serving is not None:
            raise ConfigError("the sandbox is already serving an agent")
        dashboard_url = ""
        if serve_options.get("dashboard", True) is True:
            from getpatter.dashboard import generate_token, page_url

            token = serve_options.get("dashboard_token") or generate_token()
            serve_options["dashboard_token"] = token
            dashboard_url = page_url("127.0.0.1", self.port, str(token))
        await self.start_fakes(agent)
        user_on_call_end: Callable[[dict[str, Any]], Any] | None = serve_options.pop(
            "on_call_end", None
        )

        async def on_call_end(report: dict[str, Any]) -> None:
            future = self._report_future(report["call_id"])
            if future.done():
                # Two sessions reported under one call id (a replayed webhook, say): the first
                # report stays the call's; the user's callback still sees both.
                logger.warning("sandbox: a second end report for call %s", report["call_id"])
            else:
                future.set_result(report)
            if user_on_call_end is not None:
                result = user_on_call_end(report)
                if asyncio.iscoroutine(result):
                    await result

        with_llm = agent.llm is not None or serve_options.get("on_message") is None
        self._serving = asyncio.create_task(
            self.phone.serve(
                self.offline(agent, with_llm=with_llm),
                port=self.port,
                host="127.0.0.1",
                on_call_end=on_call_end,
                **serve_options,
            )
        )
        ready = asyncio.create_task(self.phone.ready())
        done, _ = await asyncio.wait({ready, self._serving}, return_when=asyncio.FIRST_COMPLETED)
        if self._serving in done:
            ready.cancel()
            await self._serving
        await ready
        self.dashboard_url = dashboard_url

    async def call_in(self, callee: Callee | None = None) -> SandboxCall:
        """A simulated person calls the agent; ``callee`` defaults to the scenario's."""
        person = callee if callee is not None else self.scenario.callee
        network = self.network
        if isinstance(network, TwilioSimulator):
            call = await network.place_inbound_call(
                self.phone_number, callee=person, voice_url=self.voice_webhook_url
            )
        else:
            call = await network.place_inbound_call(
                self.phone_number, callee=person, webhook_url=self.voice_webhook_url
            )
        return SandboxCall(call, self._report_future(call.sid))

    async def call_out(
        self, to: str = "", *, callee: Callee | None = None, **call_options: Any
    ) -> SandboxCall:
        """The agent calls ``to`` (default: the callee's number) through ``phone.call(...)``."""
        person = callee if callee is not None else self.scenario.callee
        number = to or person.number
        self.network.callee_for(number, person)
        call_sid = await self.phone.call(number, **call_options)
        return SandboxCall(self.network.get_call(call_sid), self._report_future(call_sid))

    def _report_future(self, call_id: str) -> asyncio.Future[dict[str, Any]]:
        future = self._reports.get(call_id)
        if future is None:
            future = self._reports[call_id] = asyncio.get_running_loop().create_future()
        return future


def _telnyx_simulator() -> TelnyxSimulator:
    """A Telnyx simulator; it signs webhooks with PyNaCl, from the ``telnyx`` extra."""
    try:
        from getpatter.testing.telnyx_simulator import TelnyxSimulator
    except ImportError as exc:
        raise ConfigError(
            f"Sandbox(carrier='telnyx') needs the telnyx extra ({exc.name} is missing): "
            "pip install 'getpatter[telnyx]'"
        ) from None
    return TelnyxSimulator()


def _fake_key(fake: str) -> str:
    """The API key the sandbox's ``fake`` accepts (and its providers are given)."""
    return f"{fake}-{_FAKE_KEY_SUFFIX}"


def _free_port() -> int:
    """A port to serve on, chosen below the usual ephemeral range (32768 and up).

    The port is chosen before the server binds it (the Patter needs its webhook hostname
    first). A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, where
    the call's own outgoing connections may take it in between; ports below it are not handed
    out to connections.
    """
    for _ in range(100):
        port = random.randint(_PORTS_FROM, _PORTS_TO)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
