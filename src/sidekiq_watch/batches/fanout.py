"""Deliver one batch event to a route's channels: concurrently, each independently, exactly once."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from ..channels import Channel, Resources
from ..channels.message import Message
from ..errors import DeliveryError, SidekiqWatchError
from .config import BatchConfig
from .delivery_log import DeliveryLog
from .payload import BatchEvent
from .render import batch_message

logger = logging.getLogger("sidekiq_watch")

OutcomeStatus = Literal["delivered", "already_delivered", "in_progress", "failed"]


@dataclass(frozen=True)
class Outcome:
    channel: str
    kind: str
    status: OutcomeStatus
    detail: str
    retryable: bool = False
    peer_said: str | None = None  # a failing peer's own words, secrets masked: for the log, never the reply

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "kind": self.kind, "status": self.status, "detail": self.detail}

    def as_logged(self) -> dict[str, Any]:
        said = {"peer_said": self.peer_said} if self.peer_said else {}
        return self.as_dict() | said


def deliver_one(
    event: BatchEvent, message: Message, channel: Channel, resources: Resources, log: DeliveryLog
) -> Outcome:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    try:
        detail, already = log.once(
            event.bid, event.event, channel.name, lambda: channel.deliver(message, resources)
        )
    except DeliveryError as exc:
        return Outcome(
            channel.name,
            channel.kind,
            "failed",
            str(exc),
            retryable=not exc.permanent,
            peer_said=exc.remote_error,
        )
    except IdempotencyAlreadyInProgressError:
        return Outcome(
            channel.name, channel.kind, "in_progress", "another request is delivering it now", retryable=True
        )
    except IdempotencyPersistenceLayerError as exc:
        cause = exc.__cause__
        why = str(cause) if isinstance(cause, SidekiqWatchError) else type(exc).__name__
        return Outcome(
            channel.name, channel.kind, "failed", f"delivery records unavailable ({why})", retryable=True
        )
    except SidekiqWatchError as exc:  # a secret that cannot be read, say
        return Outcome(channel.name, channel.kind, "failed", str(exc), retryable=True)
    except Exception:
        # A bug in one channel must not cancel the others nor turn the request into a 500 that
        # every resend meets again: it is this channel's failure, and the log has the traceback.
        logger.exception("Channel %s (%s) failed unexpectedly", channel.name, channel.kind)
        return Outcome(
            channel.name, channel.kind, "failed", "unexpected error; see the function's logs", retryable=True
        )
    return Outcome(channel.name, channel.kind, "already_delivered" if already else "delivered", detail)


def fan_out(
    event: BatchEvent, channels: tuple[Channel, ...], resources: Resources, log: DeliveryLog
) -> list[Outcome]:
    """Every channel at once, so the total time is the slowest channel's, not the sum."""
    message = batch_message(event, resources.web_url)
    if len(channels) == 1:
        return [deliver_one(event, message, channels[0], resources, log)]
    # Clients are made here, before the threads: boto3 cannot make them concurrently.
    kinds = {channel.kind for channel in channels}
    if "email" in kinds:
        resources.ses  # noqa: B018 - made now, used in a thread
    if "sns" in kinds:
        resources.sns  # noqa: B018
    with ThreadPoolExecutor(max_workers=len(channels)) as pool:
        return list(pool.map(lambda channel: deliver_one(event, message, channel, resources, log), channels))


def dispatch(
    event: BatchEvent, config: BatchConfig, resources: Resources, log: DeliveryLog
) -> tuple[str | None, list[Outcome]]:
    """Route the event and fan it out: shared by the webhook function and ``sidekiq-watch listen``.

    Raises BatchRequestError, before anything is delivered, when the batch asks for channels or
    options the configuration does not allow.
    """
    route, channels = config.plan(event)
    if route is None:
        return None, []
    shared = resources.for_request(deadline=resources.deadline, web_url=config.web_url)
    return route, fan_out(event, channels, shared, log)
