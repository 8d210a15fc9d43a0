"""sidekiq-watch: a serverless watchdog for Sidekiq."""

import logging
import warnings

__version__ = "0.1.0"

# The Lambda artifacts leave out charset_normalizer (about 10 ms of every cold start): sidekiq-watch
# decodes every body itself and never asks requests to guess an encoding, so its absence is harmless.
warnings.filterwarnings("ignore", message="Unable to find acceptable character detection dependency")

# At DEBUG these log request lines (a Slack webhook's path is its secret) and response bodies
# (an SSM parameter's decrypted value): never, whatever level the function runs at.
for _name in ("urllib3", "botocore", "requests"):
    _logger = logging.getLogger(_name)
    if _logger.level < logging.INFO:  # NOTSET or DEBUG: its parents could let DEBUG through
        _logger.setLevel(logging.INFO)
