"""sidekiq-watch: a serverless watchdog for Sidekiq."""

import warnings

__version__ = "0.1.0"

# The Lambda artifacts leave out charset_normalizer (about 30 ms of every cold start): sidekiq-watch
# decodes every body itself and never asks requests to guess an encoding, so its absence is harmless.
warnings.filterwarnings("ignore", message="Unable to find acceptable character detection dependency")
