"""The offline engine's resource monitor: Pulumi's official MockMonitor, plus what it drops or gets wrong.

`MockResourceArgs` carries no parent, dependencies or resource options, and stack outputs never reach
`Mocks`. This monitor records them from the raw RegisterResource requests, keeps inputs exactly as the
engine receives them (camelCase, secrets and unknowns still marked) and masks secret values. Its URNs are
the real engine's (`RecordingMonitor.make_urn`), not the mock runtime's.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks, rpc

from mlops_platform.engine.computed import Ctx, compute_state
from mlops_platform.engine.urns import UrnTracker, engine_urn, qualified_type

SECRET = "[secret]"
#: Key under which `reference_outputs` lists the names of secret outputs (not an output name a program can use).
SECRET_OUTPUT_NAMES = "__secretOutputNames"
UNKNOWN = rpc.UNKNOWN
_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig
_OUTPUT_SIG = rpc._special_output_value_sig


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    dependencies: list[str]
    inputs: dict[str, Any]
    custom: bool
    protect: bool = False
    retain_on_delete: bool = False
    provider: str = ""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    aliases: list[dict[str, Any]] = field(default_factory=list)  # the program's own: see `program_aliases`


def engine_view(value: Any) -> Any:
    """A protobuf-decoded value as the engine shows it: secrets masked, resource refs as URNs."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("urn", "")
        if sig == _OUTPUT_SIG:
            return SECRET if value.get("secret") else engine_view(value.get("value", UNKNOWN))
        return {k: engine_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_view(v) for v in value]
    return value  # numbers stay floats: the wire format has no ints, and the plan shows what the engine sees


