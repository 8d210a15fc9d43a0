# Jobs the real Sidekiq process runs in the integration tests.
require "sidekiq"

class FailingJob
  include Sidekiq::Worker
  # A long first retry delay keeps failed jobs in the retry set for the test's duration.
  sidekiq_retry_in { |_count, _exception| 3600 }

  def perform(n)
    raise "integration failure #{n}"
  end
end

class SlowJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(seconds)
    sleep(seconds)
  end
end
