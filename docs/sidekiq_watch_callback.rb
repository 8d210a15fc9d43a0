# A Sidekiq batch callback that POSTs the batch status to sidekiq-watch (what Sidekiq Pro 2's
# notifiers did before 3.0). Sidekiq Pro, and the open-source sidekiq-batch gem (whose status has no
# description and lists failed job ids as plain strings). Ruby 2.7 and later (Sidekiq 7 and 8).
#   batch.on(:complete, SidekiqWatchCallback)
#   batch.on(:success, SidekiqWatchCallback, "notify" => { "email" => { "to" => "team@example.com" } })
#   (a batch's own recipients must match the e-mail channel's allow_recipients in BATCH_CONFIG)
#   batch.on(:death, SidekiqWatchCallback)       # Sidekiq Pro 5+: a job of the batch died
require "json"
require "net/http"

class SidekiqWatchCallback
  class Refused < StandardError; end

  def on_complete(status, options)
    notify(status, "complete", options)
  end

  def on_success(status, options)
    notify(status, "success", options)
  end

  # Sidekiq Pro 5+: batch.on(:death, SidekiqWatchCallback), a job of the batch died.
  def on_death(status, options)
    notify(status, "death", options)
  end

  private

  def notify(status, event, options)
    uri = URI(ENV.fetch("SIDEKIQ_WATCH_URL")) # the stack's BatchNotificationsUrl followed by "batches"
    request = Net::HTTP::Post.new(uri, "Content-Type" => "application/json")
    request.basic_auth(ENV.fetch("SIDEKIQ_WATCH_USERNAME", "sidekiq"), ENV.fetch("SIDEKIQ_WATCH_PASSWORD"))
    request.body = JSON.generate(payload(status, event, options || {}))
    response = Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                                   open_timeout: 5, read_timeout: 30) { |http| http.request(request) }
    code = response.code.to_i
    return if code.between?(200, 299)
    # 4xx but 408/429: the request itself is wrong; a retry cannot fix it, so do not retry forever.
    if code.between?(400, 499) && ![408, 429].include?(code)
      warn("sidekiq-watch refused batch #{status.bid} (HTTP #{code}): #{response.body.to_s[0, 500]}")
      return
    end
    raise Refused, "sidekiq-watch answered HTTP #{code}" # 5xx, 408, 429: Sidekiq retries the callback
  end

  def payload(status, event, options)
    failures = Array(status.failure_info).map do |f|
      next { jid: f.to_s } unless f.respond_to?(:jid) # sidekiq-batch: job ids only
      { jid: f.jid, error_class: f.error_class, error_message: f.error_message, backtrace: f.backtrace }
    end
    {
      bid: status.bid, event: event, total: status.total, failures: status.failures, pending: status.pending,
      created_at: status.created_at, complete: status.complete?,
      description: (status.description if status.respond_to?(:description)),
      failure_info: failures, notify: options["notify"] || options[:notify],
      dead_jobs: (dead_jobs(failures) if event == "death")
    }.compact
  end

  # The batch's failed jobs the Dead set holds, with their class: at most 5, each found by a
  # server-side ZSCAN match on its jid (the set may hold 10,000 jobs).
  def dead_jobs(failures)
    return nil unless defined?(Sidekiq::DeadSet)
    failures.filter_map { |f| f[:jid] }.first(5).filter_map do |jid|
      job = Sidekiq::DeadSet.new.scan(jid).find { |entry| entry.jid == jid }
      next unless job
      { jid: jid, class: job.display_class, error_class: job["error_class"], error_message: job["error_message"] }
    end
  end
end