def revealed(value: Any) -> Any:
    """A protobuf-decoded value with secrets unwrapped: what a StackReference hands the layer above (the
    real engine decrypts a lower stack's secret outputs for it, and marks them secret again)."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig in (_SECRET_SIG, _OUTPUT_SIG):
            return revealed(value.get("value", UNKNOWN))
        if sig == _RESOURCE_SIG:
            return value.get("urn", "")
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revealed(v) for v in value]
    return value


def program_aliases(aliases: Any) -> list[dict[str, Any]]:
    """The aliases the program gave a resource (where it lived before it moved), as sent to the engine.

    Providers alias many resource types to their former type tokens (`aws:s3/bucketV2` ...); those carry only
    a type and are the SDK's own bookkeeping, so they are left out: a plan shows what the program decided.
    """
    out = []
    for alias in aliases:
        found = json_format.MessageToDict(alias)
        spec = found.get("spec", {})
        if "urn" in found or set(spec) - {"type"} - ({"parentUrn"} if not spec.get("parentUrn") else set()):
            out.append(found)
    return out


class PlatformMocks(mocks.Mocks):
    """Computed outputs for registered resources; invokes answer with stack facts."""

    def __init__(self, ctx: Ctx, stack_outputs: Any = None) -> None:
        self.ctx = ctx
        self.stack_outputs = stack_outputs  # callable(name) -> dict for StackReferences

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            name = str(args.inputs.get("name") or args.name)
            outputs = dict(self.stack_outputs(name)) if self.stack_outputs else {}
            secret = [str(k) for k in outputs.pop(SECRET_OUTPUT_NAMES, [])]
            # As the real engine hands them: the lower stack's secret outputs decrypted but marked secret, which
            # makes the whole `outputs` map secret to the program (pulumi StackReference: `outputs` is one Output).
            outputs = {k: {_SIG: _SECRET_SIG, "value": v} if k in secret else v for k, v in outputs.items()}
            return name, {"name": name, "outputs": outputs, "secretOutputNames": secret}
        return compute_state(args.typ, args.name, dict(args.inputs), self.ctx)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.ctx.account, "arn": f"arn:aws:iam::{self.ctx.account}:user/offline",
                    "userId": "OFFLINE"}, None
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.ctx.region, "region": self.ctx.region, "id": self.ctx.region}, None
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}, None
        if token == "aws:ssm/getParameter:getParameter":
            return self._public_parameter(str(args.args.get("name", ""))), []  # the mock monitor iterates failures
        return {}, None

    def _public_parameter(self, name: str) -> dict[str, Any]:
        """A Bottlerocket release's `image_version` (`/aws/service/bottlerocket/<variant>/<arch>/<release>/
        image_version`): offline the build part is unknown, so the value is `<release>-OFFLINE` (the release the
        path pins, which is what plans are judged on). Other parameters: none (the program must not read them)."""
        parts = name.split("/")
        if not (name.startswith("/aws/service/bottlerocket/") and len(parts) == 8 and parts[-1] == "image_version"):
            return {}
        value = f"{parts[6]}-OFFLINE"
        return {"name": name, "type": "String", "value": value, "insecureValue": value, "version": 1,
                "arn": f"arn:aws:ssm:{self.ctx.region}::parameter{name}", "id": name}


class RecordingMonitor(mocks.MockMonitor):
    """MockMonitor that records every registration with parent, dependencies and options."""

    def __init__(self, mocks_: PlatformMocks, *, stack: str, project: str) -> None:
        """`stack`/`project`: what the engine URNs (`urns`) are computed for."""
        super().__init__(mocks_)
        self._lock = threading.Lock()
        self.registrations: list[Registration] = []
        #: Duplicate engine URNs (the mock runtime silently overwrites a second registration).
        self.urns = UrnTracker(stack, project)
        self.stack_urn: str | None = None
        self.stack_outputs: dict[str, Any] = {}
        #: The same outputs with secrets revealed, for StackReferences of the layers above (never shown), plus
        #: under SECRET_OUTPUT_NAMES the keys that were secret.
        self.reference_outputs: dict[str, Any] = {}
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the real engine gives it (`urns.engine_urn`: every ancestor's type, the root stack left out),
        not the mock runtime's (only the parent's last type, `pulumi:pulumi:Stack$` on top-level resources): a
        plan's URNs are what `pulumi stack --show-urns` prints, so waivers and reports can name them."""
        chain = qualified_type(parent) if parent else ""
        return engine_urn(self.urns.stack, self.urns.project, chain, type_, name)

    def _track_thread_loop(self) -> None:
        # MockMonitor gives each worker thread its own event loop and never closes it; left to the
        # garbage collector, a later run's collection prints "Invalid file descriptor" noise.
        if threading.current_thread() is threading.main_thread():
            return
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # this call made none
            return
        with self._lock:
            self._thread_loops.add(loop)

    def close_thread_loops(self) -> None:
        """Close the worker threads' event loops (call once the program has finished)."""
        with self._lock:
            loops, self._thread_loops = self._thread_loops, set()
        for loop in loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()

    def Invoke(self, request: Any) -> Any:
        response = super().Invoke(request)
        self._track_thread_loop()
        return response

    def ReadResource(self, request: Any) -> Any:
        """Reads (StackReferences to lower layers) are part of the plan too: name and what they read."""
        response = super().ReadResource(request)
        self._track_thread_loop()
        raw = json_format.MessageToDict(request.properties, preserving_proto_field_name=True)
        reg = Registration(urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
                           dependencies=list(request.dependencies), inputs=engine_view(raw), custom=True,
                           provider=request.provider)
        with self._lock:
            self.registrations.append(reg)
            self.urns.add(response.urn, request.type, request.name, request.parent)
        return response

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self._track_thread_loop()
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            with self._lock:
                self.urns.add(response.urn, request.type, request.name, request.parent)
            return response
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        reg = Registration(
            urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
            dependencies=list(request.dependencies), inputs=engine_view(raw), custom=bool(request.custom),
            protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
            provider=request.provider,
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            aliases=program_aliases(request.aliases),
        )
        with self._lock:
            self.registrations.append(reg)
            self.urns.add(response.urn, request.type, request.name, request.parent)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if self.stack_urn and request.urn == self.stack_urn:
            outputs = json_format.MessageToDict(request.outputs, preserving_proto_field_name=True)
            self.stack_outputs = engine_view(outputs)
            self.reference_outputs = {**revealed(outputs), SECRET_OUTPUT_NAMES: [
                k for k, v in self.stack_outputs.items() if v == SECRET]}
        return super().RegisterResourceOutputs(request)
