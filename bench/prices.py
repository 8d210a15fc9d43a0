"""AWS prices the cost benchmark uses: one place, one date. us-east-1, on-demand, no free tier counted.

Checked against the AWS pricing pages on 2026-11-27; change the date when a figure changes.
"""

PRICES_AS_OF = "2026-11-27"
REGION = "us-east-1"

LAMBDA_PER_GB_SECOND_ARM = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625  # on demand
DYNAMODB_PER_MILLION_READ_UNITS = 0.125
CLOUDWATCH_PER_METRIC_MONTH = 0.30  # custom metrics, first 10,000
CLOUDWATCH_PER_ALARM_MONTH = 0.10  # standard resolution
CLOUDWATCH_PER_DASHBOARD_MONTH = 3.00  # beyond an account's first three
LOGS_PER_GB_INGESTED = 0.50
LOGS_PER_GB_MONTH_STORED = 0.03
SECRETS_MANAGER_PER_SECRET_MONTH = 0.40
SECRETS_MANAGER_PER_10K_CALLS = 0.05
SSM_STANDARD_PARAMETER_CALLS = 0.0  # standard throughput
SNS_EMAIL_PER_100K = 2.00  # the first 1,000 a month are free; alarm e-mails stay far below
