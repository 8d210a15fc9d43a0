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
