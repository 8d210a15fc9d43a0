"""AWS resources for tests, created in moto the way template.yaml declares them."""

from __future__ import annotations

import boto3

STATE_TABLE = "sidekiq-watch-state"


def create_state_table(name: str = STATE_TABLE) -> str:
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


DELIVERY_TABLE = "sidekiq-watch-deliveries"


def create_delivery_table(name: str = DELIVERY_TABLE) -> str:
    """The Powertools Idempotency table layout: partition key ``id``."""
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
