# A Sidekiq batch callback that POSTs the batch status to sidekiq-watch (what Sidekiq Pro's
# built-in webhook notifier did before 3.0). Works with Sidekiq Pro and the sidekiq-batch gem.
#   batch.on(:complete, SidekiqWatchCallback)
#   batch.on(:success, SidekiqWatchCallback)
require "json"
require "net/http"

class SidekiqWatchCallback
  def on_complete(status, _options) = notify(status, "complete")
  def on_success(status, _options) = notify(status, "success")

  private

  def notify(status, event)
    uri = URI(ENV.fetch("SIDEKIQ_WATCH_URL")) # the stack's BatchNotificationsUrl followed by "batches"
    request = Net::HTTP::Post.new(uri, "Content-Type" => "application/json")
    request.basic_auth(ENV.fetch("SIDEKIQ_WATCH_USERNAME", "sidekiq"), ENV.fetch("SIDEKIQ_WATCH_PASSWORD"))
    failures = status.failure_info.map do |f|
      { jid: f.jid, error_class: f.error_class, error_message: f.error_message, backtrace: f.backtrace }
    end
    request.body = JSON.generate(
      bid: status.bid, event: event, total: status.total, failures: status.failures, pending: status.pending,
      created_at: status.created_at, complete: status.complete?, description: status.description,
      failure_info: failures
    )
    response = Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https",
                                                   open_timeout: 5, read_timeout: 30) { |http| http.request(request) }
    response.value # raises unless 2xx, so Sidekiq retries the callback; delivered channels are not repeated
  end
end
