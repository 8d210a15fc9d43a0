# A Rack app as a Rails app would mount it: Sidekiq::Web at /sidekiq (and behind HTTP Basic at
# /protected/sidekiq), the common hand-written stats endpoint at /sidekiq_queues, and test-only
# controls to enqueue jobs and clear retries. Runs on Sidekiq 6.4 (rack 2), 7.3 and 8.1 (rack 3).
require "json"
require "rack"
begin
  require "rackup" # rack 3 moved the server handlers to the rackup gem
  SERVER = Rackup::Handler::WEBrick
rescue LoadError
  require "rack/handler/webrick"
  SERVER = Rack::Handler::WEBrick
end
require "sidekiq"
require "sidekiq/api"
require "sidekiq/web"
require_relative "jobs"

begin
  require "rack/session" # Sidekiq::Web needs a session middleware; rack 3 ships it as a separate gem
rescue LoadError
  nil # rack 2 has Rack::Session::Cookie built in
end

Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }

handwritten = lambda do |_env|
  stats = Sidekiq::Stats.new
  body = { enqueued: stats.enqueued, queues: stats.queues, retries: stats.retry_size }
  [200, { "content-type" => "application/json" }, [JSON.generate(body)]]
end

json = ->(body) { [200, { "content-type" => "application/json" }, [JSON.generate(body)]] }

control = lambda do |env|
  req = Rack::Request.new(env)
  case req.path_info
  when "/enqueue"
    count = Integer(req.params.fetch("count", "1"))
    count.times { |i| FailingJob.perform_async(i) }
  when "/clear_retries"
    Sidekiq::RetrySet.new.clear
  when "/clear_all"
    [Sidekiq::RetrySet, Sidekiq::ScheduledSet, Sidekiq::DeadSet].each { |set| set.new.clear }
    Sidekiq::Queue.all.each(&:clear)
  when "/schedule"
    Integer(req.params.fetch("count", "1")).times { |i| FailingJob.perform_in(3600, i) }
  when "/kill"
    Sidekiq::RetrySet.new.first(Integer(req.params.fetch("count", "1"))).each(&:kill)
  when "/dead_max"
    # The dead set's cap (10,000 by default), where each version reads it when it trims.
    cap = Integer(req.params.fetch("count"))
    if Sidekiq.respond_to?(:default_configuration)
      Sidekiq.default_configuration[:dead_max_jobs] = cap # 8.x
      Sidekiq::Config::DEFAULTS[:dead_max_jobs] = cap # 7.x trims by the defaults
    else
      Sidekiq.options[:dead_max_jobs] = cap # 6.x
    end
  when "/park"
    queue = req.params.fetch("queue", "parked")
    Integer(req.params.fetch("count", "1")).times { |i| Sidekiq::Client.push("class" => "FailingJob", "queue" => queue, "args" => [i]) }
  when "/slow"
    SlowJob.perform_async(Float(req.params.fetch("seconds", "5")))
  when "/latency"
    return json.call(latency: Sidekiq::Queue.new(req.params.fetch("queue", "default")).latency)
  when "/truth"
    # What this Sidekiq itself reports, to compare every figure sidekiq-watch reads.
    stats = Sidekiq::Stats.new
    return json.call(
      version: Sidekiq::VERSION, processed: stats.processed, failed: stats.failed,
      busy: Sidekiq::ProcessSet.new.sum { |p| p["busy"].to_i }, processes: stats.processes_size,
      enqueued: stats.enqueued, scheduled: stats.scheduled_size, retries: stats.retry_size,
      dead: stats.dead_size, default_latency: stats.default_queue_latency, queues: stats.queues,
      latencies: Sidekiq::Queue.all.to_h { |q| [q.name, q.latency] }
    )
  else
    return [404, {}, ["unknown control"]]
  end
  [200, { "content-type" => "text/plain" }, ["ok"]]
end

app = Rack::Builder.new do
  # Every version needs a session, 8.1 included (Debian's 8.1.7 answers 500 without one).
  use Rack::Session::Cookie, secret: "x" * 64, same_site: true, max_age: 86400
  map("/sidekiq") { run Sidekiq::Web }
  map("/protected") do
    use Rack::Auth::Basic, "sidekiq" do |user, password|
      user == "watch" && password == "s3cr3t-web"
    end
    map("/sidekiq") { run Sidekiq::Web }
  end
  map("/sidekiq_queues") { run handwritten }
  map("/control") { run control }
end

SERVER.run(app, Host: "127.0.0.1", Port: Integer(ENV.fetch("PORT")),
                AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
