# Jobs the real Sidekiq process runs in the integration tests (Sidekiq 6.4, 7.3 and 8.1).
require "sidekiq"

# Sidekiq 7+ has no redis-rb and no REDIS_URL default of ours: the URL is set for both sides.
Sidekiq.configure_server { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }

JOB = defined?(Sidekiq::Job) ? Sidekiq::Job : Sidekiq::Worker

class FailingJob
  include JOB
  # A long first retry delay keeps failed jobs in the retry set for the test's duration.
  sidekiq_retry_in { |_count, _exception| 3600 }

  def perform(n)
    raise "integration failure #{n}"
  end
end

class SlowJob
  include JOB
  sidekiq_options retry: false

  def perform(seconds)
    sleep(seconds)
  end
end
