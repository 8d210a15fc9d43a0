"""One incoming batch notification, from raw request to per-channel outcomes. Knows nothing of Lambda.

Checks run cheapest and safest first: size (413), credentials (401), content type (415), JSON
(400, including numbers no JSON consumer can take: non-finite, or longer than Python converts),
depth and size of fields (422), payload fields (422), event name (400); only a request that
passes all of them is delivered. Error bodies say what is wrong and never echo the request or a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..channels import Resources
from ..errors import BatchRequestError, ConfigError, SecretError
from ..finite_json import NotFiniteNumber, depth_of, loads_finite
from .auth import Admission, is_authorized
from .config import BatchConfig
from .delivery_log import DeliveryLog
from .fanout import dispatch
from .payload import EVENTS, BatchEvent, BatchStatus, event_of


@dataclass(frozen=True)
class IncomingRequest:
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The HTTP answer; ``problem`` is what the operator must fix, for the log (never a secret)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    logged: dict[str, Any] = field(default_factory=dict)  # merged over the body in the log record only

    @property
    def log_details(self) -> dict[str, Any]:
        """What the function logs: the body, plus what only the operator may read."""
        return {"status": self.status, **self.body, **self.logged}


# A known operational state (a secret or the configuration cannot be read): the sender retries.
RETRY_AFTER_SECONDS = 60
NO_CREDENTIALS = (
    "the batch function has no credentials configured, so it accepts nothing: set BATCH_AUTH_USERNAME "
    "and BATCH_AUTH_PASSWORD, or BATCH_AUTH_TOKEN (BATCH_AUTH=none turns this off, for local trials)"
)


def unavailable(public: str, problem: str) -> Reply:
    """503 with Retry-After: the request was fine, the function cannot serve it until fixed."""
    return Reply(503, {"error": public}, {"Retry-After": str(RETRY_AFTER_SECONDS)}, problem)


def _problem(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"error": message, **extra})


def _content_type(headers: Mapping[str, str]) -> str:
    raw = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return raw.split(";")[0].strip().lower()


# Extra fields are passed on to webhook and SNS consumers as they came: bounded so that every
# consumer (and our own JSON encoder) can take them.
MAX_FIELD_DEPTH = 16
MAX_EXTRA_BYTES = 64 * 1024


def _decode(body: bytes) -> Any | Reply:
    try:
        return loads_finite(body)
    except NotFiniteNumber:
        return _problem(400, "numbers must be finite: Infinity, NaN and floats beyond 1.8e308 are refused")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _problem(400, "body is not valid JSON")
    except ValueError:  # int() refuses integers of more than sys.get_int_max_str_digits() digits
        return _problem(400, "a number in the body has too many digits")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a key or text anywhere in ``value`` is no Unicode text (a lone surrogate, which JSON's
    \\ud800 escapes can carry): no channel, log or encoder downstream can take it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _bounded(document: dict[str, Any]) -> Reply | None:
    for key, value in document.items():
        if _has_lone_surrogate(key) or _has_lone_surrogate(value):
            shown = str(key).encode("utf-8", "replace").decode("utf-8")[:100]
            return _problem(422, f"field {shown!r} holds text that is not valid Unicode (a lone surrogate)")
        if depth_of(value) > MAX_FIELD_DEPTH:
            return _problem(
                422,
                f"field {str(key)[:100]!r} is nested too deep: at most {MAX_FIELD_DEPTH} levels of lists "
                "and objects",
            )
    extras = {key: value for key, value in document.items() if key not in BatchStatus.model_fields}
    if extras and len(json.dumps(extras)) > MAX_EXTRA_BYTES:
        return _problem(422, f"fields beyond the batch status take more than {MAX_EXTRA_BYTES} bytes")
    return None


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Which field and why, without the offending input (it may be huge or hostile)."""
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "(body)", "problem": error["msg"][:200]}
        for error in exc.errors(include_input=False, include_url=False)[:20]
    ]


def parse_request(admission: Admission, request: IncomingRequest) -> BatchEvent | Reply:
    """The batch event, or the 4xx reply explaining why there is none."""
    if len(request.body) > admission.max_body_bytes:
        return _problem(413, f"body is larger than {admission.max_body_bytes} bytes")
    if admission.auth.fails_closed:
        return unavailable(NO_CREDENTIALS, NO_CREDENTIALS)
    try:
        authorized = is_authorized(admission.auth, request.headers)
    except SecretError as exc:
        return unavailable("the function cannot read its credentials right now; retry later", str(exc))
    if not authorized:
        reply = _problem(401, "missing or wrong credentials")
        return Reply(reply.status, reply.body, {"WWW-Authenticate": admission.auth.challenge()})
    if _content_type(request.headers) not in ("application/json", ""):
        return _problem(415, "send the batch status as JSON (Content-Type: application/json)")
    document = _decode(request.body)
    if isinstance(document, Reply):
        return document
    if not isinstance(document, dict):
        return _problem(422, "expected a JSON object with at least bid")
    too_big = _bounded(document)
    if too_big is not None:
        return too_big
    try:
        status = BatchStatus.model_validate(document)
    except ValidationError as exc:
        return _problem(422, "the batch status is not valid", details=validation_errors(exc))
    query_event = request.query.get("event")
    if query_event is not None and query_event not in EVENTS:
        return _problem(400, f"event must be one of {', '.join(EVENTS)}")
    return BatchEvent(status, event_of(status, query_event))


def receive(
    admission: Admission,
    request: IncomingRequest,
    config: Callable[[], BatchConfig],
    resources: Resources,
    log: DeliveryLog,
) -> Reply:
    """Validate, route and fan out; 200 when every channel has it, 502 when one must be retried."""
    parsed = parse_request(admission, request)
    if isinstance(parsed, Reply):
        return parsed
    event = parsed
    try:
        batch_config = config()
    except ConfigError as exc:  # SecretError too: BATCH_CONFIG may be a reference
        return unavailable(f"the batch configuration cannot be used: {exc}", str(exc))
    try:
        route, outcomes = dispatch(event, batch_config, resources, log)
    except BatchRequestError as exc:  # nothing was delivered
        details = [{"problem": problem} for problem in exc.problems[:20]]
        return _problem(
            422, "the batch asks for channels or options the configuration does not allow", details=details
        )
    base = {"bid": event.bid, "event": event.event}
    if route is None:
        return Reply(200, {**base, "route": None, "deliveries": [], "note": "no route matches this batch"})
    failed = [o for o in outcomes if o.status in ("failed", "in_progress")]
    status = 200
    if failed:
        # 502 asks the sender to retry; only what did not get out is delivered again.
        status = 502 if any(o.status == "failed" for o in failed) else 409
    return Reply(
        status,
        {**base, "route": route, "deliveries": [o.as_dict() for o in outcomes]},
        logged={"deliveries": [o.as_logged() for o in outcomes]},
    )
